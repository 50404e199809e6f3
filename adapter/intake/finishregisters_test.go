package intake

import (
	"context"
	"sync"
	"testing"

	"github.com/kbnn/dvc/adapter/auditlog"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/idempotency"
)

// registeringRecords is a memory store whose Finish writes the dossier's
// record first, as redisstore's does (registeringFinish); it keeps the
// records it was given.
type registeringRecords struct {
	idempotency.Store
	mu  sync.Mutex
	got []dossier.Record
}

func (r *registeringRecords) FinishRegistering(ctx context.Context, f idempotency.Final, d dossier.Updater, rec dossier.Record) (idempotency.Finished, error) {
	r.mu.Lock()
	r.got = append(r.got, rec)
	r.mu.Unlock()
	err := dossier.Register(ctx, d, rec)
	return r.Finish(ctx, f), err
}

func (r *registeringRecords) records() []dossier.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]dossier.Record(nil), r.got...)
}

// seenLog is an evidence log that, as each accepted (202) leaf is
// written, notes whether the dossier's record was there already.
type seenLog struct {
	leafLog
	svc      *Service
	recorded []bool
}

func (l *seenLog) Append(ctx context.Context, r auditlog.Record) (auditlog.Receipt, error) {
	if r.Status == 202 {
		_, ok, _ := l.svc.dossiers.Get(ctx, r.Procedure, r.MaHoSo)
		l.recorded = append(l.recorded, ok)
	}
	return l.leafLog.Append(ctx, r)
}

func (l *seenLog) AppendHashed(ctx context.Context, r auditlog.Record, body auditlog.HashedBody) (auditlog.Receipt, error) {
	r.BodySHA256 = body.Hex()
	return l.Append(ctx, r)
}

// With a store whose Finish can write the dossier's record, an accepted
// dossier's record goes to Finish, once, as the treasury holds it (after
// the leaf: the record and the answer in one round trip); a replay
// finishes nothing. Without one, the record is written before the leaf.
func TestRecordWrittenWithTheAnswer(t *testing.T) {
	for _, folding := range []bool{true, false} {
		var o svcOptions
		rr := &registeringRecords{Store: idempotency.NewMemory(nil)}
		if folding {
			o.records = rr
		}
		svc, fs := newService(t, o)
		lg := &seenLog{svc: svc}
		svc.evidence = &Recorder{Log: lg, Instance: "test"}
		sub := Submission{RequestID: "r1", Procedure: "chi-thuong-xuyen", IdempotencyKey: "portal-key-1",
			ContentType: "application/xml", Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt}
		for range 2 { // the second a replay
			if resp, err := svc.Submit(t.Context(), sub); err != nil || resp.Status != 202 {
				t.Fatalf("finish registers=%v: %v %+v", folding, err, resp)
			}
		}
		if n := len(fs.sent()); n != 1 {
			t.Fatalf("finish registers=%v: %d sends", folding, n)
		}
		if len(lg.recorded) != 1 || lg.recorded[0] == folding {
			t.Errorf("finish registers=%v: record there at the leaf: %v, want %v", folding, lg.recorded, !folding)
		}
		rec, ok, err := svc.dossiers.Get(t.Context(), "chi-thuong-xuyen", "G09.20-20260609-0000101")
		if err != nil || !ok || rec.TreasuryReference != "REF-1" || rec.TrangThai != StatusRegistered || rec.Unit == "" ||
			len(rec.History) != 1 {
			t.Fatalf("finish registers=%v: record %v %v %+v", folding, err, ok, rec)
		}
		got := rr.records()
		switch {
		case !folding && len(got) != 0:
			t.Errorf("a store without it was given %d records", len(got))
		case folding && (len(got) != 1 || got[0].TreasuryReference != "REF-1" || got[0].MaHoSo != rec.MaHoSo):
			t.Errorf("Finish was given %+v", got)
		}
	}
}
