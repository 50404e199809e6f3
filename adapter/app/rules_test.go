package app

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kbnn/dvc/adapter/testkit/fixture"
	"github.com/kbnn/dvc/mappings"
	"github.com/kbnn/dvc/schemas"
)

// validateCase sends the case to POST …/dossiers:validate instead of …/dossiers.
func validateCase(t *testing.T, base string, c fixture.Case, lang string) (int, http.Header, validationReport) {
	t.Helper()
	req, err := c.Request(base)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Path += ":validate"
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var rep validationReport
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, resp.Header, rep
}

type validationProblem struct {
	Code   string `json:"code"`
	Title  string `json:"title"`
	Errors []struct {
		Path, Message, Rule string
	} `json:"errors"`
	Rules []struct {
		ID      string   `json:"id"`
		Paths   []string `json:"paths"`
		Message string   `json:"message"`
	} `json:"rules"`
}

type validationReport struct {
	Valid     bool                `json:"valid"`
	Procedure string              `json:"procedure"`
	MaHoSo    string              `json:"maHoSo"`
	Problems  []validationProblem `json:"problems"`
}

func (r validationReport) codes() []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.Code)
	}
	return out
}

// POST /v1/procedures/{procedure}/dossiers:validate, routed despite the colon, bearer
// authenticated: valid dossiers are reported valid, refused ones with every reason, and
// nothing reaches the treasury or the dossier store.
func TestValidateEndToEnd(t *testing.T) {
	s := startHTTP(t, nil, nil)
	for _, c := range []struct {
		proc, name string
		valid      bool
		codes      []string
	}{
		{"chi-thuong-xuyen", "valid-xml", true, nil},
		{"chi-thuong-xuyen", "valid-json", true, nil},
		{"von-dau-tu", "valid-xml", true, nil},
		{"tai-khoan", "valid-json", true, nil},
		{"cam-ket-chi", "valid-xml", true, nil},
		{"chi-thuong-xuyen", "rule-wrong-total", false, []string{"business-rule-violation"}},
		{"von-dau-tu", "rule-advance-recovery", false, []string{"business-rule-violation"}},
		{"cam-ket-chi", "rule-wrong-date-json", false, []string{"business-rule-violation"}},
		{"von-dau-tu", "unregistered-signer", false, []string{"signer-not-registered"}},
		{"chi-thuong-xuyen", "missing-signer", false, []string{"signer-role-missing"}},
		{"tai-khoan", "schema-violation-json", false, []string{"schema-violation"}},
		{"chi-thuong-xuyen", "tampered-json", false, []string{"signature-invalid"}},
		{"von-dau-tu", "wrong-content-type", false, []string{"unsupported-media-type"}},
	} {
		t.Run(c.proc+"/"+c.name, func(t *testing.T) {
			status, h, rep := validateCase(t, s.adapter.URL, httpCase(t, c.proc, c.name), "")
			if status != http.StatusOK || h.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, content type %q", status, h.Get("Content-Type"))
			}
			if rep.Valid != c.valid || !slices.Equal(rep.codes(), c.codes) || rep.Procedure != c.proc {
				t.Errorf("report %+v, want valid=%v %v", rep, c.valid, c.codes)
			}
		})
	}
	// A dossier of another procedure fails the definition; the rules never read it.
	rc := httpCase(t, "chi-thuong-xuyen", "rule-wrong-total")
	rc.Procedure = "von-dau-tu"
	if _, _, rep := validateCase(t, s.adapter.URL, rc, ""); rep.Valid || !slices.Equal(rep.codes(), []string{"schema-violation"}) {
		t.Errorf("another procedure's dossier: %+v", rep)
	}

	// Vietnamese: the rule messages of the report are the rules' messageVi.
	status, h, rep := validateCase(t, s.adapter.URL, httpCase(t, "von-dau-tu", "rule-paid-to-date-json"), "vi")
	if status != http.StatusOK || h.Get("Content-Language") != "vi" || len(rep.Problems) != 1 ||
		len(rep.Problems[0].Rules) != 1 || !strings.HasPrefix(rep.Problems[0].Rules[0].Message, "Lũy kế đã thanh toán") ||
		rep.Problems[0].Errors[0].Path != "/taiLieu/0/luyKeDaThanhToan" {
		t.Errorf("vietnamese report %d %+v", status, rep)
	}

	// Refusals of the request itself are problems, not reports.
	nc := httpCase(t, "chi-thuong-xuyen", "no-credential")
	if status, _, _ := validateCase(t, s.adapter.URL, nc, ""); status != http.StatusUnauthorized {
		t.Errorf("no credential: %d", status)
	}
	uc := httpCase(t, "chi-thuong-xuyen", "valid-json")
	uc.Procedure = "chi-dau-tu"
	if status, _, _ := validateCase(t, s.adapter.URL, uc, ""); status != http.StatusNotFound {
		t.Errorf("unknown procedure: %d", status)
	}
	resp, err := http.Get(s.adapter.URL + "/v1/procedures/chi-thuong-xuyen/dossiers:validate")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET :validate: %d, want 405", resp.StatusCode)
	}

	if n := s.hits.Load(); n != 0 {
		t.Fatalf("validation made %d treasury request(s)", n)
	}
	// Nothing stored: the validated dossier is unknown, and its submission is a first one.
	req, _ := http.NewRequest(http.MethodGet, s.adapter.URL+"/v1/procedures/chi-thuong-xuyen/dossiers/"+mustCode(t, httpCase(t, "chi-thuong-xuyen", "valid-xml")), nil)
	req.Header.Set("Authorization", "Bearer dev-portal-token")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("validated dossier's status: %d, want 404", resp.StatusCode)
	}
	a := httpSend(t, context.Background(), s.adapter.URL, httpCase(t, "chi-thuong-xuyen", "valid-xml"))
	if a.status != http.StatusAccepted || a.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("submission after validation: %d %s", a.status, a.body)
	}
}

func mustCode(t *testing.T, c fixture.Case) string {
	t.Helper()
	code, err := c.DossierCode()
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// A submission breaking several rules gets 422 business-rule-violation listing each, in
// Vietnamese when asked, and reaches nothing.
func TestBusinessRuleViolationOverHTTP(t *testing.T) {
	s := startHTTP(t, nil, nil)
	c := httpCase(t, "von-dau-tu", "rule-wrong-total-json")
	c.Header.Set("Accept-Language", "vi")
	a := httpSend(t, context.Background(), s.adapter.URL, c)
	a.want(t, http.StatusUnprocessableEntity, "business-rule-violation")
	var p validationProblem
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range p.Rules {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"tong-so-tien-bang-muc-luc", "tong-so-tien-tam-ung-thanh-toan", "so-tien-bang-chu"}) ||
		p.Title != "Hồ sơ vi phạm quy tắc nghiệp vụ của thủ tục" || !strings.HasPrefix(p.Rules[2].Message, "Số tiền bằng chữ") ||
		a.header.Get("Content-Language") != "vi" {
		t.Errorf("body %s", a.body)
	}
	if n := s.hits.Load(); n != 0 {
		t.Fatalf("%d treasury request(s)", n)
	}
}

// overlay is the schemas tree with some files replaced.
type overlay struct {
	fs.FS
	files fstest.MapFS
}

func (o overlay) Open(name string) (fs.File, error) {
	if _, ok := o.files[name]; ok {
		return o.files.Open(name)
	}
	return o.FS.Open(name)
}

// Start-up refuses a rule file that names a field the definition does not have, an unknown
// kind or a bad scope, naming the file and line.
func TestStartupRefusesBadRules(t *testing.T) {
	cfg := testConfig(t, "http://127.0.0.1:1")
	if _, err := loadProcedures(cfg, schemas.FS, mappings.FS); err != nil {
		t.Fatalf("shipped rules: %v", err)
	}
	shipped, err := fs.ReadFile(schemas.FS, "chi-thuong-xuyen/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, from, to, want string }{
		{"unknown field", "items: [\"dongChiTiet[]/soTien\"]", "items: [\"dongChiTiet[]/thanhTien\"]",
			`procedures.chi-thuong-xuyen: schemas/chi-thuong-xuyen/rules.yaml:15: rule tong-so-tien-bang-tong-dong: items: the definition has no field "dongChiTiet[]/thanhTien"`},
		{"unknown kind", "kind: words", "kind: chu",
			`schemas/chi-thuong-xuyen/rules.yaml:42: rule so-tien-bang-chu: unknown kind "chu"`},
		{"bad scope", "each: /taiLieu\n    forms: [BK-CTTT]", "each: /chungTu\n    forms: [BK-CTTT]",
			`schemas/chi-thuong-xuyen/rules.yaml:21: rule bang-ke-tong-so-tien: each: the definition has no field "/chungTu"`},
		{"unknown form", "forms: [BK-CTTT]", "forms: [BK-CTT]",
			`schemas/chi-thuong-xuyen/rules.yaml:22: rule bang-ke-tong-so-tien: forms: "BK-CTT" is not a form code of /taiLieu/mauSo`},
	} {
		t.Run(c.name, func(t *testing.T) {
			edited := strings.Replace(string(shipped), c.from, c.to, 1)
			if edited == string(shipped) {
				t.Fatalf("%q not in the rule file", c.from)
			}
			o := overlay{FS: schemas.FS, files: fstest.MapFS{"chi-thuong-xuyen/rules.yaml": {Data: []byte(edited)}}}
			_, err := loadProcedures(cfg, o, mappings.FS)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
