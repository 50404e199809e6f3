package schema

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/yamlfile"
)

// FormsFile is the optional file beside a dossier definition that says, per declared form
// code, which optional parts a document of that form must have and which it must not have.
// The JSON Schema (and the XSD made from it) cannot say it without a oneOf by form code.
const FormsFile = "forms.yaml"

// formsYAML is the file's content.
type formsYAML struct {
	Description string              `yaml:"description"`
	List        string              `yaml:"list"` // the top-level list of documents, e.g. taiLieu
	Code        string              `yaml:"code"` // the form-code field of a document, e.g. mauSo
	Forms       map[string]formRule `yaml:"forms"`
}

// formRule lists the parts of a document that one form requires and forbids.
type formRule struct {
	Requires []string `yaml:"requires"`
	Forbids  []string `yaml:"forbids"`
}

// formCheck is a compiled forms file.
type formCheck struct {
	list, code string
	forms      map[string]formRule
}

// loadForms reads dir/forms.yaml when it exists and checks it against the definition doc: the
// list is an array of objects, the code one of its string fields with an enum, every code of
// the enum has a rule and every rule names declared, optional fields of a document.
func loadForms(fsys fs.FS, dir string, doc map[string]any) (*formCheck, error) {
	name := dir + "/" + FormsFile
	if _, err := fs.Stat(fsys, name); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	root := yamlfile.Root("schemas")
	var f formsYAML
	if _, err := root.Read(fsys, name, &f); err != nil {
		return nil, err
	}
	fail := func(format string, args ...any) error {
		return root.Errorf(name, 0, format, args...)
	}
	props, _ := doc["properties"].(map[string]any)
	list, _ := props[f.List].(map[string]any)
	items, _ := list["items"].(map[string]any)
	itemProps, _ := items["properties"].(map[string]any)
	if itemProps == nil {
		return nil, fail("list %q is not an array of objects of the definition", f.List)
	}
	code, _ := itemProps[f.Code].(map[string]any)
	enum, _ := code["enum"].([]any)
	if len(enum) == 0 {
		return nil, fail("code %q is not a field with an enum of form codes", f.Code)
	}
	var required []string
	if r, ok := items["required"].([]any); ok {
		for _, x := range r {
			if s, ok := x.(string); ok {
				required = append(required, s)
			}
		}
	}
	for _, e := range enum {
		if _, ok := f.Forms[fmt.Sprint(e)]; !ok {
			return nil, fail("form %v has no rule", e)
		}
	}
	for form, rule := range f.Forms {
		if !slices.Contains(enum, any(form)) {
			return nil, fail("form %q is not a code of %s/%s", form, f.List, f.Code)
		}
		for _, field := range append(slices.Clone(rule.Requires), rule.Forbids...) {
			if _, ok := itemProps[field]; !ok {
				return nil, fail("form %q: %q is not a field of a document", form, field)
			}
			if slices.Contains(required, field) {
				return nil, fail("form %q: %q is required of every document already", form, field)
			}
		}
		for _, field := range rule.Requires {
			if slices.Contains(rule.Forbids, field) {
				return nil, fail("form %q: %q is both required and forbidden", form, field)
			}
		}
	}
	return &formCheck{list: f.List, code: f.Code, forms: f.Forms}, nil
}

// check lists, for every document of v, the parts its form requires and lacks, and those it
// forbids and has. v has passed the JSON Schema, so the list and the codes are well formed.
func (c *formCheck) check(v any) []problem.FieldError {
	obj, _ := v.(map[string]any)
	docs, _ := obj[c.list].([]any)
	var out []problem.FieldError
	for i, d := range docs {
		m, _ := d.(map[string]any)
		form, _ := m[c.code].(string)
		rule, ok := c.forms[form]
		if !ok {
			continue
		}
		at := "/" + c.list + "/" + strconv.Itoa(i) + "/"
		for _, f := range rule.Requires {
			if _, ok := m[f]; !ok {
				out = append(out, problem.FieldError{Path: at + f, Message: "required on form " + form})
			}
		}
		for _, f := range rule.Forbids {
			if _, ok := m[f]; ok {
				out = append(out, problem.FieldError{Path: at + f, Message: "not allowed on form " + form})
			}
		}
	}
	return out
}
