package treasurysim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kbnn/dvc/adapter/jsondec"
	"github.com/kbnn/dvc/adapter/schema"
)

// TestFromValueIsUnmarshal holds the one-pass reading of a keyed request to
// encoding/json's: every golden treasury request (with evidence added, as
// the adapter sends it) and a withdrawal read from the validated value give
// the struct json.Unmarshal gives.
func TestFromValueIsUnmarshal(t *testing.T) {
	v, err := newValidator()
	if err != nil {
		t.Fatal(err)
	}
	if !v.sendDocument.HasQuickForm() || !v.withdrawal.HasQuickForm() {
		t.Error("the contract's request schemas have no quick form: every request goes through the library")
	}
	goldens, err := filepath.Glob("../../../testdata/golden/*/treasury-request.json")
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden requests: %v", err)
	}
	for _, path := range goldens {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		doc["evidence"] = evidenceOf([]byte("<a/>"), strings.Repeat("ab", 32))
		body, _ := json.Marshal(doc)
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			checkFromValue(t, v.sendDocument, body, &sendRequest{}, &sendRequest{})
		})
	}
	t.Run("empty arrays", func(t *testing.T) {
		body := []byte(`{"lines":[],"documents":[{"kind":"PAYMENT","lines":[]}],"attachments":[],"evidence":null}`)
		v, err := jsondec.Decode(body, maxDepth)
		if err != nil {
			t.Fatal(err)
		}
		var got, want sendRequest
		if err := got.fromValue(v); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fromValue:\n%#v\njson.Unmarshal:\n%#v", got, want)
		}
	})
	t.Run("withdrawal", func(t *testing.T) {
		body, _ := json.Marshal(withdrawalOf(request("000.00.00.H01-260609-0001", set("supplementNo", 2))))
		checkFromValue(t, v.withdrawal, body, &withdrawRequest{}, &withdrawRequest{})
	})
}

func checkFromValue[T interface{ fromValue(any) error }](t *testing.T, sch *schema.Validator, body []byte, got, want T) {
	t.Helper()
	val, err := validated(sch, body)
	if err != nil {
		t.Fatalf("the fixture does not validate: %v", err)
	}
	if err := got.fromValue(val); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fromValue:\n%+v\njson.Unmarshal:\n%+v", got, want)
	}
	if reflect.ValueOf(want).Elem().IsZero() {
		t.Fatal("the fixture decoded to nothing")
	}
}

// TestFromValueRefusesWhatUnmarshalRefuses: a number the field cannot hold
// is an error, as it is to json.Unmarshal, not a silent zero.
func TestFromValueRefusesWhatUnmarshalRefuses(t *testing.T) {
	for _, n := range []string{"1.5", "1e3", "99999999999999999999"} {
		body := `{"procedure":"chi-thuong-xuyen","totalAmount":` + n + `,"lines":[{"amount":` + n + `}]}`
		if err := json.Unmarshal([]byte(body), &sendRequest{}); err == nil {
			t.Fatalf("%s: json.Unmarshal accepts it; the case tests nothing", n)
		}
		var v any
		d := json.NewDecoder(strings.NewReader(body))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		var r sendRequest
		if err := r.fromValue(v); err == nil {
			t.Errorf("%s: fromValue accepts it as %d", n, r.TotalAmount)
		}
	}
}
