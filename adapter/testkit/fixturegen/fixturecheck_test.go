package fixturegen

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// signerCN is the subject CN of each PKI signer.
var signerCN = map[string]string{
	"chu-tai-khoan": "Nguyen Van A", "ke-toan-truong": "Tran Thi B", "untrusted-signer": "Le Van C",
	"expired": "Pham Van D", "revoked": "Hoang Van E",
}

// expectedSigners is who must have signed each case, in signing order.
func expectedSigners(c string, s procedureSpec) []string {
	replaceFirst := func(n string) []string { return append([]string{n}, s.Signers[1:]...) }
	switch c {
	case "no-signature", "no-signature-json":
		return nil
	case "missing-signer":
		return s.MissingSigner
	case "untrusted-ca":
		return replaceFirst("untrusted-signer")
	case "expired", "revoked":
		return replaceFirst(c)
	}
	return s.Signers
}

// checkFixtures checks every case folder under out against wantCases and the
// signatures in it against what the case says.
func checkFixtures(t *testing.T, templates, out, pki string) {
	t.Helper()
	procs, err := fixtureGenerator{templates: templates}.procedures()
	if err != nil {
		t.Fatal(err)
	}
	for _, proc := range procs {
		spec, err := readProcedureSpec(filepath.Join(templates, proc, "cases.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(filepath.Join(out, proc))
		if err != nil {
			t.Fatal(err)
		}
		want := len(wantCases)
		if spec.LargeLines == nil {
			want--
		}
		if spec.UnregisteredSigner == nil {
			want--
		}
		for _, c := range fixtureCases {
			if c.code == "business-rule-violation" && !c.applies(spec) {
				want--
			}
		}
		if _, err := os.Stat(filepath.Join(out, proc, "attachment-missing")); err != nil {
			want -= 2 // a template that lists no attachments has no attachment cases
		}
		if len(entries) != want {
			t.Errorf("%s: %d case folders, want %d", proc, len(entries), want)
		}
		codes := map[string]string{}
		for _, e := range entries {
			t.Run(proc+"/"+e.Name(), func(t *testing.T) {
				code := checkCase(t, filepath.Join(out, proc, e.Name()), e.Name(), spec, pki)
				if other, dup := codes[code]; dup {
					t.Errorf("dossier code %s also used by %s", code, other)
				}
				codes[code] = e.Name()
			})
		}
	}
}

// checkCase returns the case's dossier code.
func checkCase(t *testing.T, dir, name string, spec procedureSpec, pki string) string {
	want, ok := wantCases[name]
	if !ok {
		t.Fatalf("unexpected case folder %s", name)
	}
	if status, code := readExpect(t, filepath.Join(dir, "expect.json")); status != want.status || code != want.code {
		t.Errorf("expect.json %d %q, want %d %q", status, code, want.status, want.code)
	}
	h := readHeaders(t, filepath.Join(dir, "headers.txt"))
	ct := "application/xml"
	if want.json {
		ct = "application/json"
	}
	if name == "wrong-content-type" {
		ct = "text/plain"
	}
	if h["Content-Type"] != ct {
		t.Errorf("Content-Type %q, want %q", h["Content-Type"], ct)
	}
	if got, wantAuth := h["Authorization"], name != "no-credential"; (got == "Bearer dev-portal-token") != wantAuth {
		t.Errorf("Authorization %q (want present: %v)", got, wantAuth)
	}
	_, hasJWS := h[jwsHeader]
	if hasJWS != (want.json && name != "no-signature-json") {
		t.Errorf("%s present: %v", jwsHeader, hasJWS)
	}
	signers := expectedSigners(name, spec)
	if want.json {
		body, err := os.ReadFile(filepath.Join(dir, "request.json"))
		if err != nil {
			t.Fatal(err)
		}
		checkJSONCase(t, name, body, h[jwsHeader], signers, pki)
		m := reJSONCode.FindSubmatch(body)
		if m == nil {
			t.Fatal("no maHoSo")
		}
		return string(m[1])
	}
	body, err := os.ReadFile(filepath.Join(dir, "request.xml"))
	if err != nil {
		t.Fatal(err)
	}
	checkXMLCase(t, name, body, signers, spec)
	code, id := reXMLCode.FindSubmatch(body), reXMLID.FindSubmatch(body)
	if code == nil || id == nil || string(id[1]) != idPrefix+string(code[1]) {
		t.Fatalf("root Id %q does not match maHoSo %q", id, code)
	}
	return string(code[1])
}

func checkXMLCase(t *testing.T, name string, body []byte, signers []string, spec procedureSpec) {
	t.Helper()
	switch name {
	case "malformed":
		if _, err := parseXML(body); err == nil {
			t.Error("malformed body parses")
		}
		return
	case "doctype":
		decl := []byte("?>\n" + doctypeDecl + "\n<HoSo ")
		i := strings.Index(string(body), string(decl))
		if i < 0 {
			t.Fatalf("no DOCTYPE right after the XML declaration: %.120q", body)
		}
		body = append(append([]byte{}, body[:i+2]...), body[i+len(decl)-7:]...)
	}
	n, err := verifyXML(body)
	switch name {
	case "tampered-amount", "wrapped-signature":
		if err == nil {
			t.Error("tampered document verifies")
		}
		if !strings.Contains(string(body), ">"+spec.Tamper.Value+"<") {
			t.Error("tamper value not in the document")
		}
		return
	}
	if err != nil || n != len(signers) {
		t.Fatalf("verified %d signatures (%v), want %d", n, err, len(signers))
	}
	root := mustParse(t, body)
	sigs := root.SelectElements("Signature")
	for i, sig := range sigs {
		cert, err := parseB64Cert(sig.FindElement("./KeyInfo/X509Data/X509Certificate").Text())
		if err != nil {
			t.Fatal(err)
		}
		if cert.Subject.CommonName != signerCN[signers[i]] {
			t.Errorf("signature %d by %q, want %s", i+1, cert.Subject.CommonName, signers[i])
		}
		method := sig.FindElement("./SignedInfo/SignatureMethod").SelectAttrValue("Algorithm", "")
		if wantSHA1 := name == "wrong-algorithm"; strings.HasSuffix(method, "rsa-sha1") != wantSHA1 {
			t.Errorf("signature %d method %s", i+1, method)
		}
	}
	check := func(e valueEdit) {
		if el, err := xmlFind(root, e.Path); err != nil || el.Text() != e.Value {
			t.Errorf("%s is not %q", e.Path, e.Value)
		}
	}
	switch name {
	case "unsigned-node":
		if sigs[len(sigs)-1].FindElement("./Object/soTien") == nil {
			t.Error("no unsigned node in the last signature")
		}
	case "schema-violation":
		check(spec.SchemaViolation)
	case "treasury-refusal":
		check(spec.Refusal)
	case "unregistered-signer":
		check(*spec.UnregisteredSigner)
	case "rule-wrong-total":
		check(*spec.RuleTotal)
	case "rule-wrong-words":
		check(*spec.RuleWords)
	case "rule-advance-recovery":
		check(*spec.RuleAdvance)
	case "large-payroll":
		steps := splitPath(spec.LargeLines.Path)
		parent, err := xmlFind(root, strings.Join(steps[:len(steps)-1], "/"))
		if err != nil || len(parent.SelectElements(steps[len(steps)-1])) != spec.LargeLines.Count {
			t.Errorf("payroll does not have %d lines", spec.LargeLines.Count)
		}
	}
}

func checkJSONCase(t *testing.T, name string, body []byte, header string, signers []string, pki string) {
	t.Helper()
	if _, err := parseJSON(body); err != nil {
		t.Fatalf("body: %v", err)
	}
	if name == "no-signature-json" {
		return
	}
	parts := strings.Split(header, ",")
	if len(parts) != len(signers) {
		t.Fatalf("%d JWS, want %d", len(parts), len(signers))
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, filepath.Join(pki, "root-ca.crt")))
	wantAlg := "RS256"
	if name == "wrong-algorithm-json" {
		wantAlg = "RS512"
	}
	for i, p := range parts {
		obj, err := jose.ParseDetached(p, body, []jose.SignatureAlgorithm{jose.RS256, jose.RS512, jose.ES256})
		if err != nil {
			t.Fatalf("JWS %d: %v", i+1, err)
		}
		hdr := obj.Signatures[0].Protected
		if hdr.Algorithm != wantAlg {
			t.Errorf("JWS %d alg %s, want %s", i+1, hdr.Algorithm, wantAlg)
		}
		chains, err := hdr.Certificates(x509.VerifyOptions{Roots: roots, CurrentTime: receivedAt,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			t.Fatalf("JWS %d x5c: %v", i+1, err)
		}
		leaf := chains[0][0]
		if leaf.Subject.CommonName != signerCN[signers[i]] {
			t.Errorf("JWS %d by %q, want %s", i+1, leaf.Subject.CommonName, signers[i])
		}
		_, err = obj.Verify(leaf.PublicKey)
		if tampered := name == "tampered-json"; (err == nil) == tampered {
			t.Errorf("JWS %d verify: %v (body tampered: %v)", i+1, err, tampered)
		}
	}
}
