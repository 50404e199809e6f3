package testpki

import (
	"strings"
	"testing"
)

func TestPKIDirSigner(t *testing.T) {
	t.Parallel()
	p := NewDir(testPKIDir(t))
	tests := []struct {
		name      string
		chainCNs  []string
		wantError string
	}{
		{name: "chu-tai-khoan", chainCNs: []string{"Nguyen Van A", "KBNN Test Signing CA"}},
		{name: "ke-toan-truong", chainCNs: []string{"Tran Thi B", "KBNN Test Signing CA"}},
		{name: "ecdsa-signer", chainCNs: []string{"Vu Thi F", "KBNN Test Signing CA"}},
		{name: "untrusted-signer", chainCNs: []string{"Le Van C"}},
		{name: "intermediate-ca", chainCNs: []string{"KBNN Test Signing CA"}},
		{name: "root-ca", chainCNs: []string{"KBNN Test Root CA"}},
		{name: "nobody", wantError: "no certificate"},
		{name: "../pki/root-ca", wantError: "invalid signer name"},
		{name: "", wantError: "invalid signer name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := p.signer(tc.name)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("error %v, want %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range s.Chain {
				got = append(got, c.Subject.CommonName)
			}
			if strings.Join(got, "|") != strings.Join(tc.chainCNs, "|") {
				t.Errorf("chain %v, want %v", got, tc.chainCNs)
			}
		})
	}
}

func TestPKIDirMissingFolder(t *testing.T) {
	t.Parallel()
	if _, err := NewDir(t.TempDir()).signer("chu-tai-khoan"); err == nil {
		t.Fatal("signer from an empty folder")
	}
}
