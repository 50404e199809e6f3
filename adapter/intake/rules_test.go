package intake

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/rules"
	"github.com/kbnn/dvc/adapter/testkit/fixture"
)

// A signed dossier that matches its definition but breaks its procedure's business rules is
// refused with every failing rule, before anything is sent; the same dossier with correct
// arithmetic goes through.
func TestBusinessRulesBeforeMapping(t *testing.T) {
	for _, c := range []struct {
		proc, name string
		want       []string
	}{
		{"chi-thuong-xuyen", "rule-wrong-total", []string{"tong-so-tien", "so-tien-bang-chu"}},
		{"chi-thuong-xuyen", "rule-wrong-total-json", []string{"tong-so-tien", "so-tien-bang-chu"}},
		{"chi-thuong-xuyen", "rule-wrong-words", []string{"so-tien-bang-chu"}},
		{"chi-thuong-xuyen", "rule-wrong-date-json", []string{"ngay-chung-tu-trong-nien-do"}},
		{"von-dau-tu", "rule-wrong-total", []string{"tong-so-tien", "so-tien-bang-chu"}},
		{"von-dau-tu", "rule-wrong-words", []string{"so-tien-bang-chu"}},
		{"von-dau-tu", "rule-wrong-date-json", []string{"ngay-de-nghi-trong-nien-do"}},
		{"cam-ket-chi", "rule-wrong-total", []string{"tong-so-tien", "so-tien-bang-chu"}},
		{"cam-ket-chi", "rule-wrong-words", []string{"so-tien-bang-chu"}},
		{"cam-ket-chi", "rule-wrong-date-json", []string{"nam-ngan-sach-bang-nien-do"}},
		{"tai-khoan", "rule-wrong-date-json", []string{"quyet-dinh-truoc-ngay-nop"}},
	} {
		t.Run(c.proc+"/"+c.name, func(t *testing.T) {
			f, err := fixture.Load(filepath.Join(fixtures, c.proc, c.name))
			if err != nil {
				t.Fatal(err)
			}
			s := xmlSub(c.proc, f.Body)
			if f.Header.Get("Content-Type") == "application/json" {
				s = jsonSub(c.proc, f.Body, f.Header.Get("X-JWS-Signature"))
			}
			out := run(t, s, svcOptions{})
			wantRefused(t, out, "business-rule-violation")
			pe := problem.From(out.err)
			vs, _ := pe.Extra["rules"].([]rules.Violation)
			var ids []string
			for _, v := range vs {
				ids = append(ids, v.ID)
			}
			if !slices.Equal(ids, c.want) {
				t.Errorf("failing rules %v, want %v", ids, c.want)
			}
		})
	}
}
