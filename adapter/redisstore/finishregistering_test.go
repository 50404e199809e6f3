package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/redisha"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// trips counts the round trips a client makes (a command or a pipeline
// each; neither a script sent again whole after NOSCRIPT nor a new
// connection's handshake is counted) and,
// while cut is set, loses the reply of the next pipeline after it ran.
type trips struct {
	mu        sync.Mutex
	n         int
	cut, drop bool     // drop: the next pipeline is not even sent
	scripts   []string // the SHA-1 of each script that ran without error, in order
}

func (h *trips) ran(cmd redis.Cmder) {
	if a := cmd.Args(); len(a) > 1 && (cmd.Name() == "evalsha" || cmd.Name() == "eval") && cmd.Err() == nil {
		sha, _ := a[1].(string)
		if cmd.Name() == "eval" {
			sha = redis.NewScript(sha).Hash()
		}
		h.mu.Lock()
		h.scripts = append(h.scripts, sha)
		h.mu.Unlock()
	}
}

// before reports whether a run of script a came before every run of b
// (and both ran).
func (h *trips) before(a, b *redis.Script) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ia, ib := slices.Index(h.scripts, a.Hash()), slices.Index(h.scripts, b.Hash())
	return ia >= 0 && ib > ia
}

func (h *trips) take() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.n
	h.n = 0
	return n
}

func (h *trips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *trips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := cmd.Name(); n != "eval" && n != "hello" {
			h.mu.Lock()
			h.n++
			h.mu.Unlock()
		}
		err := next(ctx, cmd)
		h.ran(cmd)
		return err
	}
}
func (h *trips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && (cmds[0].Name() == "hello" || cmds[0].Name() == "client") {
			return next(ctx, cmds) // a new connection's handshake
		}
		h.mu.Lock()
		h.n++
		cut, drop := h.cut, h.drop
		h.cut, h.drop = false, false
		h.mu.Unlock()
		var err error
		if !drop {
			err = next(ctx, cmds)
			for _, c := range cmds {
				h.ran(c)
			}
		}
		if cut || drop {
			for _, c := range cmds {
				c.SetErr(io.ErrUnexpectedEOF)
			}
			return io.ErrUnexpectedEOF
		}
		return err
	}
}

// registration is a first submission's record as intake writes it.
func registration(code string) dossier.Record {
	return dossier.Record{Procedure: "tai-khoan", MaHoSo: code, TrangThai: 2, Unit: "1012345",
		TreasuryReference: "KB-REF-1", TreasuryDocumentID: "KB-1", ReceivedAt: listT0, UpdatedAt: listT0,
		Attachments: []dossier.Attachment{{TenTep: "hop-dong.pdf", LoaiTep: "application/pdf", KichThuoc: 4,
			SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}},
		History: []dossier.Event{{TrangThai: 2, At: listT0, Source: "adapter", Note: "sent to the treasury as KB-REF-1"}}}
}

// wantRegistered is the record dossier.Register leaves from before (nil:
// none) and r, on the in-memory store.
func wantRegistered(t *testing.T, before *dossier.Record, r dossier.Record) string {
	t.Helper()
	ctx := context.Background()
	m := dossier.NewMemory()
	if before != nil {
		if err := m.Update(ctx, before.Procedure, before.MaHoSo, func(cur *dossier.Record, _ bool) bool { *cur = *before; return true }); err != nil {
			t.Fatal(err)
		}
	}
	if err := dossier.Register(ctx, m, r); err != nil {
		t.Fatal(err)
	}
	got, _, err := m.Get(ctx, r.Procedure, r.MaHoSo)
	if err != nil {
		t.Fatal(err)
	}
	return recordJSON(t, got)
}

func recordJSON(t *testing.T, r dossier.Record) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// started reserves key and takes the dossier's claim and lock.
func started(t *testing.T, s *Store, key string) (idempotency.Started, idempotency.Final) {
	t.Helper()
	st, err := s.Start(context.Background(), key, "fp", time.Minute, "tai-khoan|X|0", key+"#fp", "dossier|tai-khoan|X")
	if err != nil || st.Begun.State != idempotency.Reserved || !st.Claim.Owned || !st.Lock.Held {
		t.Fatalf("start: %+v %v", st, err)
	}
	return st, idempotency.Final{Key: key, Token: st.Begun.Token, Response: idempotency.Stored{Status: 202, Body: []byte("{}")},
		Retention: time.Hour, LockID: "dossier|tai-khoan|X", LockToken: st.Lock.Token,
		Sent: &idempotency.Settlement{Dossier: "tai-khoan|X|0", Owner: key + "#fp", Reference: "KB-REF-1", Retention: time.Hour}}
}

// finished checks that f's answer is stored, the claim settled as sent
// and the lock given back.
func finished(t *testing.T, s *Store, r idempotency.Finished, key string) {
	t.Helper()
	ctx := context.Background()
	if r != (idempotency.Finished{}) {
		t.Fatalf("finish: %+v", r)
	}
	if b, err := s.Begin(ctx, key, "fp", time.Minute); err != nil || b.State != idempotency.Completed {
		t.Fatalf("the answer is not stored: %+v %v", b, err)
	}
	if c, err := s.ClaimDossier(ctx, "tai-khoan|X|0", "other#fp", time.Minute); err != nil || !c.Sent || c.Reference != "KB-REF-1" {
		t.Fatalf("the claim is not settled as sent: %+v %v", c, err)
	}
	if n, err := s.c.Exists(ctx, s.lockName("dossier|tai-khoan|X")).Result(); err != nil || n != 0 {
		t.Fatalf("the lock is held still: %d %v", n, err)
	}
}

// stored checks the record and its listing.
func storedAs(t *testing.T, d *Dossiers, want string) {
	t.Helper()
	ctx := context.Background()
	got, ok, err := d.Get(ctx, "tai-khoan", "X")
	if err != nil || !ok {
		t.Fatalf("no record: %v", err)
	}
	if g := recordJSON(t, got); g != want {
		t.Fatalf("record\n got %s\nwant %s", g, want)
	}
	items, _, err := d.List(ctx, dossier.Query{Unit: "1012345"})
	if err != nil || len(items) != 1 || items[0].MaHoSo != "X" {
		t.Fatalf("listed %v %v", members(items), err)
	}
}

// A first submission's record goes in Finish's own round trip, before the
// claim's settlement, the answer and the unlock: as dossier.Register
// writes it, listed. A record stored before (a callback came first) is
// updated from what the pipeline found, as Register would update it: one
// round trip more, no read.
func TestFinishRegistering(t *testing.T) {
	ctx := context.Background()
	callback := dossier.Record{Procedure: "tai-khoan", MaHoSo: "X", TrangThai: 4, Unit: "1012345", TreasuryDocumentID: "KB-1",
		ReceivedAt: listT0, UpdatedAt: listT0.Add(time.Minute),
		History: []dossier.Event{{TrangThai: 4, At: listT0.Add(time.Minute), Source: "treasury", EventID: "ev-1"}}}
	pipeline := []*redis.Script{casScript, settleScript, completeScript, unlockScript}
	for _, tc := range []struct {
		name   string
		before *dossier.Record
		// missing: the pipeline's scripts the server lacks (restarted, a
		// new primary), each sent again whole after the pipeline (NOSCRIPT)
		missing []*redis.Script
		trips   int
		// recordFirst: the record's script ran before the unlock's
		recordFirst bool
	}{
		{"a new dossier", nil, nil, 1, true},
		{"a record a callback wrote first", &callback, nil, 2, false}, // over a record, the pipeline's script writes nothing
		{"a new dossier, the scripts' cache emptied", nil, pipeline, 1, true},
		// The exception the README names: the record written once, after
		// the unlock.
		{"a new dossier, the record's script alone missing", nil, []*redis.Script{casScript}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, c := newStore(t)
			if tc.missing != nil {
				s, _, c = newPrivateStore(t) // SCRIPT FLUSH on a server of its own
			}
			d := NewDossiers(c, s.prefix, time.Hour)
			if b := tc.before; b != nil {
				if err := d.Update(ctx, b.Procedure, b.MaHoSo, func(cur *dossier.Record, _ bool) bool { *cur = *b; return true }); err != nil {
					t.Fatal(err)
				}
			}
			_, f := started(t, s, "k")
			if tc.missing != nil {
				if err := c.ScriptFlush(ctx).Err(); err != nil {
					t.Fatal(err)
				}
			}
			for _, sc := range pipeline {
				if !slices.Contains(tc.missing, sc) {
					if err := sc.Load(ctx, c).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}
			h := &trips{}
			c.AddHook(h)
			r := registration("X")
			fin, err := s.FinishRegistering(ctx, f, d, r)
			if err != nil {
				t.Fatal(err)
			}
			if n := h.take(); n != tc.trips {
				t.Errorf("%d round trips, want %d", n, tc.trips)
			}
			if tc.before == nil && h.before(casScript, unlockScript) != tc.recordFirst {
				t.Errorf("the record's script before the unlock's: %v, want %v (scripts run %v)", !tc.recordFirst, tc.recordFirst, h.scripts)
			}
			finished(t, s, fin, "k")
			storedAs(t, d, wantRegistered(t, tc.before, r))
		})
	}
	// The merge the second case means: the callback's status and history
	// kept, the registration's files added.
	var got dossier.Record
	if err := json.Unmarshal([]byte(wantRegistered(t, &callback, registration("X"))), &got); err != nil ||
		got.TrangThai != 4 || len(got.Attachments) != 1 || len(got.History) != 2 {
		t.Fatalf("the reference merge is not the one this test means: %+v %v", got, err)
	}
}

// A pipeline whose reply was lost may or may not have stored the record:
// it is read and written on its own, once.
func TestFinishRegisteringReplyLost(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		h    *trips
	}{
		{"after it ran", &trips{cut: true}},
		{"before it was sent", &trips{drop: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, c := newStore(t)
			d := NewDossiers(c, s.prefix, time.Hour)
			_, f := started(t, s, "k")
			c.AddHook(tc.h)
			r := registration("X")
			fin, err := s.FinishRegistering(ctx, f, d, r)
			if err != nil {
				t.Fatal(err)
			}
			if fin.Err == nil {
				t.Fatal("the answer's lost reply went unreported")
			}
			storedAs(t, d, wantRegistered(t, nil, r))
		})
	}
}

// Where the record cannot go in Finish's round trip it is registered
// first, then Finish runs: a supplement (its record is there already),
// writes that wait for replicas, dossiers on another client; on a Cluster
// behind one address the pipeline's script is refused, and the record is
// written apart, its indexes first.
func TestFinishRegisteringApart(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) (*Store, *Dossiers, dossier.Record, idempotency.Final)
	}{
		{"a supplement", func(t *testing.T) (*Store, *Dossiers, dossier.Record, idempotency.Final) {
			s, _, c := newStore(t)
			d := NewDossiers(c, s.prefix, time.Hour)
			r := registration("X")
			if err := dossier.Register(ctx, d, r); err != nil {
				t.Fatal(err)
			}
			_, f := started(t, s, "k")
			r.SoBoSung, r.TreasuryDocumentID, r.ReceivedAt = 1, "KB-2", listT0.Add(time.Hour)
			return s, d, r, f
		}},
		{"writes wait for replicas", func(t *testing.T) (*Store, *Dossiers, dossier.Record, idempotency.Final) {
			s, _, c := newStore(t)
			_, f := started(t, s, "k")
			// This server has no replica: Finish's steps report their
			// writes as not replicated, and the record is written first.
			return New(c, s.prefix, nil).WaitForReplicas(redisha.New(c, 1, 50*time.Millisecond, nil)),
				NewDossiers(c, s.prefix, time.Hour), registration("X"), f
		}},
		{"dossiers on another client", func(t *testing.T) (*Store, *Dossiers, dossier.Record, idempotency.Final) {
			s, _, c := newStore(t)
			other := redis.NewClient(&redis.Options{Addr: c.(*redis.Client).Options().Addr})
			t.Cleanup(func() { _ = other.Close() })
			_, f := started(t, s, "k")
			return s, NewDossiers(other, s.prefix, time.Hour), registration("X"), f
		}},
		{"a Cluster behind one address", func(t *testing.T) (*Store, *Dossiers, dossier.Record, idempotency.Final) {
			c := redis.NewClient(&redis.Options{Addr: redistest.StartOneNodeCluster(t)})
			t.Cleanup(func() { _ = c.Close() })
			s := New(c, redistest.Prefix(t), nil)
			d := NewDossiers(c, s.prefix, time.Hour)
			// The first record's script, in the pipeline, is refused
			// (CROSSSLOT) and written apart after the answer; from then
			// on the store knows, and writes the record first.
			first := registration("Y")
			first.Unit = "1099999" // not in the listing storedAs reads
			if _, err := s.FinishRegistering(ctx, s.beginFinal(t, "first"), d, first); err != nil || !d.slots.refused.Load() {
				t.Fatalf("the server's CROSSSLOT went unnoticed: %v", err)
			}
			return s, d, registration("X"), s.beginFinal(t, "k")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, d, r, f := tc.setup(t)
			var before *dossier.Record
			if cur, ok, err := d.Get(ctx, r.Procedure, r.MaHoSo); err != nil {
				t.Fatal(err)
			} else if ok {
				before = &cur
			}
			h := &trips{}
			d.c.AddHook(h)
			if s.c != d.c {
				s.c.AddHook(h)
			}
			fin, err := s.FinishRegistering(ctx, f, d, r)
			if err != nil {
				t.Fatal(err)
			}
			if !h.before(casScript, completeScript) {
				t.Error("the record was not written before the answer")
			}
			switch {
			case s.ha.Waits():
				if !errors.Is(fin.Err, idempotency.ErrNotReplicated) {
					t.Fatalf("finish without replicas: %+v", fin)
				}
			case f.Sent != nil:
				finished(t, s, fin, "k")
			case fin != (idempotency.Finished{}):
				t.Fatalf("finish: %+v", fin)
			}
			storedAs(t, d, wantRegistered(t, before, r))
		})
	}
}

// beginFinal reserves key and returns the Final that completes it (no
// claim, no lock).
func (s *Store) beginFinal(t *testing.T, key string) idempotency.Final {
	t.Helper()
	b, err := s.Begin(context.Background(), key, "fp", time.Minute)
	if err != nil || b.State != idempotency.Reserved {
		t.Fatalf("begin: %+v %v", b, err)
	}
	return idempotency.Final{Key: key, Token: b.Token, Response: idempotency.Stored{Status: 202, Body: []byte("{}")}, Retention: time.Hour}
}
