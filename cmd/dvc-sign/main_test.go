package main

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/mod/sumdb/note"
)

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	pki := testPKIDir(t)
	tests := []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"no command", nil, 2, "usage: dvc-sign"},
		{"unknown command", []string{"verify"}, 2, `unknown command "verify"`},
		{"help", []string{"help"}, 0, "fixtures"},
		{"command help", []string{"sign", "-h"}, 0, "-signer"},
		{"bad flag", []string{"sign", "-nope"}, 2, "flag provided but not defined"},
		{"stray argument", []string{"fixtures", "extra"}, 2, "unexpected arguments"},
		{"sign without input", []string{"sign", "-signer", "chu-tai-khoan"}, 1, "-in and -out are required"},
		{"sign without signer", []string{"sign", "-in", "x.xml", "-out", "y.xml"}, 1, "at least one -signer"},
		{"pki over existing", []string{"pki", "-out", pki}, 1, "-force"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCLI(tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Fatalf("exit %d, output %q; want %d and %q", code, out+errOut, tc.code, tc.want)
			}
		})
	}
}

func TestRunSign(t *testing.T) {
	t.Parallel()
	pki := testPKIDir(t)
	dir := t.TempDir()
	xmlIn, jsonIn := filepath.Join(dir, "t.xml"), filepath.Join(dir, "t.json")
	if err := os.WriteFile(xmlIn, []byte(sampleXML), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jsonIn, []byte(sampleJSON+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, filepath.Join(pki, "root-ca.crt")))
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  string // prefix of stdout
		headers []string
		sigs    int    // XML signatures that must verify
		jwsAlg  string // JSON: alg of every JWS
		errText string
	}{
		{name: "xml two signers", args: []string{"-in", xmlIn, "-signer", "chu-tai-khoan", "-signer", "ke-toan-truong", "-headers", "h"},
			headers: []string{"Content-Type: application/xml", "Authorization: Bearer dev-portal-token"}, sigs: 2},
		{name: "xml exc-c14n sha384", args: []string{"-in", xmlIn, "-signer", "chu-tai-khoan", "-c14n", "exc-c14n", "-alg", "rsa-sha384"}, sigs: 1},
		{name: "xml ecdsa", args: []string{"-in", xmlIn, "-signer", "ecdsa-signer"}, sigs: 1},
		{name: "json prints header", args: []string{"-in", jsonIn, "-signer", "chu-tai-khoan", "-signer", "ke-toan-truong"},
			stdout: "X-JWS-Signature: ey", jwsAlg: "RS256"},
		{name: "json headers file", args: []string{"-in", jsonIn, "-signer", "ecdsa-signer", "-headers", "h", "-token", "tok"},
			headers: []string{"Content-Type: application/json", "Authorization: Bearer tok", "X-JWS-Signature: ey"}, jwsAlg: "ES256"},
		{name: "json RS512", args: []string{"-in", jsonIn, "-signer", "chu-tai-khoan", "-alg", "rsa-sha512"}, stdout: "X-JWS-Signature: ", jwsAlg: "RS512"},
		{name: "unknown signer", args: []string{"-in", xmlIn, "-signer", "thu-quy"}, code: 1, errText: "no certificate"},
		{name: "alg for another key", args: []string{"-in", xmlIn, "-signer", "ecdsa-signer", "-alg", "rsa-sha256"}, code: 1, errText: "incompatible"},
		{name: "unknown json alg", args: []string{"-in", jsonIn, "-signer", "chu-tai-khoan", "-alg", "hs256"}, code: 1, errText: "no JWS algorithm"},
		{name: "missing input", args: []string{"-in", filepath.Join(dir, "none.xml"), "-signer", "chu-tai-khoan"}, code: 1, errText: "no such file"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			caseDir := filepath.Join(dir, "case", string(rune('a'+i)))
			if err := os.MkdirAll(caseDir, 0o755); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(caseDir, "out")
			args := append([]string{"sign", "-pki", pki, "-out", out}, tc.args...)
			for j := range args {
				if args[j] == "h" {
					args[j] = filepath.Join(caseDir, "headers.txt")
				}
			}
			code, stdout, stderr := runCLI(args...)
			if code != tc.code {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if tc.code != 0 {
				if !strings.Contains(stderr, tc.errText) {
					t.Errorf("stderr %q, want %q", stderr, tc.errText)
				}
				return
			}
			if !strings.HasPrefix(stdout, tc.stdout) || (tc.stdout == "" && stdout != "") {
				t.Errorf("stdout %q, want prefix %q", stdout, tc.stdout)
			}
			body, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			header := strings.TrimSpace(strings.TrimPrefix(stdout, "X-JWS-Signature: "))
			if len(tc.headers) > 0 {
				h, _ := os.ReadFile(filepath.Join(caseDir, "headers.txt"))
				for _, w := range tc.headers {
					if !strings.Contains(string(h), w) {
						t.Errorf("headers.txt %q lacks %q", h, w)
					}
				}
				header = readHeaders(t, filepath.Join(caseDir, "headers.txt"))[jwsHeader]
			}
			if tc.jwsAlg == "" {
				if n, err := verifyXML(body); err != nil || n != tc.sigs {
					t.Fatalf("verified %d signatures (%v), want %d", n, err, tc.sigs)
				}
				return
			}
			if string(body) != sampleJSON+"\n" {
				t.Error("JSON body changed")
			}
			for _, p := range strings.Split(header, ",") {
				obj, err := jose.ParseDetached(p, body, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(tc.jwsAlg)})
				if err != nil {
					t.Fatalf("JWS: %v", err)
				}
				chains, err := obj.Signatures[0].Protected.Certificates(x509.VerifyOptions{
					Roots: roots, CurrentTime: receivedAt, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
				if err != nil {
					t.Fatalf("x5c: %v", err)
				}
				if _, err := obj.Verify(chains[0][0].PublicKey); err != nil {
					t.Fatalf("JWS verify: %v", err)
				}
			}
		})
	}
}

func TestRunFixtures(t *testing.T) {
	t.Parallel()
	templates, out := writeOwnTemplates(t), t.TempDir()
	code, stdout, stderr := runCLI("fixtures", "-templates", templates, "-pki", testPKIDir(t), "-out", out)
	if code != 0 || !strings.Contains(stdout, "wrote 43 fixture cases") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if readme, err := os.ReadFile(filepath.Join(out, "README.md")); err != nil || !strings.Contains(string(readme), "| large-payroll | XML | 202 |") {
		t.Errorf("fixtures README: %v", err)
	}
}

// TestLogKey generates a log key pair whose signer and verifier belong
// together, and refuses to overwrite it without -force.
func TestLogKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if code, _, errOut := runCLI("logkey", "-name", "kbnn-dvc-adapter/t1", "-out", dir); code != 0 {
		t.Fatalf("logkey: exit %d: %s", code, errOut)
	}
	skey, err := os.ReadFile(filepath.Join(dir, "adapter-log.key"))
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := os.ReadFile(filepath.Join(dir, "adapter-log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	if signer.Name() != "kbnn-dvc-adapter/t1" {
		t.Errorf("key name %q", signer.Name())
	}
	msg, err := note.Sign(&note.Note{Text: "hello\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(verifier)); err != nil {
		t.Errorf("the verifier key does not verify the signer's note: %v", err)
	}
	if code, _, errOut := runCLI("logkey", "-name", "x", "-out", dir); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("second logkey without -force: exit %d: %s", code, errOut)
	}
}
