// Package schema owns a procedure's definition (schemas/<procedure>/
// dossier.schema.json), and the withdrawal request's (schemas/withdrawal/
// withdrawal.schema.json), and what they decide: how the XML form maps onto
// the same value as the JSON form, and whether a document is valid. Both forms
// become one generic value (map[string]any, []any, string, json.Number:
// integers are never floats) checked by one compiled schema.
package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/kbnn/dvc/adapter/problem"
)

// Definition is one compiled definition: a procedure's dossier, or the
// withdrawal request.
type Definition struct {
	// Procedure is the folder the definition was loaded from: the
	// procedure id for a dossier, "withdrawal" for the withdrawal request.
	Procedure string
	Raw       []byte
	// Root is the root element of the document's XML form.
	Root      string
	validator *Validator
	shape     *shape
	forms     *formCheck // per-form parts of each document; nil when the folder has no forms.yaml
}

// Form is a kind of signed document the adapter reads: the file of its
// definition inside a folder of the schemas tree, and the root element of its
// XML form (the generated XSD declares the same root).
type Form struct {
	File string // e.g. "dossier.schema.json"
	Root string // e.g. "HoSo"
}

// The forms. A folder of the schemas tree holds the definition of one or
// more of them; each definition has its XSD beside it, with the same stem.
var (
	// Dossier is a procedure's dossier: schemas/<procedure>/dossier.schema.json.
	Dossier = Form{File: "dossier.schema.json", Root: RootElement}
	// Withdrawal is a unit's request to withdraw a dossier, one definition
	// for every procedure: schemas/withdrawal/withdrawal.schema.json.
	Withdrawal = Form{File: "withdrawal.schema.json", Root: WithdrawalRootElement}
)

// Forms lists every form, dossier first.
var Forms = []Form{Dossier, Withdrawal}

// WithdrawalFolder is the folder of the withdrawal request's definition.
const WithdrawalFolder = "withdrawal"

// XSDFile is the name of the XSD generated from the form's definition.
func (f Form) XSDFile() string {
	return strings.TrimSuffix(f.File, ".schema.json") + ".xsd"
}

// SchemaPath is where a procedure's definition lives inside the schemas tree.
func SchemaPath(procedure string) string { return procedure + "/" + Dossier.File }

// Load compiles the definition of procedure from fsys (the schemas tree).
func Load(fsys fs.FS, procedure string) (*Definition, error) {
	return LoadForm(fsys, procedure, Dossier)
}

// LoadForm compiles the definition of form held in folder dir of fsys (the
// schemas tree).
func LoadForm(fsys fs.FS, dir string, form Form) (*Definition, error) {
	name := dir + "/" + form.File
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("document: %w", err)
	}
	sch, err := Compile(raw, "schemas/"+name)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("document: %s: %w", name, err)
	}
	sh, err := buildShape(doc, doc, "#")
	if err != nil {
		return nil, fmt.Errorf("document: schemas/%s: %w", name, err)
	}
	var forms *formCheck
	if form == Dossier {
		if forms, err = loadForms(fsys, dir, doc); err != nil {
			return nil, err
		}
	}
	return &Definition{Procedure: dir, Raw: raw, Root: form.Root, validator: NewValidator(sch), shape: sh, forms: forms}, nil
}

// Compile compiles a JSON Schema document with format assertions on.
func Compile(raw []byte, name string) (*jsonschema.Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("document: %s: %w", name, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	url := "file:///" + name
	if err := c.AddResource(url, v); err != nil {
		return nil, fmt.Errorf("document: %s: %w", name, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("document: %s: %w", name, err)
	}
	return s, nil
}

// Validate checks v against the definition, then each document against the parts its form
// requires and forbids (forms.yaml). A violation is a *problem.Error of kind SchemaViolation
// listing every failing field.
func (d *Definition) Validate(v any) error {
	if err := ValidateWith(d.validator, v); err != nil || d.forms == nil {
		return err
	}
	if fields := d.forms.check(v); len(fields) > 0 {
		return violation(fields, errors.New("document parts do not match their forms"))
	}
	return nil
}

var printer = message.NewPrinter(language.English)

// ValidateWith checks v against s and lists every failing field.
func ValidateWith(s *Validator, v any) error {
	err := s.Validate(v)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return problem.Wrap(problem.Internal, err, "")
	}
	var fields []problem.FieldError
	collect(ve, &fields)
	return violation(fields, err)
}

func violation(fields []problem.FieldError, cause error) error {
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].Path < fields[j].Path })
	// one entry per path and message
	out := fields[:0]
	for i, f := range fields {
		if i > 0 && f == fields[i-1] {
			continue
		}
		out = append(out, f)
	}
	paths := make([]string, 0, len(out))
	for _, f := range out {
		paths = append(paths, f.Path)
	}
	e := problem.Wrap(problem.SchemaViolation, cause,
		fmt.Sprintf("%d field(s) violate the procedure's definition: %s", len(out), strings.Join(dedup(paths), ", ")))
	e.Fields = out
	return e
}

func dedup(s []string) []string {
	out := s[:0:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// pointerEscapes escapes a JSON pointer's token (RFC 6901).
var pointerEscapes = strings.NewReplacer("~", "~0", "/", "~1")

func pointer(loc []string) string {
	if len(loc) == 0 {
		return ""
	}
	var b strings.Builder
	for _, p := range loc {
		b.WriteByte('/')
		b.WriteString(pointerEscapes.Replace(p))
	}
	return b.String()
}

func collect(e *jsonschema.ValidationError, out *[]problem.FieldError) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, out)
		}
		return
	}
	at := pointer(e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			*out = append(*out, problem.FieldError{Path: at + "/" + m, Message: "required field is missing"})
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			*out = append(*out, problem.FieldError{Path: at + "/" + p, Message: "field is not part of the definition"})
		}
	default:
		*out = append(*out, problem.FieldError{Path: at, Message: e.ErrorKind.LocalizedString(printer)})
	}
}
