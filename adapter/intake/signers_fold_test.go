package intake

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// foldingRecords is a memory store that, like redisstore's, checks the
// signers' registrations in its Start (foldingStart; it reads no files);
// it counts the calls with registrations to check and, with fail set,
// fails every call as a store that cannot be reached.
type foldingRecords struct {
	idempotency.Store
	calls int
	fail  error
}

func (f *foldingRecords) StartReading(ctx context.Context, _ attachment.Store, _ map[string]int64, reg signers.Store, unit string,
	want []signers.Registration, key, fp string, lease time.Duration, dossier, owner, lockID string) (idempotency.Started, int, map[string][]byte, error) {
	if len(want) > 0 {
		f.calls++
	}
	if f.fail != nil {
		return idempotency.Started{}, -1, nil, f.fail
	}
	if len(want) > 0 {
		if i, err := reg.FirstMissing(ctx, unit, want...); err != nil || i >= 0 {
			return idempotency.Started{}, i, nil, err
		}
	}
	st, err := f.Start(ctx, key, fp, lease, dossier, owner, lockID)
	return st, -1, nil, err
}

// A first submission to a store that checks registrations in its Start is
// checked there: refused naming the signer missing (the second here, the
// chief accountant), accepted when both are registered, and 503 when the
// store fails, with nothing sent. A supplement is checked on its own, ahead
// of the supplement check, as before.
func TestRegisteredSignersInTheStart(t *testing.T) {
	const unit = "1012345"
	ctx := context.Background()
	owner, chief := registration(t, unit, "chu-tai-khoan", "chu-tai-khoan"), registration(t, unit, "ke-toan-truong", "ke-toan-truong")
	sub := xmlSub("chi-thuong-xuyen", xmlFixture(t, "chi-thuong-xuyen"))

	store := signers.NewMemory()
	if _, err := store.Put(ctx, owner); err != nil {
		t.Fatal(err)
	}
	rec := &foldingRecords{Store: idempotency.NewMemory(nil)}
	svc, fs := registryServiceOn(t, store, true, rec)
	out := submitOn(t, svc, fs, sub, "", receipt)
	wantRefused(t, out, "signer-not-registered")
	if msg := out.err.Error(); !strings.Contains(msg, chief.Serial) || !strings.Contains(msg, "ke-toan-truong") {
		t.Errorf("the refusal does not name the chief accountant's registration (%s, %s): %s", chief.Role, chief.Serial, msg)
	}
	if rec.calls != 1 {
		t.Fatalf("the check took %d starts with it, want 1", rec.calls)
	}

	rec.fail = errors.New("connection refused")
	wantRefused(t, submitOn(t, svc, fs, sub, "", receipt), "store-unavailable")

	rec.fail = nil
	if _, err := store.Put(ctx, chief); err != nil {
		t.Fatal(err)
	}
	if out := submitOn(t, svc, fs, sub, "", receipt); out.err != nil {
		t.Fatalf("registered signers refused: %v", out.err)
	}
	if rec.calls != 3 {
		t.Fatalf("%d starts with the check, want 3", rec.calls)
	}

	// A supplement of an unregistered unit: refused by the check of its own,
	// which keeps its place ahead of the supplement check.
	other := signers.NewMemory()
	sup := &foldingRecords{Store: idempotency.NewMemory(nil)}
	svc, fs = registryServiceOn(t, other, true, sup)
	body := signXML(t, replaceOnce(t, template(t, "chi-thuong-xuyen", "xml"), "<soBoSung>0</soBoSung>", "<soBoSung>1</soBoSung>"),
		signing.XMLOptions{}, both...)
	wantRefused(t, submitOn(t, svc, fs, xmlSub("chi-thuong-xuyen", body), "", receipt), "signer-not-registered")
	if sup.calls != 0 {
		t.Fatalf("a supplement's check went into the start (%d calls)", sup.calls)
	}
}
