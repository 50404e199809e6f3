// Package statusmap owns the translation of treasury statuses into national dossier status
// codes (TrangThaiHoSo 1..10) and the rule that decides whether a new code may be delivered to
// the portal as a dossier's current status. The translation is data,
// mappings/<procedure>/status.yaml (format in mappings/README.md), loaded strictly by Load; the
// rule is the pure function Advances.
package statusmap

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kbnn/dvc/adapter/yamlfile"
	"io/fs"
	"regexp"
	"strings"
)

// National dossier status codes (TrangThaiHoSo) that the forward-only rule treats specially.
const (
	// CodeUnknown is the current code of a dossier whose status the portal has not been told.
	CodeUnknown = 0
	// CodeInProgress is "Đang xử lý".
	CodeInProgress = 4
	// CodeCorrectionRequested is "Yêu cầu bổ sung giấy tờ".
	CodeCorrectionRequested = 5
	// MinCode and MaxCode bound the national codes.
	MinCode = 1
	MaxCode = 10
)

// Advances reports whether next may be delivered as the current status of a dossier whose
// current status is current: when next is greater, or when the dossier waited for a correction
// (5) and is in progress again (4). Every valid code advances from CodeUnknown (0). A next code
// outside 1..10, or a current code outside 0..10, never advances.
//
// An event that does not advance is still recorded in the dossier's history; it is just not
// delivered as the current status.
func Advances(current, next int) bool {
	if next < MinCode || next > MaxCode || current < CodeUnknown || current > MaxCode {
		return false
	}
	return next > current || current == CodeCorrectionRequested && next == CodeInProgress
}

// Map is the status table of one procedure. It is read-only after Load and safe for
// concurrent use.
type Map struct {
	procedure    string
	national     map[string]int
	notDelivered map[string]string // status → reason
}

// Procedure returns the procedure id the map belongs to.
func (m *Map) Procedure() string { return m.procedure }

// National returns the national status code of a treasury status. ok is false when the
// status is listed as not delivered for this procedure, or is not in the map at all (see
// Known).
func (m *Map) National(treasuryStatus string) (code int, ok bool) {
	code, ok = m.national[treasuryStatus]
	return code, ok
}

// Known reports whether the status is in the map, either mapped to a code or listed as not
// delivered. Load guarantees that every status of the event schema is known.
func (m *Map) Known(treasuryStatus string) bool {
	_, mapped := m.national[treasuryStatus]
	_, skipped := m.notDelivered[treasuryStatus]
	return mapped || skipped
}

// NotDelivered returns the reason written in status.yaml why the status is never delivered
// for this procedure, and whether it is listed so.
func (m *Map) NotDelivered(treasuryStatus string) (reason string, ok bool) {
	reason, ok = m.notDelivered[treasuryStatus]
	return reason, ok
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
// event schema; see SchemaStatuses). Unknown keys, a status not in statuses, a code outside
// 1..10 or not written as a plain integer, a status listed twice, a status listed as not
// delivered without a reason, and a status of statuses that the file does not mention are
// all errors (*LoadError with file and line).
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
