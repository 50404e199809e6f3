package statusmap

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kbnn/dvc/adapter/yamlfile"
)

// fileYAML is the shape of mappings/<procedure>/status.yaml. The codes stay nodes so that
// every mistake can be reported with its line and without a conversion of the decoder's.
type fileYAML struct {
	Procedure    string                `yaml:"procedure"`
	Description  string                `yaml:"description"`
	Statuses     map[string][]ruleYAML `yaml:"statuses"`
	Final        yaml.Node             `yaml:"final"`
	NotDelivered []notDeliveredYAML    `yaml:"notDelivered"`
}

// ruleYAML is one rule of a treasury status: {from: [codes], to: code, refusal: bool}.
type ruleYAML struct {
	From    yaml.Node `yaml:"from"`
	To      yaml.Node `yaml:"to"`
	Refusal bool      `yaml:"refusal"`
}

// notDeliveredYAML names a treasury status that is never delivered for the procedure, and why.
type notDeliveredYAML struct {
	Status string `yaml:"status"`
	Reason string `yaml:"reason"`
}

func parse(fsys fs.FS, file, procedure string, statuses []string) (*Map, error) {
	var f fileYAML
	top, err := root.Read(fsys, file, &f)
	if err != nil {
		return nil, err
	}
	if f.Procedure != procedure {
		return nil, loadErr(file, yamlfile.LineOf(top, "procedure", top.Line), "procedure: is %q, want %q (the folder name)", f.Procedure, procedure)
	}
	m := &Map{procedure: procedure, file: string(root) + "/" + file, rules: map[string][]rule{},
		final: map[int]bool{}, notDelivered: map[string]string{}}
	known := make(map[string]bool, len(statuses))
	for _, s := range statuses {
		known[s] = true
	}
	if err := m.readStatuses(file, top, known); err != nil {
		return nil, err
	}
	finalLines, err := m.readFinal(file, top, &f.Final)
	if err != nil {
		return nil, err
	}
	if err := m.readNotDelivered(file, top, f.NotDelivered, known); err != nil {
		return nil, err
	}
	var missing []string
	for _, s := range statuses {
		if !m.Known(s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return nil, loadErr(file, top.Line, "treasury status %s neither has rules under statuses nor is listed under notDelivered",
			strings.Join(missing, ", "))
	}
	if err := m.checkLifecycle(file, top, finalLines); err != nil {
		return nil, err
	}
	return m, nil
}

// readStatuses reads the statuses: mapping from the node tree, which has the lines and the
// order of the file.
func (m *Map) readStatuses(file string, top *yaml.Node, known map[string]bool) error {
	n := valueOf(top, "statuses")
	if n == nil || n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		return loadErr(file, yamlfile.LineOf(top, "statuses", top.Line),
			"statuses: want a mapping of treasury status to its rules, with at least one entry")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !known[k.Value] {
			return loadErr(file, k.Line, "unknown treasury status %q", k.Value)
		}
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			return loadErr(file, k.Line, "%s: no rules; list a status that moves no dossier under notDelivered", k.Value)
		}
		for _, item := range v.Content {
			r, err := readRule(file, k.Value, item)
			if err != nil {
				return err
			}
			for _, prev := range m.rules[k.Value] {
				for _, c := range r.from {
					if slices.Contains(prev.from, c) {
						return loadErr(file, r.line, "%s: from %d is also in the rule at line %d: one status, one move from each code",
							k.Value, c, prev.line)
					}
				}
			}
			m.rules[k.Value] = append(m.rules[k.Value], r)
		}
	}
	return nil
}

// readRule reads one {from, to, refusal} rule of status. The whole file was decoded strictly
// before, so unknown keys and wrong kinds of value are already reported.
func readRule(file, status string, item *yaml.Node) (rule, error) {
	var y ruleYAML
	if err := item.Decode(&y); err != nil {
		return rule{}, root.Wrap(file, item.Line, err)
	}
	r := rule{line: item.Line, refusal: y.Refusal}
	if y.From.Kind != yaml.SequenceNode || len(y.From.Content) == 0 {
		return rule{}, loadErr(file, item.Line, "%s: from: want a list of national codes, with at least one", status)
	}
	for _, c := range y.From.Content {
		code, err := readCode(file, c, status+": from")
		if err != nil {
			return rule{}, err
		}
		if slices.Contains(r.from, code) {
			return rule{}, loadErr(file, c.Line, "%s: from: %d listed twice", status, code)
		}
		r.from = append(r.from, code)
	}
	if y.To.Kind == 0 {
		return rule{}, loadErr(file, item.Line, "%s: to: missing", status)
	}
	to, err := readCode(file, &y.To, status+": to")
	if err != nil {
		return rule{}, err
	}
	if slices.Contains(r.from, to) {
		return rule{}, loadErr(file, item.Line, "%s: moves a dossier from %d to %d, where it already is", status, to, to)
	}
	r.to = to
	return r, nil
}

// readFinal reads final: the list of final codes. It returns each code's line.
func (m *Map) readFinal(file string, top, n *yaml.Node) (map[int]int, error) {
	line := yamlfile.LineOf(top, "final", top.Line)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, loadErr(file, line, "final: want the list of final national codes, with at least one")
	}
	lines := map[int]int{}
	for _, c := range n.Content {
		code, err := readCode(file, c, "final")
		if err != nil {
			return nil, err
		}
		if m.final[code] {
			return nil, loadErr(file, c.Line, "final: %d listed twice", code)
		}
		m.final[code], lines[code] = true, c.Line
	}
	return lines, nil
}

// readCode reads a national code written as a plain integer from 1 to 10.
func readCode(file string, n *yaml.Node, what string) (int, error) {
	code, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || n.ShortTag() != "!!int" || strconv.Itoa(code) != n.Value {
		return 0, loadErr(file, n.Line, "%s: national code %q must be a plain integer", what, n.Value)
	}
	if code < MinCode || code > MaxCode {
		return 0, loadErr(file, n.Line, "%s: national code %d outside %d..%d", what, code, MinCode, MaxCode)
	}
	return code, nil
}

// readNotDelivered reads the notDelivered: list, decoded strictly into items.
func (m *Map) readNotDelivered(file string, top *yaml.Node, items []notDeliveredYAML, known map[string]bool) error {
	n := valueOf(top, "notDelivered")
	for i, it := range items {
		line := top.Line
		if n != nil && i < len(n.Content) {
			line = n.Content[i].Line
		}
		switch {
		case !known[it.Status]:
			return loadErr(file, line, "notDelivered: unknown treasury status %q", it.Status)
		case strings.TrimSpace(it.Reason) == "":
			return loadErr(file, line, "notDelivered: %s has no reason", it.Status)
		}
		if _, ok := m.rules[it.Status]; ok {
			return loadErr(file, line, "notDelivered: %s also has rules under statuses", it.Status)
		}
		if _, ok := m.notDelivered[it.Status]; ok {
			return loadErr(file, line, "notDelivered: %s listed twice", it.Status)
		}
		m.notDelivered[it.Status] = it.Reason
	}
	return nil
}

// checkLifecycle refuses a table that cannot describe a dossier's life: a rule that leaves a
// final status, a final code no rule leads to, a code a rule moves from that no chain of
// rules from CodeRegistered reaches, and a reachable code, not final, from which no final
// code can be reached. The rules are visited in the order of the file, so the first mistake
// reported is the first one a reader meets.
func (m *Map) checkLifecycle(file string, top *yaml.Node, finalLines map[int]int) error {
	type ruleOf struct {
		status string
		rule
	}
	var all []ruleOf
	if n := valueOf(top, "statuses"); n != nil {
		for i := 0; i < len(n.Content); i += 2 {
			st := n.Content[i].Value
			for _, r := range m.rules[st] {
				all = append(all, ruleOf{st, r})
			}
		}
	}
	reachedBy := map[int]int{} // code → line of the first rule leading to it
	for _, r := range all {
		for _, c := range r.from {
			if m.final[c] {
				return loadErr(file, r.line, "%s: moves a dossier from %d, a final status: nothing leaves a final status", r.status, c)
			}
		}
		if _, ok := reachedBy[r.to]; !ok {
			reachedBy[r.to] = r.line
		}
	}
	finals := make([]int, 0, len(m.final))
	for c := range m.final {
		finals = append(finals, c)
	}
	slices.SortFunc(finals, func(a, b int) int { return finalLines[a] - finalLines[b] })
	for _, c := range finals {
		if _, ok := reachedBy[c]; !ok {
			return loadErr(file, finalLines[c], "final: no rule leads to %d", c)
		}
	}

	// Forward from CodeRegistered: the codes a dossier can be at.
	reachable := map[int]bool{CodeRegistered: true}
	for grown := true; grown; {
		grown = false
		for _, r := range all {
			if !reachable[r.to] && slices.ContainsFunc(r.from, func(c int) bool { return reachable[c] }) {
				reachable[r.to], grown = true, true
			}
		}
	}
	for _, r := range all {
		for _, c := range r.from {
			if !reachable[c] {
				return loadErr(file, r.line, "%s: moves a dossier from %d, which no chain of rules from %d reaches",
					r.status, c, CodeRegistered)
			}
		}
	}

	// Backward from the final codes: the codes from which a final one can be reached.
	finishes := map[int]bool{}
	for c := range m.final {
		finishes[c] = true
	}
	for grown := true; grown; {
		grown = false
		for _, r := range all {
			if !finishes[r.to] {
				continue
			}
			for _, c := range r.from {
				if !finishes[c] {
					finishes[c], grown = true, true
				}
			}
		}
	}
	codes := make([]int, 0, len(reachable))
	for c := range reachable {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		if finishes[c] {
			continue
		}
		line, ok := reachedBy[c]
		if !ok {
			line = yamlfile.LineOf(top, "statuses", top.Line)
		}
		return loadErr(file, line, "no final status can be reached from %d: a dossier there would never end", c)
	}
	return nil
}

// valueOf returns the value node of key in a mapping node, or nil.
func valueOf(mapping *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(mapping.Content); i += 2 {
		if mapping.Content[i].Value == key {
			return mapping.Content[i+1]
		}
	}
	return nil
}

// String writes a transition as "REJECTED: 4 → 8 (refusal, final)".
func (t Transition) String() string {
	var flags []string
	if t.Refusal {
		flags = append(flags, "refusal")
	}
	if t.Final {
		flags = append(flags, "final")
	}
	s := fmt.Sprintf("%s: %d → %d", t.Status, t.From, t.To)
	if len(flags) > 0 {
		s += " (" + strings.Join(flags, ", ") + ")"
	}
	return s
}
