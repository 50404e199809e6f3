package schemas_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/kbnn/dvc/schemas"
)

const baseURL = "https://kbnn.gov.vn/dvc/schemas/"

// fsLoader resolves schema URLs under baseURL to files in schemas.FS.
type fsLoader struct{}

func (fsLoader) Load(url string) (any, error) {
	name, ok := strings.CutPrefix(url, baseURL)
	if !ok {
		return nil, fmt.Errorf("schema %q is outside %s", url, baseURL)
	}
	f, err := schemas.FS.Open(name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return jsonschema.UnmarshalJSON(f)
}

func newCompiler() *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(fsLoader{})
	return c
}

func schemaFiles(t *testing.T) []string {
	t.Helper()
	var names []string
	err := fs.WalkDir(schemas.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".schema.json") {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestTreasuryFilesPresent(t *testing.T) {
	for _, name := range []string{
		"login-request", "login-response", "send-document-request",
		"send-document-response", "document-status", "refusal",
		"withdrawal-request", "withdrawal-response",
	} {
		if _, err := fs.Stat(schemas.FS, "treasury/"+name+".schema.json"); err != nil {
			t.Errorf("treasury schema %s: %v", name, err)
		}
	}
	if _, err := fs.Stat(schemas.FS, "treasury/openapi.yaml"); err != nil {
		t.Errorf("openapi.yaml: %v", err)
	}
}

// TestSchemaExamples compiles every schema and validates each value of its "examples".
func TestSchemaExamples(t *testing.T) {
	for _, name := range schemaFiles(t) {
		t.Run(name, func(t *testing.T) {
			raw, err := fs.ReadFile(schemas.FS, name)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				ID       string            `json:"$id"`
				Examples []json.RawMessage `json:"examples"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.ID != baseURL+name {
				t.Errorf("$id = %q, want %q", doc.ID, baseURL+name)
			}
			if strings.HasPrefix(name, "treasury/") && len(doc.Examples) == 0 {
				t.Fatal("no examples")
			}
			sch, err := newCompiler().Compile(baseURL + name)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			for i, ex := range doc.Examples {
				v, err := jsonschema.UnmarshalJSON(bytes.NewReader(ex))
				if err != nil {
					t.Fatal(err)
				}
				if err := sch.Validate(v); err != nil {
					t.Errorf("example %d: %v", i, err)
				}
			}
		})
	}
}

// TestOpenAPIExamples validates every media-type example in openapi.yaml against the schema
// file it references and checks that every file reference resolves.
func TestOpenAPIExamples(t *testing.T) {
	raw, err := fs.ReadFile(schemas.FS, "treasury/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	var checked, refs int
	var walk func(p string, v any)
	walk = func(p string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && !strings.HasPrefix(ref, "#") {
				refs++
				if _, err := fs.Stat(schemas.FS, path.Join("treasury", ref)); err != nil {
					t.Errorf("%s: $ref %s: %v", p, ref, err)
				}
			}
			if schema, ok := v["schema"].(map[string]any); ok {
				if ref, ok := schema["$ref"].(string); ok && !strings.HasPrefix(ref, "#") {
					examples, _ := v["examples"].(map[string]any)
					for name, ex := range examples {
						checked++
						validateYAMLExample(t, p+"/"+name, path.Join("treasury", ref), ex.(map[string]any)["value"])
					}
				}
			}
			for k, child := range v {
				walk(p+"/"+k, child)
			}
		case []any:
			for i, child := range v {
				walk(fmt.Sprintf("%s/%d", p, i), child)
			}
		}
	}
	walk("", doc)
	if checked < 8 || refs < 6 {
		t.Errorf("checked %d examples and %d file refs; the walk is broken", checked, refs)
	}
}

func validateYAMLExample(t *testing.T, where, file string, value any) {
	t.Helper()
	js, err := json.Marshal(value)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	sch, err := newCompiler().Compile(baseURL + file)
	if err != nil {
		t.Fatalf("%s: compile %s: %v", where, file, err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s: %v", where, err)
	}
}

// TestSendDocumentRequestRefuses makes sure the request schema is strict where money and codes
// are concerned.
func TestSendDocumentRequestRefuses(t *testing.T) {
	sch, err := newCompiler().Compile(baseURL + "treasury/send-document-request.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	valid := `{"documentType":"C2-02a/NS","procedure":"chi-thuong-xuyen","procedureCode":"1.009460",
"dossierCode":"G09.20-20260609-0092637","supplementNo":0,"budgetUnitCode":"1012345",
"treasuryOfficeCode":"0011","budgetYear":2026,"submittedAt":"2026-06-09T08:30:00+07:00",
"totalAmount":1000,"lines":[{"budgetLine":{"chapter":"422","sector":"071","item":"6001","source":"12"},"amount":1000}],
"content":{}}`
	tests := []struct {
		name, old, new string
		ok             bool
	}{
		{"valid", "", "", true},
		{"fractional total", `"totalAmount":1000`, `"totalAmount":1000.5`, false},
		{"negative total", `"totalAmount":1000`, `"totalAmount":-1`, false},
		{"string total", `"totalAmount":1000`, `"totalAmount":"1000"`, false},
		{"fractional line amount", `"amount":1000}`, `"amount":0.5}`, false},
		{"six-digit unit", `"1012345"`, `"101234"`, false},
		{"three-digit office", `"0011"`, `"011"`, false},
		{"unknown field", `"content":{}`, `"content":{},"extra":1`, false},
		{"missing content", `"content":{}`, `"payee":{"name":"A","accountNumber":"1234"}`, false},
		{"payee instead of content", `"content":{}`, `"content":{},"payee":{"name":"A","accountNumber":"1234"}`, true},
		{"bad date", `2026-06-09T08:30:00+07:00`, `09/06/2026`, false},
		{"bad item", `"item":"6001"`, `"item":"60011"`, false},
		{"missing chapter", `"chapter":"422",`, ``, false},
		{"negative supplement", `"supplementNo":0`, `"supplementNo":-1`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(valid, tt.old, tt.new, 1)
			if tt.old != "" && body == valid {
				t.Fatalf("replacement %q not applied", tt.old)
			}
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			err = sch.Validate(v)
			if (err == nil) != tt.ok {
				t.Errorf("valid = %v, want %v (%v)", err == nil, tt.ok, err)
			}
		})
	}
}
