package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
	"github.com/kbnn/dvc/adapter/testkit/storetest"
)

func TestDossiersRegisterGetUpdate(t *testing.T) {
	ctx := context.Background()
	s := NewDossiers(redistest.Client(t), redistest.Prefix(t), time.Hour)
	if _, ok, err := s.Get(ctx, "tai-khoan", "A-20260609-0000001"); ok || err != nil {
		t.Fatalf("unknown dossier: %v %v", ok, err)
	}
	r := dossier.Record{Procedure: "tai-khoan", MaHoSo: "A-20260609-0000001", TrangThai: 1, TreasuryDocumentID: "KB-1",
		History: []dossier.Event{{TrangThai: 1, Source: "adapter"}}}
	if err := dossier.Register(ctx, s, r); err != nil {
		t.Fatal(err)
	}
	_ = dossier.Register(ctx, s, r) // replay: nothing new
	got, ok, err := s.Get(ctx, "tai-khoan", r.MaHoSo)
	if err != nil || !ok || len(got.History) != 1 || got.TreasuryDocumentID != "KB-1" {
		t.Fatalf("%+v %v %v", got, ok, err)
	}
	// concurrent updates are not lost
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, "tai-khoan", r.MaHoSo, func(r *dossier.Record, exists bool) bool {
				r.History = append(r.History, dossier.Event{TrangThai: 4, EventID: fmt.Sprint(i)})
				return true
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _, _ = s.Get(ctx, "tai-khoan", r.MaHoSo)
	if len(got.History) != 21 {
		t.Fatalf("%d history entries, want 21", len(got.History))
	}
}

func TestDossiersListConformance(t *testing.T) {
	storetest.RunDossiers(t, func(t *testing.T) dossier.Store {
		return NewDossiers(redistest.Client(t), redistest.Prefix(t), 720*time.Hour)
	})
}

var listT0 = time.Date(2026, 6, 9, 8, 0, 0, 0, time.FixedZone("ICT", 7*3600))

func registerAt(t *testing.T, s *Dossiers, code, unit string, at time.Time) {
	t.Helper()
	if err := dossier.Register(context.Background(), s, dossier.Record{Procedure: "tai-khoan", MaHoSo: code, TrangThai: 1,
		Unit: unit, ReceivedAt: at, TreasuryDocumentID: "KB-" + code}); err != nil {
		t.Fatal(err)
	}
}

func members(items []dossier.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.MaHoSo
	}
	return out
}

func TestDossierIndexKeys(t *testing.T) {
	ctx := context.Background()
	c, prefix := redistest.Client(t), redistest.Prefix(t)
	s := NewDossiers(c, prefix, time.Hour)
	registerAt(t, s, "G09.20-20260609-0000001", "1012345", listT0)
	for _, k := range []string{prefix + "list:{all}", prefix + "list:{unit:1012345}", prefix + "list:{procedure:tai-khoan}"} {
		sc, err := c.ZScore(ctx, k, "tai-khoan|G09.20-20260609-0000001").Result()
		if err != nil || int64(sc) != listT0.UnixMilli() {
			t.Errorf("%s: score %v %v, want the receipt time in ms", k, sc, err)
		}
	}
}

// An index entry whose record was never written (a crash between the two
// writes) is skipped, and the retried registration lists the dossier.
func TestDossierIndexEntryWithoutRecord(t *testing.T) {
	ctx := context.Background()
	c, prefix := redistest.Client(t), redistest.Prefix(t)
	s := NewDossiers(c, prefix, time.Hour)
	registerAt(t, s, "G09.20-20260609-0000001", "1012345", listT0)
	orphan := "tai-khoan|G09.20-20260609-0000002"
	for _, k := range []string{prefix + "list:{all}", prefix + "list:{unit:1012345}"} {
		if err := c.ZAdd(ctx, k, redis.Z{Score: float64(listT0.Add(time.Minute).UnixMilli()), Member: orphan}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []dossier.Query{{}, {Unit: "1012345"}, {Limit: 1}} {
		items, next, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if q.Limit == 1 && next != "" { // the orphan came first and was skipped
			items2, _, err := s.List(ctx, dossier.Query{Limit: 1, Cursor: next})
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, items2...)
		}
		if got := members(items); len(got) != 1 || got[0] != "G09.20-20260609-0000001" {
			t.Errorf("%+v: %v", q, got)
		}
	}
	registerAt(t, s, "G09.20-20260609-0000002", "1012345", listT0.Add(time.Minute))
	items, _, err := s.List(ctx, dossier.Query{})
	if err != nil || len(items) != 2 || items[0].MaHoSo != "G09.20-20260609-0000002" {
		t.Fatalf("after the retry: %v %v", members(items), err)
	}
}

// The cursor's entry may leave the index between two pages (trimmed): the
// walk goes on after its place, ties included, without repeating or
// missing an entry.
func TestDossierCursorEntryLeftIndex(t *testing.T) {
	ctx := context.Background()
	c, prefix := redistest.Client(t), redistest.Prefix(t)
	s := NewDossiers(c, prefix, time.Hour)
	type entry struct {
		minute int
		code   string
	}
	var entries []entry
	for i := range 9 {
		e := entry{minute: i / 3, code: fmt.Sprintf("G09.20-20260609-%07d", i)} // three per millisecond
		registerAt(t, s, e.code, "1012345", listT0.Add(time.Duration(e.minute)*time.Minute))
		entries = append(entries, e)
	}
	// listing order: newest first, then code descending
	slices.SortFunc(entries, func(a, b entry) int {
		if a.minute != b.minute {
			return b.minute - a.minute
		}
		return strings.Compare(b.code, a.code)
	})
	var want []string
	for _, e := range entries {
		want = append(want, e.code)
	}
	var got []string
	q := dossier.Query{Limit: 2}
	for page := 0; ; page++ {
		items, next, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, members(items)...)
		if next == "" {
			break
		}
		// the last listed entry leaves the index
		last := "tai-khoan|" + items[len(items)-1].MaHoSo
		if err := c.ZRem(ctx, prefix+"list:{all}", last).Err(); err != nil {
			t.Fatal(err)
		}
		q.Cursor = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("walk %v, want %v", got, want)
	}
}

// A registration trims entries received more than the retention before it.
func TestDossierIndexTrimmed(t *testing.T) {
	ctx := context.Background()
	c, prefix := redistest.Client(t), redistest.Prefix(t)
	s := NewDossiers(c, prefix, time.Hour)
	registerAt(t, s, "G09.20-20260609-0000001", "1012345", listT0)
	registerAt(t, s, "G09.20-20260609-0000002", "1012345", listT0.Add(time.Hour))
	if n, _ := c.ZCard(ctx, prefix+"list:{all}").Result(); n != 2 {
		t.Fatalf("%d entries; the one at exactly the retention stays", n)
	}
	registerAt(t, s, "G09.20-20260609-0000003", "1012345", listT0.Add(time.Hour+time.Millisecond))
	for _, k := range []string{prefix + "list:{all}", prefix + "list:{unit:1012345}", prefix + "list:{procedure:tai-khoan}"} {
		got, _ := c.ZRange(ctx, k, 0, -1).Result()
		if slices.Contains(got, "tai-khoan|G09.20-20260609-0000001") || len(got) != 2 {
			t.Errorf("%s: %v", k, got)
		}
	}
}

// A record's correction rounds survive the JSON record in Redis, every
// member included.
func TestDossiersKeepRounds(t *testing.T) {
	ctx := context.Background()
	s := NewDossiers(redistest.Client(t), redistest.Prefix(t), time.Hour)
	at := time.Date(2026, 6, 9, 9, 0, 0, 0, time.FixedZone("ICT", 7*3600))
	want := dossier.Round{SoBoSung: 1, RequestedAt: at, RequestedBy: "Nguyễn Văn B", Reason: "thiếu hợp đồng",
		EventID: "evt-c1", DueAt: at.Add(48 * time.Hour), ResubmittedAt: at.Add(time.Hour), TreasuryReference: "KBNN-0011-2026-000002"}
	err := s.Update(ctx, "von-dau-tu", "A-20260609-0000003", func(r *dossier.Record, _ bool) bool {
		r.Procedure, r.MaHoSo = "von-dau-tu", "A-20260609-0000003"
		r.CorrectionRequested(1, dossier.Round{RequestedAt: want.RequestedAt, RequestedBy: want.RequestedBy,
			Reason: want.Reason, EventID: want.EventID, DueAt: want.DueAt})
		r.Resubmitted(1, want.ResubmittedAt, want.TreasuryReference)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, "von-dau-tu", "A-20260609-0000003")
	if err != nil || !ok || len(got.Rounds) != 1 {
		t.Fatalf("%+v %v %v", got, ok, err)
	}
	r := got.Rounds[0]
	if r.SoBoSung != 1 || !r.RequestedAt.Equal(want.RequestedAt) || r.RequestedBy != want.RequestedBy || r.Reason != want.Reason ||
		r.EventID != want.EventID || !r.DueAt.Equal(want.DueAt) || !r.ResubmittedAt.Equal(want.ResubmittedAt) ||
		r.TreasuryReference != want.TreasuryReference {
		t.Fatalf("round read back %+v, want %+v", r, want)
	}
}

// commandCounter counts the commands and pipelines a client sends.
type commandCounter struct{ n int }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n++; return next(ctx, cmd) }
}
func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n++; return next(ctx, cmds) }
}

// Registering a new dossier is one script with its indexes on a single
// server; a known one is read by the script that finds it, then written.
func TestDossiersCreateRoundTrips(t *testing.T) {
	ctx := context.Background()
	c, prefix := redistest.Client(t), redistest.Prefix(t)
	s := NewDossiers(c, prefix, time.Hour)
	if err := casScript.Load(ctx, c).Err(); err != nil { // the cold cache costs an EVAL more
		t.Fatal(err)
	}
	var n commandCounter
	c.AddHook(&n)
	r := dossier.Record{Procedure: "tai-khoan", MaHoSo: "G09.20-20260609-0000001", TrangThai: 2, Unit: "1012345",
		ReceivedAt: listT0, TreasuryDocumentID: "KB-1", History: []dossier.Event{{TrangThai: 2, Source: "adapter"}}}
	if err := dossier.Register(ctx, s, r); err != nil {
		t.Fatal(err)
	}
	if n.n != 1 {
		t.Errorf("a new dossier took %d round trips, want 1", n.n)
	}
	n.n = 0
	sup := r
	sup.SoBoSung, sup.TreasuryDocumentID, sup.ReceivedAt = 1, "KB-2", listT0.Add(time.Hour)
	if err := dossier.Register(ctx, s, sup); err != nil {
		t.Fatal(err)
	}
	if n.n != 2 {
		t.Errorf("a supplement took %d round trips, want 2", n.n)
	}
	// The supplement's guess, a new dossier received an hour later, wrote
	// nothing: the dossier keeps its place.
	if got := supplementKeptPlace(t, s, c, prefix, r); len(got.History) != 2 {
		t.Fatalf("%d history entries, want 2", len(got.History))
	}
}

// supplementKeptPlace checks that r's dossier, registered at listT0 and then
// as supplement 1 an hour later, holds the supplement and is listed once
// at its first receipt; it returns the record.
func supplementKeptPlace(t *testing.T, s *Dossiers, c redis.UniversalClient, prefix string, r dossier.Record) dossier.Record {
	t.Helper()
	ctx := context.Background()
	got, ok, err := s.Get(ctx, r.Procedure, r.MaHoSo)
	if err != nil || !ok || got.SoBoSung != 1 || !got.ReceivedAt.Equal(listT0) {
		t.Fatalf("%+v %v %v", got, ok, err)
	}
	items, _, err := s.List(ctx, dossier.Query{Unit: r.Unit})
	if err != nil || len(items) != 1 || items[0].MaHoSo != r.MaHoSo {
		t.Fatalf("listed %v %v", members(items), err)
	}
	if sc, err := c.ZScore(ctx, prefix+"list:{all}", dossier.Member(r.Procedure, r.MaHoSo)).Result(); err != nil || int64(sc) != listT0.UnixMilli() {
		t.Fatalf("score %v %v, want the first receipt %d", sc, err, listT0.UnixMilli())
	}
	return got
}

// A Cluster reached through one address refuses the record's script, whose
// keys are in several slots; the store then writes the indexes apart, as
// on a Cluster client, and loses nothing.
func TestDossiersOnAClusterThroughOneAddress(t *testing.T) {
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: redistest.StartOneNodeCluster(t)})
	t.Cleanup(func() { _ = c.Close() })
	prefix := redistest.Prefix(t)
	s := NewDossiers(c, prefix, time.Hour)
	r := dossier.Record{Procedure: "tai-khoan", MaHoSo: "G09.20-20260609-0000001", TrangThai: 2, Unit: "1012345",
		ReceivedAt: listT0, TreasuryDocumentID: "KB-1"}
	if err := dossier.Register(ctx, s, r); err != nil {
		t.Fatal(err)
	}
	if !s.slots.refused.Load() {
		t.Fatal("the server's CROSSSLOT went unnoticed")
	}
	sup := r
	sup.SoBoSung, sup.TreasuryDocumentID, sup.ReceivedAt = 1, "KB-2", listT0.Add(time.Hour)
	if err := dossier.Register(ctx, s, sup); err != nil {
		t.Fatal(err)
	}
	supplementKeptPlace(t, s, c, prefix, r)
}

// Create's first try, on an absent record, that finds nothing to write
// reads the record before it decides: a change fn only makes to a stored
// record is not lost.
func TestDossiersCreateReadsWhenAbsentChangesNothing(t *testing.T) {
	ctx := context.Background()
	s := NewDossiers(redistest.Client(t), redistest.Prefix(t), time.Hour)
	code := "G09.20-20260609-0000001"
	registerAt(t, s, code, "1012345", listT0)
	err := s.Create(ctx, "tai-khoan", code, func(r *dossier.Record, exists bool) bool {
		if !exists {
			return false
		}
		r.TrangThai = 4
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.Get(ctx, "tai-khoan", code); got.TrangThai != 4 {
		t.Fatalf("status %d, want 4", got.TrangThai)
	}
}

// Concurrent Creates of one dossier each land once: the ones that guessed
// wrong run again on the record the script found.
func TestDossiersConcurrentCreates(t *testing.T) {
	ctx := context.Background()
	s := NewDossiers(redistest.Client(t), redistest.Prefix(t), time.Hour)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Create(ctx, "tai-khoan", "G09.20-20260609-0000001", func(r *dossier.Record, exists bool) bool {
				r.Procedure, r.MaHoSo, r.Unit, r.ReceivedAt = "tai-khoan", "G09.20-20260609-0000001", "1012345", listT0
				r.History = append(r.History, dossier.Event{TrangThai: 2, EventID: fmt.Sprint(i)})
				return true
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _, _ := s.Get(ctx, "tai-khoan", "G09.20-20260609-0000001")
	ids := map[string]bool{}
	for _, e := range got.History {
		ids[e.EventID] = true
	}
	if len(got.History) != 20 || len(ids) != 20 {
		t.Fatalf("%d history entries (%d distinct), want 20", len(got.History), len(ids))
	}
}
