package app

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/kbnn/dvc/adapter/auditlog"
)

// A signer key's base64 part often holds "+", the separator of the key's
// other parts: the verifier written beside the log is still the key's own.
func TestWriteVerifierKeyWithPlus(t *testing.T) {
	for i := 0; i < 1000; i++ {
		skey, vkey, err := note.GenerateKey(rand.Reader, auditlog.OriginFor("test"))
		if err != nil {
			t.Fatal(err)
		}
		if parts := strings.SplitN(skey, "+", 5); !strings.Contains(parts[4], "+") {
			continue
		}
		dir := t.TempDir()
		v, err := verifierKey(skey)
		if err == nil {
			err = writeVerifier(dir, v)
		}
		if err != nil {
			t.Fatalf("key %s: %v", skey, err)
		}
		got, err := os.ReadFile(filepath.Join(dir, auditlog.VerifierFile))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(got)) != vkey {
			t.Fatalf("verifier %q, want %q", got, vkey)
		}
		return
	}
	t.Fatal("no key of 1,000 had a + in its base64 part")
}
