package xsd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoRoot is the module root, seen from this package's folder.
const repoRoot = "../../.."

// xmllint validates each file against the XSD at xsdPath with libxml2's xmllint and returns,
// for each file, "" when it is valid or xmllint's complaints about it.
func xmllint(t *testing.T, xsdPath string, files ...string) map[string]string {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatalf("xmllint not found on PATH: install the Debian package libxml2-utils (apt-get install -y libxml2-utils): %v", err)
	}
	args := append([]string{"--noout", "--nonet", "--schema", xsdPath}, files...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	var exit *exec.ExitError
	// xmllint exits 3 when a document does not validate; anything else is a broken run
	// (for example 5: the XSD itself does not compile).
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 3) {
		t.Fatalf("xmllint --schema %s: %v\n%s", xsdPath, err, out)
	}
	verdicts := map[string]string{}
	lines := strings.Split(string(out), "\n")
	for _, f := range files {
		var reasons []string
		verdict := ""
		for _, l := range lines {
			switch {
			case l == f+" validates":
				verdict = "valid"
			case l == f+" fails to validate":
				verdict = "invalid"
			case strings.HasPrefix(l, f+":"):
				reasons = append(reasons, l)
			}
		}
		switch verdict {
		case "valid":
			verdicts[f] = ""
		case "invalid":
			verdicts[f] = strings.Join(append(reasons, "fails to validate"), "\n")
		default:
			t.Fatalf("xmllint gave no verdict for %s:\n%s", f, out)
		}
	}
	return verdicts
}

func procedureXSD(procedure string) string {
	return filepath.Join(repoRoot, "schemas", procedure, "dossier.xsd")
}

// withdrawalXSD is the XSD of every withdrawal request, whatever the procedure.
var withdrawalXSD = filepath.Join(repoRoot, "schemas", "withdrawal", "withdrawal.xsd")

// TestWithdrawalsValidateAgainstXSD checks that every withdrawal template, and every
// withdrawal fixture request.xml expected to be accepted (status 202), is valid under
// schemas/withdrawal/withdrawal.xsd, signatures included, and that a dossier is not.
func TestWithdrawalsValidateAgainstXSD(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(repoRoot, "testdata", "templates", "*", "withdrawal.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no withdrawal templates found (err %v)", err)
	}
	expects, err := filepath.Glob(filepath.Join(repoRoot, "testdata", "withdrawals", "*", "*", "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, e := range expects {
		request := filepath.Join(filepath.Dir(e), "request.xml")
		if _, err := os.Stat(request); err != nil || fixtureStatus(t, e) != 202 {
			continue
		}
		files = append(files, request)
		accepted++
	}
	if accepted == 0 {
		t.Fatal("no accepted XML withdrawal fixture under testdata/withdrawals")
	}
	dossier := filepath.Join(repoRoot, "testdata", "templates", "chi-thuong-xuyen", "dossier.xml")
	verdicts := xmllint(t, withdrawalXSD, append(files, dossier)...)
	for _, f := range files {
		if verdicts[f] != "" {
			t.Errorf("%s is not valid under %s:\n%s", f, withdrawalXSD, verdicts[f])
		}
	}
	if verdicts[dossier] == "" {
		t.Errorf("a dossier (%s) is valid under %s", dossier, withdrawalXSD)
	}
}

// TestTemplatesAndFixturesValidateAgainstXSD checks that every template dossier, and every
// fixture request.xml expected to be accepted (status 202), is valid under the committed
// XSD of its procedure, signatures included.
func TestTemplatesAndFixturesValidateAgainstXSD(t *testing.T) {
	t.Parallel()
	byProcedure := map[string][]string{}
	templates, err := filepath.Glob(filepath.Join(repoRoot, "testdata", "templates", "*", "dossier.xml"))
	if err != nil || len(templates) == 0 {
		t.Fatalf("no template dossiers found (err %v)", err)
	}
	for _, f := range templates {
		p := filepath.Base(filepath.Dir(f))
		byProcedure[p] = append(byProcedure[p], f)
	}

	fixtures := filepath.Join(repoRoot, "testdata", "fixtures")
	if _, err := os.Stat(fixtures); errors.Is(err, os.ErrNotExist) {
		t.Logf("%s does not exist yet: validating templates only", fixtures)
	} else {
		expects, err := filepath.Glob(filepath.Join(fixtures, "*", "*", "expect.json"))
		if err != nil {
			t.Fatal(err)
		}
		accepted := 0
		for _, e := range expects {
			dir := filepath.Dir(e)
			request := filepath.Join(dir, "request.xml")
			if _, err := os.Stat(request); err != nil || fixtureStatus(t, e) != 202 {
				continue
			}
			p := filepath.Base(filepath.Dir(dir))
			byProcedure[p] = append(byProcedure[p], request)
			accepted++
		}
		t.Logf("%d accepted XML fixtures under %s", accepted, fixtures)
	}

	for procedure, files := range byProcedure {
		t.Run(procedure, func(t *testing.T) {
			t.Parallel()
			xsdPath := procedureXSD(procedure)
			if _, err := os.Stat(xsdPath); err != nil {
				t.Fatalf("procedure %s has no XSD: %v", procedure, err)
			}
			for f, reasons := range xmllint(t, xsdPath, files...) {
				if reasons != "" {
					t.Errorf("%s is not valid under %s:\n%s", f, xsdPath, reasons)
				}
			}
		})
	}
}

func fixtureStatus(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var expect struct {
		Status int `json:"status"`
	}
	if err := json.Unmarshal(data, &expect); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return expect.Status
}

// TestXSDRejectsInvalidDossiers edits a valid template in one place at a time and checks
// that xmllint then refuses it, so that the validation above can fail.
func TestXSDRejectsInvalidDossiers(t *testing.T) {
	t.Parallel()
	const procedure = "chi-thuong-xuyen"
	template, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "templates", procedure, "dossier.xml"))
	if err != nil {
		t.Fatal(err)
	}
	const signature = `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/></ds:Signature>`
	tests := []struct {
		name  string
		edit  func(string) string
		valid bool
	}{
		{"template as is", replace("", ""), true},
		{"signature after the content", replace("</HoSo>", signature+"</HoSo>"), true},
		{"two signatures", replace("</HoSo>", signature+signature+"</HoSo>"), true},
		{"optional element left out", replace("<soBoSung>0</soBoSung>", ""), true},
		{"7-digit code with letters", replace("<maDVQHNS>1012345</maDVQHNS>", "<maDVQHNS>10123AB</maDVQHNS>"), false},
		{"7-digit code too long", replace("<maDVQHNS>1012345</maDVQHNS>", "<maDVQHNS>10123456</maDVQHNS>"), false},
		{"unanchored match is not enough", replace("<maKBNN>0011</maKBNN>", "<maKBNN>x0011</maKBNN>"), false},
		{"required element missing", replace("<maKBNN>0011</maKBNN>", ""), false},
		{"elements out of schema order", replace("<maDVQHNS>1012345</maDVQHNS>\n  <maKBNN>0011</maKBNN>", "<maKBNN>0011</maKBNN>\n  <maDVQHNS>1012345</maDVQHNS>"), false},
		{"undeclared element", replace("<nienDo>2026</nienDo>", "<nienDo>2026</nienDo><ghiChu>x</ghiChu>"), false},
		{"wrong const", replace("<thuTuc>chi-thuong-xuyen</thuTuc>", "<thuTuc>von-dau-tu</thuTuc>"), false},
		{"value outside enum", replace("<tinhChat>thuc-chi</tinhChat>", "<tinhChat>khac</tinhChat>"), false},
		{"integer outside enum", replace("<loaiDuToan>0</loaiDuToan>", "<loaiDuToan>2</loaiDuToan>"), false},
		{"amount with decimals", replace("<tongSoTien>187500000</tongSoTien>", "<tongSoTien>187500000.5</tongSoTien>"), false},
		{"negative amount", replace("<tongSoTien>187500000</tongSoTien>", "<tongSoTien>-1</tongSoTien>"), false},
		{"amount above maximum", replace("<tongSoTien>187500000</tongSoTien>", "<tongSoTien>1000000000000000</tongSoTien>"), false},
		{"year below minimum", replace("<nienDo>2026</nienDo>", "<nienDo>1999</nienDo>"), false},
		{"date-time without offset", replace("2026-06-09T08:30:00+07:00", "2026-06-09T08:30:00"), false},
		{"date-time at hour 24", replace("2026-06-09T08:30:00+07:00", "2026-06-09T24:00:00+07:00"), false},
		{"date with a time zone", replace("<ngayChungTu>2026-06-09</ngayChungTu>", "<ngayChungTu>2026-06-09Z</ngayChungTu>"), false},
		{"impossible date", replace("<ngayChungTu>2026-06-09</ngayChungTu>", "<ngayChungTu>2026-02-30</ngayChungTu>"), false},
		{"string shorter than minLength", replace("<soChungTu>125/2026</soChungTu>", "<soChungTu></soChungTu>"), false},
		{"string longer than maxLength", replace("<soChungTu>125/2026</soChungTu>", "<soChungTu>123456789012345678901</soChungTu>"), false},
		{"required array empty", func(s string) string { return allLines.ReplaceAllString(s, "") }, false},
		{"signature before the content", replace(`<HoSo Id="HS-G09.20-20260609-0000001">`, `<HoSo Id="HS-G09.20-20260609-0000001">`+signature), false},
		{"signature in another namespace", replace("</HoSo>", `<Signature xmlns="urn:x"/></HoSo>`), false},
		{"Id missing", replace(` Id="HS-G09.20-20260609-0000001"`, ""), false},
		{"Id not an XML ID", replace(`Id="HS-G09.20-20260609-0000001"`, `Id="1 2"`), false},
		{"root namespaced", replace(`<HoSo Id=`, `<HoSo xmlns="urn:kbnn" Id=`), false},
	}
	dir := t.TempDir()
	files := make([]string, len(tests))
	for i, tc := range tests {
		doc := tc.edit(string(template))
		if tc.name != "template as is" && doc == string(template) {
			t.Fatalf("%s: the edit changed nothing", tc.name)
		}
		files[i] = filepath.Join(dir, fmt.Sprintf("case-%02d.xml", i))
		if err := os.WriteFile(files[i], []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	verdicts := xmllint(t, procedureXSD(procedure), files...)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reasons := verdicts[files[i]]
			if tc.valid && reasons != "" {
				t.Errorf("want valid, xmllint refused it:\n%s", reasons)
			}
			if !tc.valid && reasons == "" {
				t.Errorf("want refused, xmllint accepted it")
			}
		})
	}
}

var allLines = regexp.MustCompile(`(?s)<taiLieu>.*</taiLieu>`)

// replace returns an edit replacing the first old with new.
func replace(old, new string) func(string) string {
	return func(s string) string { return strings.Replace(s, old, new, 1) }
}

// TestGoldenXSDAcceptsInstance checks that libxml2 compiles the kitchen-sink XSD, every
// construct the generator emits, and accepts an instance using them.
func TestGoldenXSDAcceptsInstance(t *testing.T) {
	t.Parallel()
	instance := filepath.Join("testdata", "kitchen-sink.xml")
	if reasons := xmllint(t, goldenXSD, instance)[instance]; reasons != "" {
		t.Errorf("%s is not valid under %s:\n%s", instance, goldenXSD, reasons)
	}
}
