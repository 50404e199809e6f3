package schema

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

func loadWithdrawal(t testing.TB) *Definition {
	t.Helper()
	d, err := LoadForm(os.DirFS("../../schemas"), WithdrawalFolder, Withdrawal)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The withdrawal templates of every procedure are valid in both forms, and both forms give
// the same value; a dossier is no withdrawal, whatever its form.
func TestWithdrawalDefinition(t *testing.T) {
	d := loadWithdrawal(t)
	if d.Root != WithdrawalRootElement || Withdrawal.XSDFile() != "withdrawal.xsd" || Dossier.XSDFile() != "dossier.xsd" {
		t.Fatalf("root %q, XSD files %q %q", d.Root, Withdrawal.XSDFile(), Dossier.XSDFile())
	}
	for _, p := range procedures {
		t.Run(p, func(t *testing.T) {
			fromXML, err := xmlValue(t, d, readTemplate(t, p, "withdrawal.xml"))
			if err != nil {
				t.Fatalf("XML: %v", err)
			}
			fromJSON, err := d.FromJSON(readTemplate(t, p, "withdrawal.json"))
			if err != nil {
				t.Fatalf("JSON: %v", err)
			}
			if !reflect.DeepEqual(fromXML, fromJSON) {
				t.Errorf("the forms differ:\n%v\n%v", fromXML, fromJSON)
			}
			if _, err := xmlValue(t, d, readTemplate(t, p, "dossier.xml")); err == nil || !strings.Contains(err.Error(), "schema-violation") {
				t.Errorf("a dossier in XML passed for a withdrawal: %v", err)
			}
			if _, err := d.FromJSON(readTemplate(t, p, "dossier.json")); err == nil {
				t.Error("a dossier in JSON passed for a withdrawal")
			}
		})
	}
	// A withdrawal is no dossier either.
	if _, err := xmlValue(t, load(t, "chi-thuong-xuyen"), readTemplate(t, "chi-thuong-xuyen", "withdrawal.xml")); err == nil {
		t.Error("a withdrawal passed for a dossier")
	}
}

// FuzzWithdrawal feeds arbitrary XML and JSON to the withdrawal definition: nothing panics,
// and whatever the XML form accepts, its JSON rendering is accepted as the same value.
func FuzzWithdrawal(f *testing.F) {
	d := loadWithdrawal(f)
	f.Add(readTemplate(f, "chi-thuong-xuyen", "withdrawal.xml"))
	f.Add(readTemplate(f, "tai-khoan", "withdrawal.json"))
	f.Add([]byte(`<YeuCauRutHoSo Id="x"><soBoSung> 7 </soBoSung><lyDo><!--c-->x</lyDo></YeuCauRutHoSo>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := d.FromJSON(b); err == nil && v == nil {
			t.Fatal("nil JSON value without error")
		}
		doc := etree.NewDocument()
		if doc.ReadFromBytes(b) != nil || doc.Root() == nil {
			return
		}
		v, err := d.FromXML(doc.Root())
		if err != nil {
			return
		}
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		again, err := d.FromJSON(raw)
		if err != nil || !reflect.DeepEqual(v, again) {
			t.Fatalf("XML value %s is not the same JSON value: %v %v", raw, again, err)
		}
	})
}
