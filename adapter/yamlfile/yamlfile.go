// Package yamlfile owns how the adapter reads its YAML data files (the
// mappings, code and status tables): strictly (unknown and duplicate keys
// are mistakes, one document per file, a mapping at the top), and with every
// mistake reported as file:line with one wording, whichever file it is in.
package yamlfile

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

// Error is a mistake in a data file. It names the file as the operator sees
// it (e.g. "mappings/chi-thuong-xuyen/mapping.yaml") and, when known, the line.
type Error struct {
	File string // the path shown, under its folder: Root + "/" + the path read
	Line int    // 1-based; 0 when the mistake is about the whole file
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Root is the folder a set of data files is read from, as it is named in
// error messages ("mappings").
type Root string

// Errorf returns a mistake at line of file (a path under r).
func (r Root) Errorf(file string, line int, format string, args ...any) *Error {
	return &Error{File: r.path(file), Line: line, Err: fmt.Errorf(format, args...)}
}

// Wrap returns err as a mistake at line of file (a path under r).
func (r Root) Wrap(file string, line int, err error) *Error {
	return &Error{File: r.path(file), Line: line, Err: err}
}

func (r Root) path(file string) string {
	if r == "" {
		return file
	}
	return string(r) + "/" + file
}

// Read decodes the one YAML document of file (a path in fsys, shown under r)
// strictly into out, and returns its top-level mapping node for the line
// numbers of what out holds.
func (r Root) Read(fsys fs.FS, file string, out any) (*yaml.Node, error) {
	raw, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, r.Wrap(file, 0, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, r.yamlErr(file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, r.Errorf(file, 0, "empty file")
	}
	if doc.Content[0].Kind != yaml.MappingNode {
		return nil, r.Errorf(file, doc.Content[0].Line, "want a mapping of keys at the top level")
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return nil, r.yamlErr(file, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, r.Errorf(file, more.Line, "more than one YAML document")
	}
	return doc.Content[0], nil
}

// LineOf returns the line of key in a mapping node, or def.
func LineOf(mapping *yaml.Node, key string, def int) int {
	for i := 0; i+1 < len(mapping.Content); i += 2 {
		if mapping.Content[i].Value == key {
			return mapping.Content[i].Line
		}
	}
	return def
}

var (
	yamlLine       = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknown    = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	yamlCantDecode = regexp.MustCompile(`^cannot unmarshal (\S+)(?: ` + "`" + `.*` + "`" + `)? into (\S+)$`)
)

// yamlErr rewrites a yaml.v3 error as an Error with the line it names,
// reporting the first problem in the file.
func (r Root) yamlErr(file string, err error) *Error {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msgs = te.Errors
	}
	m := yamlLine.FindStringSubmatch(msgs[0])
	if m == nil {
		return r.Wrap(file, 0, err)
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	if strings.HasPrefix(msg, "did not find expected") || strings.HasPrefix(msg, "found undefined") {
		line++ // yaml.v3 reports parser (not scanner) errors with 0-based lines
	}
	if u := yamlUnknown.FindStringSubmatch(msg); u != nil {
		msg = fmt.Sprintf("unknown key %q", u[1])
	} else if c := yamlCantDecode.FindStringSubmatch(msg); c != nil {
		msg = fmt.Sprintf("wrong kind of value: %s where %s is expected", yamlKind(c[1]), goKind(c[2]))
	}
	if extra := len(msgs) - 1; extra > 0 {
		msg += fmt.Sprintf(" (and %d more)", extra)
	}
	return r.Wrap(file, line, errors.New(msg))
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
