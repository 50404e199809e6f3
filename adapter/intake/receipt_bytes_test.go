package intake

import (
	"encoding/json"
	"testing"

	"github.com/kbnn/dvc/adapter/auditlog"
)

// The treasury took the first attempt (its answer was lost); the retry
// under the same Idempotency-Key brings the same dossier in other bytes
// (here one more space, signed again). The 202's receipt names the retry's
// bytes as received, and beside them the bytes the treasury holds, the
// first attempt's (heldSha256): it does not let the retry's pass for them.
func TestRetryWithOtherBytesNamesTheBytesTheTreasuryHolds(t *testing.T) {
	svc, fs, lg, first := afterALostAnswer(t)
	jb, retry := first.Body, first
	jb2 := append([]byte(" "), jb...)
	retry.RequestID, retry.Body, retry.JWSSignature = "r2", jb2, signJWS(t, jb2, both...)
	resp, err := svc.Submit(t.Context(), retry)
	if err != nil || resp.Status != 202 {
		t.Fatalf("retry: %v", err)
	}
	var acc struct {
		TreasuryReference string            `json:"treasuryReference"`
		Receipt           *auditlog.Receipt `json:"receipt"`
	}
	if err := json.Unmarshal(resp.Body, &acc); err != nil || acc.Receipt == nil {
		t.Fatalf("answer %s: %v", resp.Body, err)
	}
	if n := len(fs.sent()); n != 1 {
		t.Fatalf("%d documents sent, want the first attempt's only", n)
	}
	held := evidenceSHA(fs.sent()[0].evidence)
	if held != auditlog.BodyHash(jb) || acc.Receipt.BodySHA256 != auditlog.BodyHash(jb2) || acc.Receipt.HeldSHA256 != held {
		t.Fatalf("receipt for body %s, held %q; want the retry's %s and the treasury's %s", acc.Receipt.BodySHA256, acc.Receipt.HeldSHA256, auditlog.BodyHash(jb2), held)
	}
	if last := lg.leaves[len(lg.leaves)-1]; last.Status != 202 || last.HeldSHA256 != held || last.BodySHA256 != auditlog.BodyHash(jb2) {
		t.Fatalf("202 leaf %+v", last)
	}
	// Both bodies were received; the 202 leaf names the held one.
	var received []string
	for _, l := range lg.leaves {
		if l.Code == CodeReceived {
			received = append(received, l.BodySHA256)
		}
	}
	if len(received) != 2 || received[0] != auditlog.BodyHash(jb) || received[1] != auditlog.BodyHash(jb2) {
		t.Fatalf("received leaves %v", received)
	}
}

// A retry in the same bytes, and a first send, name no held body.
func TestRetryWithTheSameBytesNamesNoHeldBody(t *testing.T) {
	svc, _, lg, first := afterALostAnswer(t)
	retry := first
	retry.RequestID = "r2"
	if resp, err := svc.Submit(t.Context(), retry); err != nil || resp.Status != 202 {
		t.Fatalf("retry: %v", err)
	}
	for _, l := range lg.leaves {
		if l.HeldSHA256 != "" {
			t.Fatalf("leaf %+v names a held body", l)
		}
	}
}

// afterALostAnswer is a service with a leaf log whose treasury took a first
// JSON submission under key k1 and lost its answer; it returns that
// submission.
func afterALostAnswer(t *testing.T) (*Service, *fakeSender, *leafLog, Submission) {
	t.Helper()
	svc, fs := newService(t, svcOptions{})
	lg := &leafLog{}
	svc.evidence = &Recorder{Log: lg, Instance: "test"}
	jb, sig := jsonFixture(t, "chi-thuong-xuyen")
	first := Submission{RequestID: "r1", Procedure: "chi-thuong-xuyen", IdempotencyKey: "k1",
		ContentType: "application/json", Body: jb, JWSSignature: sig, Caller: "portal", ReceivedAt: receipt}
	loseAnswer(t, svc, fs, first)
	return svc, fs, lg, first
}
