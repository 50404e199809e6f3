package statusmap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fileYAML is the shape of mappings/<procedure>/status.yaml.
type fileYAML struct {
	Procedure    string               `yaml:"procedure"`
	Description  string               `yaml:"description"`
	Statuses     map[string]yaml.Node `yaml:"statuses"`
	NotDelivered []notDeliveredYAML   `yaml:"notDelivered"`
}

// notDeliveredYAML names a treasury status that is never delivered for the procedure, and why.
type notDeliveredYAML struct {
	Status string `yaml:"status"`
	Reason string `yaml:"reason"`
}

func parse(fsys fs.FS, file, procedure string, statuses []string) (*Map, error) {
	raw, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, &LoadError{File: file, Err: err}
	}
	// Strict decoding first (unknown and duplicate keys, wrong kinds of value), then the node
	// tree for the line of each entry.
	var f fileYAML
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, loadErr(file, 0, "empty file")
		}
		return nil, yamlErr(file, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, loadErr(file, more.Line, "more than one YAML document")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, yamlErr(file, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, loadErr(file, doc.Line, "want a mapping of keys at the top level")
	}
	top := doc.Content[0]
	if f.Procedure != procedure {
		return nil, loadErr(file, lineOf(top, "procedure", top.Line), "procedure: is %q, want %q (the folder name)", f.Procedure, procedure)
	}
	m := &Map{procedure: procedure, national: map[string]int{}, notDelivered: map[string]string{}}
	known := make(map[string]bool, len(statuses))
	for _, s := range statuses {
		known[s] = true
	}
	if err := m.readStatuses(file, top, known); err != nil {
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
		return nil, loadErr(file, top.Line, "treasury status %s neither mapped under statuses nor listed under notDelivered",
			strings.Join(missing, ", "))
	}
	return m, nil
}

// readStatuses reads the statuses: mapping from the node tree, which still has the lines.
func (m *Map) readStatuses(file string, top *yaml.Node, known map[string]bool) error {
	n := valueOf(top, "statuses")
	if n == nil || n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		return loadErr(file, lineOf(top, "statuses", top.Line), "statuses: want a mapping of treasury status to national code, with at least one entry")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !known[k.Value] {
			return loadErr(file, k.Line, "unknown treasury status %q", k.Value)
		}
		code, err := strconv.Atoi(v.Value)
		if err != nil || v.ShortTag() != "!!int" || strconv.Itoa(code) != v.Value {
			return loadErr(file, v.Line, "%s: national code %q must be a plain integer", k.Value, v.Value)
		}
		if code < MinCode || code > MaxCode {
			return loadErr(file, v.Line, "%s: national code %d outside %d..%d", k.Value, code, MinCode, MaxCode)
		}
		m.national[k.Value] = code
	}
	return nil
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
		if _, ok := m.national[it.Status]; ok {
			return loadErr(file, line, "notDelivered: %s is also mapped under statuses", it.Status)
		}
		if _, ok := m.notDelivered[it.Status]; ok {
			return loadErr(file, line, "notDelivered: %s listed twice", it.Status)
		}
		m.notDelivered[it.Status] = it.Reason
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

// lineOf returns the line of key in a mapping node, or def.
func lineOf(mapping *yaml.Node, key string, def int) int {
	for i := 0; i+1 < len(mapping.Content); i += 2 {
		if mapping.Content[i].Value == key {
			return mapping.Content[i].Line
		}
	}
	return def
}

var (
	yamlLine    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknown = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
)

// yamlErr rewrites a yaml.v3 error as a LoadError with the line it names, reporting the first
// problem in the file.
func yamlErr(file string, err error) *LoadError {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msgs = te.Errors
	}
	m := yamlLine.FindStringSubmatch(msgs[0])
	if m == nil {
		return &LoadError{File: file, Err: err}
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	if strings.HasPrefix(msg, "did not find expected") || strings.HasPrefix(msg, "found undefined") {
		line++ // yaml.v3 reports parser (not scanner) errors with 0-based lines
	}
	if u := yamlUnknown.FindStringSubmatch(msg); u != nil {
		msg = fmt.Sprintf("unknown key %q", u[1])
	}
	if extra := len(msgs) - 1; extra > 0 {
		msg += fmt.Sprintf(" (and %d more)", extra)
	}
	return &LoadError{File: file, Line: line, Err: errors.New(msg)}
}
