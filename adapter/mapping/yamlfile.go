package mapping

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

// readYAML decodes one YAML document of fsys strictly into out (unknown keys and duplicate keys
// are errors) and also returns it as a node tree, for line numbers.
func readYAML(fsys fs.FS, file string, out any) (*yaml.Node, error) {
	raw, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, &LoadError{File: file, Err: err}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, yamlErr(file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, loadErr(file, 0, "empty file")
	}
	if doc.Content[0].Kind != yaml.MappingNode {
		return nil, loadErr(file, doc.Content[0].Line, "want a mapping of keys at the top level")
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return nil, yamlErr(file, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, loadErr(file, more.Line, "more than one YAML document")
	}
	return doc.Content[0], nil
}

var (
	yamlLine       = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknown    = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	yamlCantDecode = regexp.MustCompile(`^cannot unmarshal (\S+)(?: ` + "`" + `.*` + "`" + `)? into (\S+)$`)
)

// parserProblems are the yaml.v3 parser errors, whose line numbers count from 0.
var parserProblems = map[string]bool{
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
}

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
	if parserProblems[msg] {
		line++ // yaml.v3 reports parser (not scanner) errors with 0-based lines
	}
	if u := yamlUnknown.FindStringSubmatch(msg); u != nil {
		msg = fmt.Sprintf("unknown key %q", u[1])
	} else if c := yamlCantDecode.FindStringSubmatch(msg); c != nil {
		msg = fmt.Sprintf("wrong kind of value: %s where %s is expected", yamlKind(c[1]), goKind(c[2]))
	}
	if len(msgs) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(msgs)-1)
	}
	return &LoadError{File: file, Line: line, Err: errors.New(msg)}
}

func yamlKind(tag string) string {
	switch tag {
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	default:
		return strings.TrimPrefix(tag, "!!")
	}
}

func goKind(t string) string {
	switch {
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	default:
		return "a mapping"
	}
}

// scalar converts a YAML scalar (a const or default in a mapping file) into the value a
// dossier or request would hold: !!str → string, !!int → integer, !!bool → bool.
// Floats, nulls and collections are refused: money has no fractions.
func scalar(n *yaml.Node, integer func(string) any) (any, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, errors.New("want a single value, not a list or mapping")
	}
	switch n.ShortTag() {
	case "!!str":
		return n.Value, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, err
		}
		return b, nil
	case "!!int":
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil || strconv.FormatInt(i, 10) != n.Value {
			return nil, fmt.Errorf("integer %q must be written in plain decimal", n.Value)
		}
		return integer(n.Value), nil
	default:
		return nil, fmt.Errorf("value %q: only strings, integers and booleans are allowed (quote it to make a string)", n.Value)
	}
}
