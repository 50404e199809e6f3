package fixturegen

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/kbnn/dvc/adapter/testkit/testpki"
)

// wantCases is the fixture contract, written out independently of
// fixtureCases.
var wantCases = map[string]struct {
	json   bool
	status int
	code   string
}{
	"valid-xml":              {false, 202, ""},
	"valid-json":             {true, 202, ""},
	"tampered-amount":        {false, 400, "signature-invalid"},
	"tampered-json":          {true, 400, "signature-invalid"},
	"wrapped-signature":      {false, 400, "signature-invalid"},
	"unsigned-node":          {false, 400, "signature-invalid"},
	"wrong-algorithm":        {false, 400, "signature-algorithm-not-allowed"},
	"wrong-algorithm-json":   {true, 400, "signature-algorithm-not-allowed"},
	"untrusted-ca":           {false, 400, "certificate-untrusted"},
	"expired":                {false, 400, "certificate-expired"},
	"revoked":                {false, 400, "certificate-revoked"},
	"missing-signer":         {false, 400, "signer-role-missing"},
	"no-signature":           {false, 400, "signature-missing"},
	"no-signature-json":      {true, 400, "signature-missing"},
	"doctype":                {false, 400, "xml-doctype-forbidden"},
	"malformed":              {false, 400, "malformed-body"},
	"schema-violation":       {false, 422, "schema-violation"},
	"schema-violation-json":  {true, 422, "schema-violation"},
	"wrong-content-type":     {true, 415, "unsupported-media-type"},
	"no-credential":          {false, 401, "unauthorized"},
	"treasury-refusal":       {false, 422, "treasury-refused"},
	"large-payroll":          {false, 202, ""},
	"unregistered-signer":    {false, 400, "signer-not-registered"},
	"rule-wrong-total":       {false, 422, "business-rule-violation"},
	"rule-wrong-total-json":  {true, 422, "business-rule-violation"},
	"rule-wrong-words":       {false, 422, "business-rule-violation"},
	"rule-wrong-date-json":   {true, 422, "business-rule-violation"},
	"rule-advance-recovery":  {false, 422, "business-rule-violation"},
	"rule-paid-to-date-json": {true, 422, "business-rule-violation"},
	"attachment-missing":     {false, 422, "attachment-missing"},
	"attachment-mismatch":    {true, 422, "attachment-mismatch"},
}

const ownCasesA = `signers: [chu-tai-khoan, ke-toan-truong]
missingSigner: [chu-tai-khoan]
tamper: {path: chungTu/tongSoTien, value: "999999999"}
schemaViolation: {path: maDVQHNS, value: "12AB"}
refusal: {path: chungTu/dongChiTiet/maNDKT, value: "7799"}
largeLines: {path: chungTu/dongChiTiet, count: 1200}
ruleTotal: {path: chungTu/tongSoTien, value: "31", rules: [tong]}
`

const ownCasesB = `signers: [chu-tai-khoan]
missingSigner: [ke-toan-truong]
tamper: {path: maDVQHNS, value: "1000001"}
schemaViolation: {path: maCapNs, value: "7"}
refusal: {path: maDVQHNS, value: "1999999"}
`

// writeOwnTemplates writes two small procedures: one with two signers and a
// payroll case, one with a single signer.
func writeOwnTemplates(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"thu-a/cases.yaml":   ownCasesA,
		"thu-a/dossier.xml":  sampleXML,
		"thu-a/dossier.json": sampleJSON,
		"thu-b/cases.yaml":   ownCasesB,
		"thu-b/dossier.xml":  strings.Replace(sampleXML, "<maDVQHNS>", "<maCapNs>2</maCapNs>\n  <maDVQHNS>", 1),
		"thu-b/dossier.json": sampleJSON,
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func generate(t *testing.T, templates, pki string) string {
	t.Helper()
	out := t.TempDir()
	if _, err := (fixtureGenerator{templates: templates, out: out, pki: testpki.NewDir(pki)}).run(); err != nil {
		t.Fatalf("generate fixtures: %v", err)
	}
	return out
}

func TestFixturesOwnTemplates(t *testing.T) {
	t.Parallel()
	templates := writeOwnTemplates(t)
	out := generate(t, templates, testPKIDir(t))
	checkFixtures(t, templates, out, testPKIDir(t))
}

func TestFixturesRealTemplates(t *testing.T) {
	t.Parallel()
	templates := filepath.Join("..", "..", "..", "testdata", "templates")
	if _, err := os.Stat(templates); err != nil {
		t.Fatalf("testdata/templates: %v", err)
	}
	out := generate(t, templates, testPKIDir(t))
	checkFixtures(t, templates, out, testPKIDir(t))
}

func TestFixturesDeterministic(t *testing.T) {
	t.Parallel()
	templates := writeOwnTemplates(t)
	a, b := generate(t, templates, testPKIDir(t)), generate(t, templates, testPKIDir(t))
	if diff := compareTrees(t, a, b); diff != "" {
		t.Fatalf("two runs differ: %s", diff)
	}
}

// TestCommittedFixturesUpToDate regenerates testdata/fixtures from the
// committed templates and PKI and compares byte for byte.
func TestCommittedFixturesUpToDate(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..", "..", "testdata")
	for _, p := range []string{"templates", "pki/root-ca.crt", "fixtures"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Fatalf("testdata/%s: %v", p, err)
		}
	}
	fresh := generate(t, filepath.Join(root, "templates"), filepath.Join(root, "pki"))
	if diff := compareTrees(t, fresh, filepath.Join(root, "fixtures")); diff != "" {
		t.Fatalf("testdata/fixtures is stale (%s); run: go run ./cmd/dvc-sign fixtures", diff)
	}
	checkFixtures(t, filepath.Join(root, "templates"), filepath.Join(root, "fixtures"), filepath.Join(root, "pki"))
}

func TestFixturesBadTemplates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cases, want string
	}{
		{"unknown key", ownCasesB + "extra: 1\n", "field extra not found"},
		{"no signers", strings.Replace(ownCasesB, "signers: [chu-tai-khoan]", "signers: []", 1), "signers: empty"},
		{"bad path", strings.Replace(ownCasesB, "maCapNs", "khong", 1), `no element "khong"`},
		{"unknown signer", strings.Replace(ownCasesB, "[chu-tai-khoan]", "[thu-quy]", 1), "no certificate"},
		{"zero lines", ownCasesB + "largeLines: {path: chungTu/dongChiTiet, count: 0}\n", "largeLines.count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			templates := writeOwnTemplates(t)
			if err := os.RemoveAll(filepath.Join(templates, "thu-a")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(templates, "thu-b", "cases.yaml"), []byte(tc.cases), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := fixtureGenerator{templates: templates, out: t.TempDir(), pki: testpki.NewDir(testPKIDir(t))}.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := (fixtureGenerator{templates: t.TempDir(), out: t.TempDir(), pki: testpki.NewDir(testPKIDir(t))}).run(); err == nil {
		t.Error("empty templates folder accepted")
	}
}

// compareTrees returns "" when both folders hold the same files with the same
// bytes, otherwise a short description of the first differences.
func compareTrees(t *testing.T, a, b string) string {
	t.Helper()
	list := func(root string) map[string][]byte {
		files := map[string][]byte{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			files[rel], err = os.ReadFile(p)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	fa, fb := list(a), list(b)
	var diffs []string
	for name, data := range fa {
		if other, ok := fb[name]; !ok {
			diffs = append(diffs, "missing "+name)
		} else if !bytes.Equal(data, other) {
			diffs = append(diffs, "differs "+name)
		}
	}
	for name := range fb {
		if _, ok := fa[name]; !ok {
			diffs = append(diffs, "extra "+name)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 5 {
		diffs = append(diffs[:5], "…")
	}
	return strings.Join(diffs, ", ")
}

var (
	reXMLCode  = regexp.MustCompile(`<maHoSo>([^<]*)</maHoSo>`)
	reXMLID    = regexp.MustCompile(`<HoSo Id="([^"]*)"`)
	reJSONCode = regexp.MustCompile(`"maHoSo": "([^"]*)"`)
)

// readHeaders parses headers.txt.
func readHeaders(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		h[name] = value
	}
	return h
}

func readExpect(t *testing.T, path string) (int, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Status int      `json:"status"`
		Code   string   `json:"code"`
		Rules  []string `json:"rules"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if (e.Code == "business-rule-violation") != (len(e.Rules) > 0) {
		t.Errorf("%s: code %q with rules %v: a business-rule case names its rules, no other case does", path, e.Code, e.Rules)
	}
	return e.Status, e.Code
}
