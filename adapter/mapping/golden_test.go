package mapping

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/<procedure>/treasury-request.json from the current mappings")

// TestGolden maps each procedure's template dossier and compares the request with the golden
// file, which must also be valid against the treasury request schema.
func TestGolden(t *testing.T) {
	schema := compileRequestSchema(t)
	for _, p := range procedures {
		t.Run(p, func(t *testing.T) {
			m := loadProcedure(t, p)
			doc := template(t, p)
			out, err := m.Apply(doc, contextFor(p, doc))
			if err != nil {
				t.Fatal(err)
			}
			checkOutputTypes(t, "request", out)
			got := render(t, out)

			file := filepath.Join(repo, "testdata", "golden", p, "treasury-request.json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./adapter/mapping -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("request differs from %s (rerun with -update and review the diff):\n%s", file, got)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(want))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(inst); err != nil {
				t.Errorf("golden %s is not a valid SendDocumentRequest: %v", file, err)
			}
		})
	}
}

func render(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func compileRequestSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	const url = "https://kbnn.gov.vn/dvc/schemas/treasury/send-document-request.schema.json"
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(requestSchema(t)))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
