package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// readingRecords is a memory store that, like redisstore's, reads the
// uploaded files in its Start (foldingStart) with files.GetCapped; it
// keeps what each call was asked to read and, with unread set, reads
// nothing (got nil), as a store that could not.
type readingRecords struct {
	idempotency.Store
	asked  []map[string]int64
	checks [][]signers.Registration
	unread bool
}

func (r *readingRecords) StartReading(ctx context.Context, files attachment.Store, read map[string]int64, reg signers.Store, unit string,
	want []signers.Registration, key, fp string, lease time.Duration, dossier, owner, lockID string) (idempotency.Started, int, map[string][]byte, error) {
	r.asked = append(r.asked, maps.Clone(read))
	r.checks = append(r.checks, want)
	if len(want) > 0 {
		if i, err := reg.FirstMissing(ctx, unit, want...); err != nil || i >= 0 {
			return idempotency.Started{}, i, nil, err
		}
	}
	st, err := r.Start(ctx, key, fp, lease, dossier, owner, lockID)
	var got map[string][]byte
	if err == nil && st.Lock.Held && !r.unread { // as redisstore's: only for the send
		if got, err = files.GetCapped(ctx, read); err != nil {
			return idempotency.Started{}, -1, nil, err
		}
	}
	return st, -1, got, err
}

// A submission whose dossier lists uploaded files asks a store that can to
// read them with its reservation, as the send would read them (the files
// that fit in FileLimits.BatchBytes, each up to its listed size), and the
// send takes those bytes without reading them again; a store that did not
// read them leaves the send to read them itself. A request that carries
// its files, and one that lists none, asks for nothing.
func TestFilesReadWithTheReservation(t *testing.T) {
	contract, record := ctxFiles(t)
	wantRead := map[string]int64{attachment.Sum(contract): int64(len(contract)), attachment.Sum(record): int64(len(record))}
	wantUploads := []string{attachment.Sum(contract), attachment.Sum(record)}
	submit := func(t *testing.T, rec *readingRecords, sub Submission) (*oneAtATime, *fakeSender) {
		t.Helper()
		store := &oneAtATime{Store: templateFiles(t)}
		svc, fs := newService(t, svcOptions{attachments: store, records: rec})
		store.fs = fs
		if resp, err := svc.Submit(context.Background(), sub); err != nil || resp.Status != 202 {
			t.Fatalf("refused: %v", err)
		}
		return store, fs
	}
	sub := Submission{RequestID: "s", Procedure: "chi-thuong-xuyen", ContentType: "application/xml",
		Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt}

	t.Run("read with the reservation", func(t *testing.T) {
		rec := &readingRecords{Store: idempotency.NewMemory(nil)}
		store, fs := submit(t, rec, sub)
		if len(rec.asked) != 1 || !maps.Equal(rec.asked[0], wantRead) {
			t.Fatalf("reads asked of the reservation: %v, want %v", rec.asked, wantRead)
		}
		if len(store.capped) != 1 || len(store.read) != 0 || store.sizes != 0 {
			t.Errorf("%d capped reads, %d single reads, %d size look-ups: want the reservation's read only", len(store.capped), len(store.read), store.sizes)
		}
		if got := fs.uploaded(); !maps.Equal(counts(got), counts(wantUploads)) || len(got) != 2 {
			t.Errorf("uploaded %v, want %v", got, wantUploads)
		}
	})
	t.Run("not read by the store", func(t *testing.T) {
		rec := &readingRecords{Store: idempotency.NewMemory(nil), unread: true}
		store, fs := submit(t, rec, sub)
		if len(rec.asked) != 1 || len(store.capped) != 1 || len(fs.uploaded()) != 2 {
			t.Errorf("%d reservations asked to read, %d capped reads, %d uploads: want the send's own read", len(rec.asked), len(store.capped), len(fs.uploaded()))
		}
	})
	t.Run("files in the request", func(t *testing.T) {
		rec := &readingRecords{Store: idempotency.NewMemory(nil)}
		withParts := sub
		withParts.Files = []attachment.Part{
			{ContentType: "application/pdf", FileName: "hop-dong-15-2026-HDMB.pdf", Data: contract},
			{ContentType: "application/pdf", FileName: "bien-ban-nghiem-thu-15-2026.pdf", Data: record},
		}
		store, fs := submit(t, rec, withParts)
		if len(rec.asked) != 0 || len(store.capped) != 0 || len(fs.uploaded()) != 2 {
			t.Errorf("%d reservations asked to read, %d capped reads, %d uploads: want the parts' bytes only", len(rec.asked), len(store.capped), len(fs.uploaded()))
		}
	})
	t.Run("no files listed", func(t *testing.T) {
		rec := &readingRecords{Store: idempotency.NewMemory(nil)}
		doc := template(t, "tai-khoan", "xml")
		i, j := bytes.Index(doc, []byte("<dinhKem>")), bytes.LastIndex(doc, []byte("</dinhKem>"))
		if i < 0 || j < i {
			t.Fatal("the tai-khoan template lists no files")
		}
		doc = append(doc[:i:i], doc[j+len("</dinhKem>"):]...)
		submit(t, rec, Submission{RequestID: "n", Procedure: "tai-khoan", ContentType: "application/xml",
			Body: signXML(t, doc, signing.XMLOptions{}, both...), Caller: "portal", ReceivedAt: receipt})
		if len(rec.asked) != 0 {
			t.Errorf("a dossier listing no files asked the reservation to read %v", rec.asked)
		}
	})
}

// counts is how many times each string is in ss.
func counts(ss []string) map[string]int {
	m := map[string]int{}
	for _, s := range ss {
		m[s]++
	}
	return m
}

// The reservation's read stands in for gatherFiles' only when it answers
// the very reads gatherFiles would make.
func TestPrefetchedAnswers(t *testing.T) {
	read := map[string]int64{"a": 10, "b": 0}
	got := map[string][]byte{"a": []byte("0123456789")}
	for _, tc := range []struct {
		name string
		pre  prefetched
		want bool
	}{
		{"the same reads", prefetched{read: map[string]int64{"a": 10, "b": 0}, got: got}, true},
		{"another size", prefetched{read: map[string]int64{"a": 11, "b": 0}, got: got}, false},
		{"one file fewer", prefetched{read: map[string]int64{"a": 10}, got: got}, false},
		{"one file more", prefetched{read: map[string]int64{"a": 10, "b": 0, "c": 1}, got: got}, false},
		{"not read", prefetched{read: read}, false},
		{"none", prefetched{}, false},
	} {
		if tc.pre.answers(read) != tc.want {
			t.Errorf("%s: answers %v, want %v", tc.name, !tc.want, tc.want)
		}
	}
}

// A supplement's registrations are checked by the send whatever the
// reservation read; a first submission's, which the reservation checks,
// are refused when one is missing; a listing over the limits reads nothing
// before its refusal.
func TestFilesReadWithTheReservationKeepTheChecks(t *testing.T) {
	const unit = "1012345"
	ctx := context.Background()
	owner := registration(t, unit, "chu-tai-khoan", "chu-tai-khoan")
	store := signers.NewMemory()
	if _, err := store.Put(ctx, owner); err != nil {
		t.Fatal(err)
	}

	rec := &readingRecords{Store: idempotency.NewMemory(nil)}
	svc, fs := registryServiceOn(t, store, true, rec)
	wantRefused(t, submitOn(t, svc, fs, xmlSub("chi-thuong-xuyen", xmlFixture(t, "chi-thuong-xuyen")), "", receipt), "signer-not-registered")
	if len(rec.checks) != 1 || len(rec.checks[0]) != 2 {
		t.Fatalf("the reservation checked %v, want the dossier's two registrations", rec.checks)
	}

	sup := &readingRecords{Store: idempotency.NewMemory(nil)}
	svc, fs = registryServiceOn(t, store, true, sup)
	body := signXML(t, replaceOnce(t, template(t, "chi-thuong-xuyen", "xml"), "<soBoSung>0</soBoSung>", "<soBoSung>1</soBoSung>"),
		signing.XMLOptions{}, both...)
	wantRefused(t, submitOn(t, svc, fs, xmlSub("chi-thuong-xuyen", body), "", receipt), "signer-not-registered")
	if len(sup.asked) != 1 || len(sup.checks[0]) != 0 {
		t.Fatalf("a supplement's reservation: %d reads asked, checks %v; want its files read and no check there", len(sup.asked), sup.checks)
	}

	over := &readingRecords{Store: idempotency.NewMemory(nil)}
	svc, fs = newService(t, svcOptions{records: over, fileLimits: FileLimits{MaxFileBytes: 100}})
	out := submitOn(t, svc, fs, xmlSub("chi-thuong-xuyen", xmlFixture(t, "chi-thuong-xuyen")), "", receipt)
	wantRefused(t, out, "body-too-large")
	if len(over.asked) != 0 {
		t.Errorf("a listing over the limits asked the reservation to read %v", over.asked)
	}
}

// The reservation reads no more than maxPrefetchBytes of files, however
// large the batch gatherFiles may read: a larger batch is the send's.
func TestToPrefetchIsBounded(t *testing.T) {
	listing := func(sizes ...int64) *Verified {
		var list []any
		for i, n := range sizes {
			list = append(list, map[string]any{"tenTep": fmt.Sprintf("f%d.pdf", i), "loaiTep": "application/pdf",
				"sha256": attachment.Sum([]byte{byte(i)}), "kichThuoc": json.Number(strconv.FormatInt(n, 10))})
		}
		return &Verified{Value: map[string]any{AttachmentList: list}}
	}
	s := &Service{fileLimits: FileLimits{BatchBytes: 8 * maxPrefetchBytes}}
	if got := s.toPrefetch(Submission{}, listing(maxPrefetchBytes/2, maxPrefetchBytes/2)); len(got) != 2 {
		t.Errorf("files of maxPrefetchBytes together: %v, want both read", got)
	}
	if got := s.toPrefetch(Submission{}, listing(maxPrefetchBytes/2, maxPrefetchBytes/2+1)); got != nil {
		t.Errorf("files over maxPrefetchBytes together: %v, want none read with the reservation", got)
	}
}
