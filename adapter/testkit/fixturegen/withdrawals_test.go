package fixturegen

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kbnn/dvc/adapter/testkit/testpki"
)

// wantWithdrawalCases is the withdrawal fixture contract, written out independently of
// withdrawalCases: form, the submission case whose dossier it withdraws ("" for none), who
// signs, and the answer.
var wantWithdrawalCases = map[string]struct {
	json    bool
	target  string
	signers []string
	status  int
	code    string
}{
	"withdrawal-xml":              {false, "valid-xml", []string{"chu-tai-khoan"}, 202, ""},
	"withdrawal-json":             {true, "valid-json", []string{"chu-tai-khoan"}, 202, ""},
	"withdrawal-unsigned":         {false, "valid-xml", nil, 400, "signature-missing"},
	"withdrawal-wrong-signer":     {false, "valid-xml", []string{"ke-toan-truong"}, 400, "signer-role-missing"},
	"withdrawal-tampered":         {false, "valid-xml", []string{"chu-tai-khoan"}, 400, "signature-invalid"},
	"withdrawal-schema-violation": {true, "valid-json", []string{"chu-tai-khoan"}, 422, "schema-violation"},
	"withdrawal-unknown-dossier":  {true, "", []string{"chu-tai-khoan"}, 404, "not-found"},
}

var reWithdrawalID = regexp.MustCompile(`<YeuCauRutHoSo Id="([^"]*)"`)

// checkWithdrawals checks every withdrawal case folder under out against
// wantWithdrawalCases: its expectation and headers, the dossier it names (the one its
// target submission case sends, in the submission fixtures under fixtures), and its
// signatures.
func checkWithdrawals(t *testing.T, templates, out, fixtures, pki string) {
	t.Helper()
	procs, err := fixtureGenerator{templates: templates}.procedures()
	if err != nil {
		t.Fatal(err)
	}
	for _, proc := range procs {
		entries, err := os.ReadDir(filepath.Join(out, proc))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != len(wantWithdrawalCases) {
			t.Errorf("%s: %d withdrawal case folders, want %d", proc, len(entries), len(wantWithdrawalCases))
		}
		for _, e := range entries {
			t.Run(proc+"/"+e.Name(), func(t *testing.T) {
				checkWithdrawal(t, filepath.Join(out, proc, e.Name()), e.Name(), filepath.Join(fixtures, proc), pki)
			})
		}
	}
}

func checkWithdrawal(t *testing.T, dir, name, fixtures, pki string) {
	want, ok := wantWithdrawalCases[name]
	if !ok {
		t.Fatalf("unexpected withdrawal case folder %s", name)
	}
	if status, code := readExpect(t, filepath.Join(dir, "expect.json")); status != want.status || code != want.code {
		t.Errorf("expect.json %d %q, want %d %q", status, code, want.status, want.code)
	}
	h := readHeaders(t, filepath.Join(dir, "headers.txt"))
	ct, file := "application/xml", "request.xml"
	if want.json {
		ct, file = "application/json", "request.json"
	}
	if h["Content-Type"] != ct || h["Authorization"] != "Bearer dev-portal-token" {
		t.Errorf("headers %v", h)
	}
	body, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	var code string
	if want.json {
		m := reJSONCode.FindSubmatch(body)
		if m == nil {
			t.Fatal("no maHoSo")
		}
		code = string(m[1])
		if _, hasJWS := h[jwsHeader]; hasJWS != (len(want.signers) > 0) {
			t.Errorf("%s present: %v", jwsHeader, hasJWS)
		}
		if len(want.signers) > 0 {
			checkJSONCase(t, name, body, h[jwsHeader], want.signers, pki)
		}
	} else {
		m, id := reXMLCode.FindSubmatch(body), reWithdrawalID.FindSubmatch(body)
		if m == nil || id == nil || string(id[1]) != withdrawalIDPrefix+string(m[1]) {
			t.Fatalf("root Id %q does not match maHoSo %q", id, m)
		}
		code = string(m[1])
		n, err := verifyXML(body)
		switch {
		case name == "withdrawal-tampered" && err == nil:
			t.Error("the tampered withdrawal verifies")
		case name != "withdrawal-tampered" && (err != nil || n != len(want.signers)):
			t.Errorf("verified %d signatures (%v), want %d", n, err, len(want.signers))
		}
		for i, sig := range mustParse(t, body).SelectElements("Signature") {
			cert, err := parseB64Cert(sig.FindElement("./KeyInfo/X509Data/X509Certificate").Text())
			if err != nil {
				t.Fatal(err)
			}
			if cert.Subject.CommonName != signerCN[want.signers[i]] {
				t.Errorf("signature %d by %q, want %s", i+1, cert.Subject.CommonName, want.signers[i])
			}
		}
	}
	if want.target == "" {
		if !strings.HasSuffix(code, "-0000999") {
			t.Errorf("maHoSo %s, want a dossier no fixture submits", code)
		}
		return
	}
	target, err := os.ReadFile(filepath.Join(fixtures, want.target, file))
	if err != nil {
		t.Fatal(err)
	}
	re := reXMLCode
	if want.json {
		re = reJSONCode
	}
	if m := re.FindSubmatch(target); m == nil || string(m[1]) != code {
		t.Errorf("maHoSo %s, want the dossier of %s (%q)", code, want.target, m)
	}
}

// TestCommittedWithdrawalsUpToDate regenerates testdata/withdrawals from the committed
// templates and PKI, compares byte for byte, and checks every case.
func TestCommittedWithdrawalsUpToDate(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..", "..", "testdata")
	fresh := t.TempDir()
	n, err := GenerateWithdrawals(filepath.Join(root, "templates"), fresh, testpki.NewDir(filepath.Join(root, "pki")))
	if err != nil {
		t.Fatal(err)
	}
	if n < len(wantWithdrawalCases) {
		t.Fatalf("%d withdrawal cases written, want at least %d", n, len(wantWithdrawalCases))
	}
	if diff := compareTrees(t, fresh, filepath.Join(root, "withdrawals")); diff != "" {
		t.Fatalf("testdata/withdrawals is stale (%s); run: go run ./cmd/dvc-sign fixtures", diff)
	}
	checkWithdrawals(t, filepath.Join(root, "templates"), filepath.Join(root, "withdrawals"),
		filepath.Join(root, "fixtures"), filepath.Join(root, "pki"))
}

// Templates without withdrawal templates give no withdrawal fixtures; a withdrawal.xml
// without its withdrawal.json is an error.
func TestGenerateWithdrawalsTemplates(t *testing.T) {
	t.Parallel()
	templates := writeOwnTemplates(t)
	out := filepath.Join(t.TempDir(), "withdrawals")
	n, err := GenerateWithdrawals(templates, out, testpki.NewDir(testPKIDir(t)))
	if err != nil || n != 0 {
		t.Fatalf("%d cases, %v; want none", n, err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s was written: %v", out, err)
	}
	real, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "templates", "chi-thuong-xuyen", withdrawalXMLTemplate))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(templates, "thu-b", withdrawalXMLTemplate), real, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateWithdrawals(templates, out, testpki.NewDir(testPKIDir(t))); err == nil || !strings.Contains(err.Error(), withdrawalJSONTemplate) {
		t.Fatalf("error %v, want one naming %s", err, withdrawalJSONTemplate)
	}
}
