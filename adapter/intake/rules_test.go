package intake

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/rules"
	"github.com/kbnn/dvc/adapter/testkit/fixture"
	"github.com/kbnn/dvc/adapter/testkit/signing"
)

func broken(err error) []string {
	var out []string
	for _, f := range problem.From(err).Extra["rules"].([]rules.Broken) {
		out = append(out, f.ID+"@"+strings.Join(f.Paths, ","))
	}
	return out
}

// A signed dossier that matches its definition but breaks its procedure's business rules is
// refused with every failing rule and the pointers of the failing fields, before anything is
// stored or sent.
func TestBusinessRuleFixtures(t *testing.T) {
	for _, c := range []struct {
		proc, name string
		want       []string
	}{
		{"chi-thuong-xuyen", "rule-wrong-total", []string{"tong-so-tien-bang-tong-dong@/taiLieu/0/tongSoTien", "so-tien-bang-chu@/taiLieu/0/soTienBangChu"}},
		{"chi-thuong-xuyen", "rule-wrong-total-json", []string{"tong-so-tien-bang-tong-dong@/taiLieu/0/tongSoTien", "so-tien-bang-chu@/taiLieu/0/soTienBangChu"}},
		{"chi-thuong-xuyen", "rule-wrong-words", []string{"so-tien-bang-chu@/taiLieu/0/soTienBangChu"}},
		{"chi-thuong-xuyen", "rule-wrong-date-json", []string{"ngay-chung-tu-trong-nien-do@/taiLieu/0/ngayChungTu"}},
		{"von-dau-tu", "rule-wrong-total", []string{"tong-so-tien-bang-muc-luc@/taiLieu/0/tongSoTien", "tong-so-tien-tam-ung-thanh-toan@/taiLieu/0/tongSoTien", "so-tien-bang-chu@/taiLieu/0/soTienBangChu"}},
		{"von-dau-tu", "rule-wrong-total-json", []string{"tong-so-tien-bang-muc-luc@/taiLieu/0/tongSoTien", "tong-so-tien-tam-ung-thanh-toan@/taiLieu/0/tongSoTien", "so-tien-bang-chu@/taiLieu/0/soTienBangChu"}},
		{"von-dau-tu", "rule-wrong-words", []string{"so-tien-bang-chu@/taiLieu/0/soTienBangChu"}},
		{"von-dau-tu", "rule-wrong-date-json", []string{"ngay-chung-tu-trong-nien-do@/taiLieu/0/ngayChungTu"}},
		{"von-dau-tu", "rule-advance-recovery", []string{"thu-hoi-khong-vuot-tam-ung@/taiLieu/2/tongSoTien"}},
		{"von-dau-tu", "rule-paid-to-date-json", []string{"luy-ke-khong-vuot-gia-tri-hop-dong@/taiLieu/0/luyKeDaThanhToan,/taiLieu/0/soTienTamUng,/taiLieu/0/soTienThanhToan"}},
		{"cam-ket-chi", "rule-wrong-total", []string{"tong-so-tien-bang-tong-dong@/taiLieu/0/tongSoTien", "so-tien-bang-chu@/taiLieu/0/soTienBangChu"}},
		{"cam-ket-chi", "rule-wrong-total-json", []string{"tong-so-tien-bang-tong-dong@/taiLieu/0/tongSoTien", "so-tien-bang-chu@/taiLieu/0/soTienBangChu"}},
		{"cam-ket-chi", "rule-wrong-words", []string{"so-tien-bang-chu@/taiLieu/0/soTienBangChu"}},
		{"cam-ket-chi", "rule-wrong-date-json", []string{"ngay-chung-tu-trong-nien-do@/taiLieu/0/ngayChungTu"}},
		{"tai-khoan", "rule-wrong-date-json", []string{"ngay-chung-tu-trong-nien-do@/taiLieu/0/ngayChungTu"}},
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
			if out.err == nil {
				return
			}
			if got := broken(out.err); !slices.Equal(got, c.want) {
				t.Errorf("failing rules %v, want %v", got, c.want)
			}
		})
	}
}

// editedJSON is the chi-thuong-xuyen JSON template with edits, signed by both roles.
func editedJSON(t *testing.T, edits ...[2]string) submission {
	t.Helper()
	body := template(t, "chi-thuong-xuyen", "json")
	for _, e := range edits {
		body = replaceOnce(t, body, e[0], e[1])
	}
	return jsonSub("chi-thuong-xuyen", body, signJWS(t, body, both...))
}

// Several documents breaking several rules at once: one refusal lists every one, with the
// pointer of each failing document's field, in English and (Accept-Language: vi) Vietnamese.
func TestBusinessRulesSeveralAtOnce(t *testing.T) {
	s := editedJSON(t,
		[2]string{`"tongSoTien": 55000000`, `"tongSoTien": 56000000`},
		[2]string{`"soTienBangChu": "Một trăm tám mươi bảy triệu năm trăm nghìn đồng"`, `"soTienBangChu": "Một trăm tám mươi bảy triệu linh năm nghìn đồng"`},
		[2]string{`"ngayChungTu": "2026-06-09",
      "tongSoTien": 187500000,
      "bangKe"`, `"ngayChungTu": "2025-06-09",
      "tongSoTien": 187500000,
      "bangKe"`},
	)
	out := run(t, s, svcOptions{})
	wantRefused(t, out, "business-rule-violation")
	want := []string{
		"tong-so-tien-bang-tong-dong@/taiLieu/1/tongSoTien",
		"so-tien-bang-chu@/taiLieu/0/soTienBangChu",
		"so-tien-bang-chu@/taiLieu/1/soTienBangChu",
		"ngay-chung-tu-trong-nien-do@/taiLieu/2/ngayChungTu",
	}
	if got := broken(out.err); !slices.Equal(got, want) {
		t.Fatalf("failing rules %v, want %v", got, want)
	}
	pe := problem.From(out.err)
	var body struct {
		Detail string
		Errors []problem.FieldError
		Rules  []rules.Broken
	}
	_, h, vi := pe.RenderIn(problem.Vietnamese, "r1")
	if err := json.Unmarshal(vi, &body); err != nil {
		t.Fatal(err)
	}
	if h["Content-Language"] != "vi" || !strings.HasPrefix(body.Detail, "Hồ sơ vi phạm 3 quy tắc nghiệp vụ") ||
		!strings.HasPrefix(body.Rules[0].Message, "Tổng số tiền của chứng từ") ||
		len(body.Errors) != 4 || body.Errors[3].Path != "/taiLieu/2/ngayChungTu" || body.Errors[3].Rule != "ngay-chung-tu-trong-nien-do" ||
		!strings.HasPrefix(body.Errors[3].Message, "Ngày chứng từ") {
		t.Errorf("vietnamese body %s", vi)
	}
	_, _, en := pe.RenderIn(problem.English, "r1")
	if err := json.Unmarshal(en, &body); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body.Rules[0].Message, "The document's total") || !strings.HasPrefix(body.Detail, "The dossier breaks 3 business rule(s)") {
		t.Errorf("english body %s", en)
	}
}

// The rules run in the XML form too, after the definition: a schema violation is reported
// as such, not as a rule.
func TestBusinessRulesAfterDefinition(t *testing.T) {
	body := replaceOnce(t, template(t, "chi-thuong-xuyen", "xml"), "<tongSoTien>187500000</tongSoTien>", "<tongSoTien>187500001</tongSoTien>")
	out := run(t, xmlSub("chi-thuong-xuyen", signXML(t, body, signing.XMLOptions{}, both...)), svcOptions{})
	wantRefused(t, out, "business-rule-violation")
	body = replaceOnce(t, body, "<maDVQHNS>1012345</maDVQHNS>", "<maDVQHNS>12AB</maDVQHNS>")
	out = run(t, xmlSub("chi-thuong-xuyen", signXML(t, body, signing.XMLOptions{}, both...)), svcOptions{})
	wantRefused(t, out, "schema-violation")
}

func validateOn(t *testing.T, svc *Service, s submission, lang problem.Lang) *Report {
	t.Helper()
	rep, err := svc.Validate(context.Background(), Submission{RequestID: "v1", Procedure: s.procedure,
		ContentType: s.contentType, Body: s.body, JWSSignature: s.jws, Caller: "portal", ReceivedAt: receipt, Lang: lang})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func codes(rep *Report) []string {
	var out []string
	for _, p := range rep.Problems {
		out = append(out, p.Code)
	}
	return out
}

// Validation runs the whole check, lists every reason, and stores and sends nothing: the
// same dossier submitted afterwards is a first submission.
func TestValidate(t *testing.T) {
	svc, fs := newService(t, svcOptions{})
	for _, proc := range allProcedures {
		body, sig := jsonFixture(t, proc)
		for _, s := range []submission{xmlSub(proc, xmlFixture(t, proc)), jsonSub(proc, body, sig)} {
			rep := validateOn(t, svc, s, problem.English)
			if !rep.Valid || len(rep.Problems) != 0 || rep.MaHoSo == "" || rep.Procedure != proc {
				t.Errorf("%s %s: report %+v, want valid", proc, s.contentType, rep)
			}
		}
	}
	if n := len(fs.sent()); n != 0 {
		t.Fatalf("validation sent %d request(s) to the treasury", n)
	}
	out := submitOn(t, svc, fs, xmlSub("chi-thuong-xuyen", xmlFixture(t, "chi-thuong-xuyen")), "", receipt)
	if out.err != nil || out.resp.Replayed {
		t.Fatalf("submission after validation: %v, %+v", out.err, out.resp)
	}

	// One signer missing, a wrong total and a date outside the budget year: every reason.
	body := template(t, "chi-thuong-xuyen", "json")
	body = replaceOnce(t, body, `"tongSoTien": 55000000`, `"tongSoTien": 56000000`)
	body = replaceOnce(t, body, `"ngayChungTu": "2026-06-09"`, `"ngayChungTu": "2027-06-09"`)
	bad := jsonSub("chi-thuong-xuyen", body, signJWS(t, body, "chu-tai-khoan"))
	rep := validateOn(t, svc, bad, problem.Vietnamese)
	if rep.Valid || !slices.Equal(codes(rep), []string{"signer-role-missing", "business-rule-violation"}) {
		t.Fatalf("report %+v", rep)
	}
	rules := rep.Problems[1].Extra["rules"].([]rules.Broken)
	if len(rules) != 3 || rules[2].ID != "ngay-chung-tu-trong-nien-do" || !strings.HasPrefix(rules[2].Message, "Ngày chứng từ") ||
		rep.Problems[0].Instance != "v1" || rep.Problems[1].Title != "Hồ sơ vi phạm quy tắc nghiệp vụ của thủ tục" {
		t.Errorf("report %+v", rep)
	}

	// A wrong dossier code and a schema violation stop at the definition.
	body = replaceOnce(t, template(t, "chi-thuong-xuyen", "json"), `"maDVQHNS": "1012345"`, `"maDVQHNS": "12AB"`)
	rep = validateOn(t, svc, jsonSub("chi-thuong-xuyen", body, signJWS(t, body, both...)), problem.English)
	if rep.Valid || !slices.Equal(codes(rep), []string{"schema-violation"}) {
		t.Errorf("report %+v", rep)
	}

	// A signature that does not verify ends the check.
	tampered := replaceOnce(t, xmlFixture(t, "von-dau-tu"), "<tongSoTien>1250000000</tongSoTien>", "<tongSoTien>1250000001</tongSoTien>")
	rep = validateOn(t, svc, xmlSub("von-dau-tu", tampered), problem.English)
	if rep.Valid || !slices.Equal(codes(rep), []string{"signature-invalid"}) || rep.MaHoSo != "" {
		t.Errorf("report %+v", rep)
	}
	if n := len(fs.sent()); n != 1 {
		t.Errorf("treasury got %d request(s), want only the one submission", n)
	}
	if _, err := svc.Validate(context.Background(), Submission{Procedure: "khac"}); codeOf(err) != "unknown-procedure" {
		t.Errorf("unknown procedure: %v", err)
	}
}

// What the definition and the rules take but the mapping refuses (an
// integer written with an exponent or a fraction, a leap second) is
// refused by :validate as by a submission, 422 schema-violation naming
// the field; what both take, both take.
func TestValidateAgreesWithSubmit(t *testing.T) {
	for _, c := range []struct{ name, old, new, path string }{
		{"amount with exponent", `"tongSoTien": 55000000`, `"tongSoTien": 5.5e7`, "/taiLieu/1/tongSoTien"},
		{"amount with fraction", `"tongSoTien": 55000000`, `"tongSoTien": 55000000.0`, "/taiLieu/1/tongSoTien"},
		{"budget year with fraction", `"nienDo": 2026`, `"nienDo": 2026.0`, "/nienDo"},
		{"leap second", `"thoiGianNop": "2026-06-09T08:30:00+07:00"`, `"thoiGianNop": "2026-07-01T06:59:60+07:00"`, "/thoiGianNop"},
		{"plain", `"nienDo": 2026`, `"nienDo": 2026`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := editedJSON(t, [2]string{c.old, c.new})
			svc, fs := newService(t, svcOptions{})
			rep := validateOn(t, svc, s, problem.English)
			out := submitOn(t, svc, fs, s, "", receipt)
			if rep.Valid != (out.err == nil) {
				t.Fatalf("validate valid=%v %v, submit: %v", rep.Valid, codes(rep), out.err)
			}
			if c.path == "" {
				return
			}
			pe := problem.From(out.err)
			if pe.Kind != problem.SchemaViolation || len(pe.Fields) != 1 || pe.Fields[0].Path != c.path {
				t.Errorf("submit: %v %+v, want schema-violation at %s", pe.Kind, pe.Fields, c.path)
			}
			if len(rep.Problems) != 1 || rep.Problems[0].Code != "schema-violation" {
				t.Errorf("validate: %v, want one schema-violation", codes(rep))
			}
		})
	}
}
