package mapping

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/kbnn/dvc/mappings"
)

// mappingsFS is the embedded mapping data the adapter ships.
var mappingsFS = mappings.FS

// repo is the repository root, seen from this package.
const repo = "../.."

var procedures = []string{"chi-thuong-xuyen", "von-dau-tu", "tai-khoan", "cam-ket-chi"}

func readRepoFile(t testing.TB, parts ...string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(append([]string{repo}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func dossierSchema(t testing.TB, procedure string) []byte {
	return readRepoFile(t, "schemas", procedure, "dossier.schema.json")
}

func requestSchema(t testing.TB) []byte {
	return readRepoFile(t, "schemas", "treasury", "send-document-request.schema.json")
}

// loadProcedure loads the real mapping of a procedure from the embedded mappings.
func loadProcedure(t testing.TB, procedure string) *Mapping {
	t.Helper()
	m, err := Load(mappingsFS, procedure, dossierSchema(t, procedure), requestSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// decode reads JSON the way the adapter hands dossiers over: integers as json.Number.
func decode(t testing.TB, raw []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func template(t testing.TB, procedure string) map[string]any {
	t.Helper()
	return decode(t, readRepoFile(t, "testdata", "templates", procedure, "dossier.json")).(map[string]any)
}

// contextFor builds the Apply context; tests use the portal's maTTHC as the configured code.
func contextFor(procedure string, doc map[string]any) Context {
	code, _ := doc["maTTHC"].(string)
	return Context{Procedure: procedure, ProcedureCode: code}
}

// checkOutputTypes fails if v holds anything but objects, arrays, strings, booleans and int64.
func checkOutputTypes(t testing.TB, where string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			checkOutputTypes(t, where+"."+k, e)
		}
	case []any:
		for i, e := range v {
			checkOutputTypes(t, where+"["+strconv.Itoa(i)+"]", e)
		}
	case string, bool, int64:
	default:
		t.Fatalf("%s: output holds %T", where, v)
	}
}

// largeDossier is the chi-thuong-xuyen template with n detail lines of 1000+i đồng each.
func largeDossier(t testing.TB, n int) map[string]any {
	t.Helper()
	doc := template(t, "chi-thuong-xuyen")
	chungTu := doc["taiLieu"].([]any)[0].(map[string]any)
	first := chungTu["dongChiTiet"].([]any)[0].(map[string]any)
	lines := make([]any, n)
	var total int64
	for i := range lines {
		l := make(map[string]any, len(first))
		for k, v := range first {
			l[k] = v
		}
		l["soTien"] = json.Number(strconv.Itoa(1000 + i))
		total += int64(1000 + i)
		lines[i] = l
	}
	chungTu["dongChiTiet"] = lines
	chungTu["tongSoTien"] = json.Number(strconv.FormatInt(total, 10))
	return doc
}
