package statusmap

import (
	"github.com/kbnn/dvc/adapter/yamlfile"
	"io/fs"
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
	var f fileYAML
	top, err := root.Read(fsys, file, &f)
	if err != nil {
		return nil, err
	}
	if f.Procedure != procedure {
		return nil, loadErr(file, yamlfile.LineOf(top, "procedure", top.Line), "procedure: is %q, want %q (the folder name)", f.Procedure, procedure)
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
		return loadErr(file, yamlfile.LineOf(top, "statuses", top.Line), "statuses: want a mapping of treasury status to national code, with at least one entry")
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
