package main

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/kbnn/dvc/adapter/auditlog"
)

// checkEvidence stops the fleet (SIGKILL), reopens each instance's evidence
// log as a restarted instance would (dropping a torn last record), and
// checks that every 202 the client saw has its leaf, at the receipt's index
// in the log of the receipt's instance, and that each log verifies whole
// against its instance's key.
func checkEvidence(t *testing.T, r *batchResult) {
	t.Helper()
	r.fleet.stop()
	logs := map[string]string{} // origin -> log directory
	for _, in := range r.fleet.insts {
		base := strings.TrimSuffix(in.cfg, ".yaml")
		dir, origin := base+".evidence", auditlog.OriginFor(filepath.Base(base))
		logs[origin] = dir
		v := verifier(t, base+".vkey")
		skey, err := os.ReadFile(base + ".logkey")
		if err != nil {
			t.Fatal(err)
		}
		signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
		if err != nil {
			t.Fatal(err)
		}
		l, err := auditlog.Open(auditlog.Options{Dir: dir, Signer: signer})
		if err != nil {
			t.Fatalf("%s: reopening the evidence log after SIGKILL: %v", in.name, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := auditlog.Verify(dir, v); err != nil {
			t.Errorf("%s: dvc-audit verify: %v", in.name, err)
		}
	}
	leaves := map[string]map[uint64]string{} // origin -> index -> leaf hash
	for origin, dir := range logs {
		m := map[uint64]string{}
		if err := auditlog.Scan(dir, func(ln auditlog.Line) error {
			m[ln.Index] = hex.EncodeToString(ln.LeafHash)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		leaves[origin] = m
	}
	seen := 0
	for _, o := range r.outs {
		if !o.ok {
			continue
		}
		var a struct {
			Receipt *auditlog.Receipt `json:"receipt"`
		}
		if err := json.Unmarshal(o.final.body, &a); err != nil || a.Receipt == nil {
			t.Errorf("%s: 202 without a receipt: %s", o.d.code, o.final.body)
			continue
		}
		rc := a.Receipt
		if got, ok := leaves[rc.LogOrigin][rc.LogIndex]; !ok || got != rc.LeafHash {
			t.Errorf("%s: receipt %+v has no leaf in its instance's log", o.d.code, *rc)
		}
		seen++
	}
	t.Logf("evidence: %d receipts checked against %d logs", seen, len(logs))
}

func verifier(t *testing.T, path string) note.Verifier {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
