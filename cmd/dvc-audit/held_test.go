package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/auditlog"
)

// A receipt's heldSha256 is bound to its leaf like its bodySha256: one
// stripped of it, or naming other bytes, does not verify; the whole one
// does, and says that the document holds other bytes.
func TestVerifyReceiptBindsHeldSHA256(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := auditlog.Open(auditlog.Options{Dir: dir, Signer: logSigner(t), Tick: make(chan time.Time), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	retry := []byte(`{"maHoSo":"D-1" }`)
	held := auditlog.BodyHash([]byte(`{"maHoSo":"D-1"}`))
	rc, err := l.AppendBody(context.Background(), auditlog.Record{Time: t0, Instance: "test", Route: "r", Status: 202, HeldSHA256: held}, retry)
	if err != nil || rc.HeldSHA256 != held {
		t.Fatal(err, rc)
	}
	if err := l.PublishCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	write := tempWriter(t)
	_, proofText, _ := runCLI("proof", dir, "0")
	var leaf []byte
	if err := auditlog.Scan(dir, func(ln auditlog.Line) error { leaf = ln.Leaf; return nil }); err != nil {
		t.Fatal(err)
	}
	verify := func(name string, r auditlog.Receipt) (int, string) {
		b, _ := json.Marshal(map[string]any{"receipt": r})
		code, out, errOut := runCLI("verify-receipt", "-receipt", write(name+".json", b), "-proof", write("proof", []byte(proofText)),
			"-vkey", vkeyPath, "-entry", write("leaf", leaf), "-body", write("body", retry))
		return code, out + errOut
	}
	if code, out := verify("whole", rc); code != 0 || !strings.Contains(out, "heldSha256") || !strings.Contains(out, held) {
		t.Fatalf("the whole receipt: exit %d %s", code, out)
	}
	for name, h := range map[string]string{"stripped": "", "other": strings.Repeat("cd", 32)} {
		forged := rc
		forged.HeldSHA256 = h
		if code, out := verify(name, forged); code == 0 || !strings.Contains(out, "heldSha256") {
			t.Errorf("%s heldSha256 (the leaf has %s): exit %d %s", name, held, code, out)
		}
	}
}
