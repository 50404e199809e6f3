// Package statusmap owns each procedure's dossier lifecycle as the portal sees it: which
// treasury status may move a dossier from which national status (TrangThaiHoSo 1..10) to
// which, which national statuses are final, and which treasury statuses the procedure never
// reports. The lifecycle is data, mappings/<procedure>/status.yaml (format in
// mappings/README.md), loaded strictly by Load, which refuses a table with a state no rule
// reaches, contradictory rules, or a state from which no final state can be reached. The
// decision for one event is the pure function Map.Next.
package statusmap

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	"github.com/kbnn/dvc/adapter/yamlfile"
)

// National dossier status codes (TrangThaiHoSo) the lifecycle treats specially.
const (
	// CodeUnknown is the current code of a dossier whose status the portal has not been
	// told and that the adapter did not register; Next reads it as CodeRegistered.
	CodeUnknown = 0
	// CodeRegistered is "Mới đăng ký", the adapter's own status for a dossier the treasury
	// took: every lifecycle starts there.
	CodeRegistered = 1
	// CodeCorrectionRequested is "Yêu cầu bổ sung giấy tờ": the treasury waits for the unit
	// to resubmit the dossier (a new supplement).
	CodeCorrectionRequested = 5
	// MinCode and MaxCode bound the national codes.
	MinCode = 1
	MaxCode = 10
)

// Transition is one allowed move of a dossier, as a rule of status.yaml gives it.
type Transition struct {
	Status string // the treasury status that makes the move
	From   int    // the dossier's national code before the move (CodeRegistered for CodeUnknown)
	To     int    // the national code after it
	// Refusal marks a refusal by the treasury (at intake or after control): the event's note
	// is the treasury's reason, which the portal shows as the result (ThongTinTra).
	Refusal bool
	// Final reports that To is a final status: nothing moves the dossier again.
	Final bool
	// Line is the rule's line in status.yaml, for messages that explain a decision.
	Line int
}

// rule is one line of a treasury status's rules: the codes it moves a dossier from.
type rule struct {
	from    []int
	to      int
	refusal bool
	line    int
}

// Map is the lifecycle of one procedure. It is read-only after Load and safe for
// concurrent use.
type Map struct {
	procedure    string
	file         string // the path shown in messages, e.g. mappings/tai-khoan/status.yaml
	rules        map[string][]rule
	final        map[int]bool
	notDelivered map[string]string // status → reason
}

// Procedure returns the procedure id the map belongs to.
func (m *Map) Procedure() string { return m.procedure }

// File returns the status file the map was read from, as messages name it.
func (m *Map) File() string { return m.file }

// Next returns the move a treasury status makes from a dossier's current national code, and
// false when the lifecycle does not allow it: the status has no rule from current (current
// final included, since no rule leaves a final status), the procedure never reports the
// status (NotDelivered), or current is outside 0..10. CodeUnknown counts as CodeRegistered.
func (m *Map) Next(current int, treasuryStatus string) (Transition, bool) {
	if current == CodeUnknown {
		current = CodeRegistered
	}
	if current < MinCode || current > MaxCode {
		return Transition{}, false
	}
	for _, r := range m.rules[treasuryStatus] {
		for _, f := range r.from {
			if f == current {
				return Transition{Status: treasuryStatus, From: current, To: r.to, Refusal: r.refusal,
					Final: m.final[r.to], Line: r.line}, true
			}
		}
	}
	return Transition{}, false
}

// Final reports whether a national code is final for this procedure.
func (m *Map) Final(code int) bool { return m.final[code] }

// Nominal returns the code of a treasury status's first rule: what a status usually means,
// shown for an event before the dossier's status at delivery decides. ok is false for a
// status the procedure never reports or does not know.
func (m *Map) Nominal(treasuryStatus string) (code int, ok bool) {
	rs := m.rules[treasuryStatus]
	if len(rs) == 0 {
		return 0, false
	}
	return rs[0].to, true
}

// Rules returns the moves a treasury status makes, one per code it moves a dossier from, in
// the order of the file.
func (m *Map) Rules(treasuryStatus string) []Transition {
	var out []Transition
	for _, r := range m.rules[treasuryStatus] {
		for _, f := range r.from {
			out = append(out, Transition{Status: treasuryStatus, From: f, To: r.to, Refusal: r.refusal,
				Final: m.final[r.to], Line: r.line})
		}
	}
	return out
}

// Known reports whether the status is in the map, either with rules or listed as not
// delivered. Load guarantees that every status of the event schema is known.
func (m *Map) Known(treasuryStatus string) bool {
	_, moves := m.rules[treasuryStatus]
	_, skipped := m.notDelivered[treasuryStatus]
	return moves || skipped
}

// NotDelivered returns the reason written in status.yaml why the status is never delivered
// for this procedure, and whether it is listed so.
func (m *Map) NotDelivered(treasuryStatus string) (reason string, ok bool) {
	reason, ok = m.notDelivered[treasuryStatus]
	return reason, ok
}

// Why explains, in one sentence for the dossier's history, why a treasury status does not
// move a dossier at code current.
func (m *Map) Why(current int, treasuryStatus string) string {
	if current == CodeUnknown {
		current = CodeRegistered
	}
	if reason, ok := m.notDelivered[treasuryStatus]; ok {
		return fmt.Sprintf("%s is not reported for %s: %s", treasuryStatus, m.procedure, reason)
	}
	if _, ok := m.rules[treasuryStatus]; !ok {
		return fmt.Sprintf("%s is not in %s", treasuryStatus, m.file)
	}
	if m.final[current] {
		return fmt.Sprintf("%s does not move a dossier at %d, a final status (%s)", treasuryStatus, current, m.file)
	}
	var from []string
	for _, t := range m.Rules(treasuryStatus) {
		from = append(from, fmt.Sprint(t.From))
	}
	return fmt.Sprintf("%s moves a dossier only from %s, not from %d (%s)", treasuryStatus, strings.Join(from, ", "), current, m.file)
}

// LoadError is a mistake in a status.yaml file, found by Load. It names the file (as a path
// under mappings/) and, when known, the line.
type LoadError = yamlfile.Error

// root names the status files in errors.
const root yamlfile.Root = "mappings"

func loadErr(file string, line int, format string, args ...any) *LoadError {
	return root.Errorf(file, line, format, args...)
}

var procedurePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,63}$`)

// Load reads <procedure>/status.yaml from fsys (the mappings folder, e.g. mappings.FS) and
// checks it against statuses, the complete list of treasury statuses (the enum of the status
// event schema; see SchemaStatuses). Besides the mistakes of form (unknown keys, a status not
// in statuses, a code outside 1..10 or not a plain integer, a status listed twice or both with
// rules and as not delivered, a status listed as not delivered without a reason, a status of
// statuses the file does not mention), Load refuses a lifecycle that cannot be right:
//
//   - unreachable: a code a rule moves a dossier from that no chain of rules starting at 1
//     leads to;
//   - contradictory: two rules of one treasury status from the same code, a rule that moves a
//     dossier from a final status or to the status it is at, a final code no rule leads to;
//   - stuck: a status that rules lead to, not final, from which no final status can be
//     reached.
//
// Every error is a *LoadError with file and line.
func Load(fsys fs.FS, procedure string, statuses []string) (*Map, error) {
	if !procedurePattern.MatchString(procedure) {
		return nil, fmt.Errorf("statusmap: bad procedure id %q", procedure)
	}
	if len(statuses) == 0 {
		return nil, errors.New("statusmap: no treasury statuses to check against")
	}
	return parse(fsys, procedure+"/status.yaml", procedure, statuses)
}

// SchemaStatuses returns the treasury statuses the status event schema allows: the enum of
// its "status" property, following a local "#/$defs/…" reference.
func SchemaStatuses(schemaJSON []byte) ([]string, error) {
	type node struct {
		Ref        string          `json:"$ref"`
		Enum       []string        `json:"enum"`
		Properties map[string]node `json:"properties"`
		Defs       map[string]node `json:"$defs"`
	}
	var root node
	if err := json.Unmarshal(schemaJSON, &root); err != nil {
		return nil, fmt.Errorf("statusmap: status event schema: %w", err)
	}
	st, ok := root.Properties["status"]
	if !ok {
		return nil, errors.New("statusmap: status event schema has no status property")
	}
	if st.Ref != "" {
		name, ok := strings.CutPrefix(st.Ref, "#/$defs/")
		if !ok {
			return nil, fmt.Errorf("statusmap: status event schema: status $ref %q is not local", st.Ref)
		}
		st = root.Defs[name]
	}
	if len(st.Enum) == 0 {
		return nil, errors.New("statusmap: status event schema: status has no enum")
	}
	return st.Enum, nil
}

// TreasuryWithdrawn is the treasury's status of a document it withdrew at the unit's request
// (schemas/treasury/status-event.schema.json, document-status.schema.json).
const TreasuryWithdrawn = "WITHDRAWN"

// Later reports whether a treasury status that does not move a dossier from current could
// move it after some other statuses have: whether a code its rules start from is reachable
// from current by the lifecycle's moves. An event that arrives before its predecessors is
// worth waiting for only then.
func (m *Map) Later(current int, treasuryStatus string) bool {
	if current == CodeUnknown {
		current = CodeRegistered
	}
	starts := map[int]bool{}
	for _, r := range m.rules[treasuryStatus] {
		for _, f := range r.from {
			starts[f] = true
		}
	}
	seen := map[int]bool{current: true}
	queue := []int{current}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		for _, rs := range m.rules {
			for _, r := range rs {
				if seen[r.to] || !slices.Contains(r.from, c) {
					continue
				}
				if starts[r.to] {
					return true
				}
				seen[r.to] = true
				queue = append(queue, r.to)
			}
		}
	}
	return false
}
