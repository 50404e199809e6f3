package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/redisha"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
	"github.com/kbnn/dvc/adapter/testkit/storetest"
)

// registrations returns the two registrations of unit, normalized, the
// first put into reg.
func registrations(t testing.TB, reg signers.Store, unit string) []signers.Registration {
	t.Helper()
	var want []signers.Registration
	for _, r := range []signers.Registration{
		{Unit: unit, Role: "chu-tai-khoan", Serial: "0a1b", Issuer: "CN=Test CA,O=KBNN,C=VN"},
		{Unit: unit, Role: "ke-toan-truong", Serial: "0c2d", Issuer: "CN=Test CA,O=KBNN,C=VN"},
	} {
		n, err := signers.Normalize(r)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, n)
	}
	if _, err := reg.Put(context.Background(), want[0]); err != nil {
		t.Fatal(err)
	}
	return want
}

// nothingStarted fails t unless the key, the dossier's claim and its lock
// are all absent.
func nothingStarted(t *testing.T, s *Store, c redis.UniversalClient) {
	t.Helper()
	for _, k := range []string{s.keyName("k"), s.dossierName("p|X|0"), s.lockName("dossier|p|X")} {
		if n, err := c.Exists(context.Background(), k).Result(); err != nil || n != 0 {
			t.Fatalf("a refused start wrote %s (%v)", k, err)
		}
	}
}

// StartRegistered checks the unit's registrations in Start's own round
// trip on a single server: a missing one is named by its index and
// nothing is begun; with all of them registered it is Start.
func TestStartRegistered(t *testing.T) {
	ctx := context.Background()
	s, _, c := newStore(t)
	reg := NewSigners(c, s.prefix)
	want := registrations(t, reg, "1045678")
	if err := startFoldedScript.Load(ctx, c).Err(); err != nil { // the cold cache costs an EVAL more
		t.Fatal(err)
	}
	var n commandCounter
	c.AddHook(&n)
	st, missing, err := s.StartRegistered(ctx, reg, "1045678", want, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
	if err != nil || missing != 1 || st.Begun.State != 0 {
		t.Fatalf("second registration missing: %+v, missing %d, %v", st, missing, err)
	}
	if n.n != 1 {
		t.Errorf("a refused start took %d round trips, want 1", n.n)
	}
	nothingStarted(t, s, c)
	// the other unit has none: the first is missing
	if _, missing, err := s.StartRegistered(ctx, reg, "1012345", want[1:], "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X"); err != nil || missing != 0 {
		t.Fatalf("unit without registrations: missing %d, %v", missing, err)
	}
	nothingStarted(t, s, c)
	if _, err := reg.Put(ctx, want[1]); err != nil {
		t.Fatal(err)
	}
	n.n = 0
	st, missing, err = s.StartRegistered(ctx, reg, "1045678", want, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
	if err != nil || missing != -1 || st.ClaimErr != nil || st.Begun.State != idempotency.Reserved || !st.Claim.Owned || !st.Lock.Held {
		t.Fatalf("start of registered signers: %+v, missing %d, %v", st, missing, err)
	}
	if n.n != 1 {
		t.Errorf("a start with its check took %d round trips, want 1", n.n)
	}
	// what it began is Start's: the key is in progress, the lock held
	if again, err := s.Start(ctx, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X"); err != nil || again.Begun.State != idempotency.InProgress {
		t.Fatalf("start of the key again: %+v %v", again, err)
	}
	if l, err := s.LockDossier(ctx, "dossier|p|X", time.Minute); err != nil || l.Held {
		t.Fatalf("the start's lock is not held: %+v %v", l, err)
	}
	// no registrations asked: Start
	if st, missing, err := s.StartRegistered(ctx, reg, "1045678", nil, "k3", "fp", time.Minute, "p|Y|0", "k3#fp", "dossier|p|Y"); err != nil || missing != -1 || !st.Lock.Held {
		t.Fatalf("start without registrations: %+v, missing %d, %v", st, missing, err)
	}
}

// With another signers store, or a Cluster behind one address (which
// refuses the script's keys of several slots), StartRegistered asks the
// signers store first and then starts, with the same outcomes.
func TestStartRegisteredInSteps(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) (*Store, signers.Store)
	}{
		{"memory signers", func(t *testing.T) (*Store, signers.Store) {
			s, _, _ := newStore(t)
			return s, signers.NewMemory()
		}},
		{"signers of another prefix", func(t *testing.T) (*Store, signers.Store) {
			s, _, c := newStore(t)
			return s, NewSigners(c, s.prefix+"other:")
		}},
		{"cluster through one address", func(t *testing.T) (*Store, signers.Store) {
			c := redis.NewClient(&redis.Options{Addr: redistest.StartOneNodeCluster(t)})
			t.Cleanup(func() { _ = c.Close() })
			prefix := redistest.Prefix(t)
			return New(c, prefix, storetest.NewClock().Now), NewSigners(c, prefix)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, reg := tc.store(t)
			want := registrations(t, reg, "1045678")
			if _, missing, err := s.StartRegistered(ctx, reg, "1045678", want, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X"); err != nil || missing != 1 {
				t.Fatalf("second registration missing: missing %d, %v", missing, err)
			}
			nothingStarted(t, s, s.c)
			if _, err := reg.Put(ctx, want[1]); err != nil {
				t.Fatal(err)
			}
			st, missing, err := s.StartRegistered(ctx, reg, "1045678", want, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
			if err != nil || missing != -1 || st.ClaimErr != nil || st.Begun.State != idempotency.Reserved || !st.Claim.Owned || !st.Lock.Held {
				t.Fatalf("start of registered signers: %+v, missing %d, %v", st, missing, err)
			}
		})
	}
}

func TestParseUnregistered(t *testing.T) {
	for _, tc := range []struct {
		reply   []any
		i       int
		refused bool
		bad     bool
	}{
		{[]any{"U", int64(1)}, 0, true, false},
		{[]any{"U", int64(3)}, 2, true, false},
		{[]any{"U", int64(4)}, 0, true, true},
		{[]any{"U", int64(0)}, 0, true, true},
		{[]any{"U"}, 0, true, true},
		{[]any{"U", "1"}, 0, true, true},
		{[]any{"U", int64(1), int64(2)}, 0, true, true},
		{[]any{[]any{"R", int64(0)}, []any{int64(1), int64(0)}, []any{int64(1)}}, 0, false, false},
		{nil, 0, false, false},
	} {
		i, refused, err := parseUnregistered(tc.reply, 3)
		if refused != tc.refused || (err != nil) != tc.bad || (!tc.bad && i != tc.i) {
			t.Errorf("%v: %d %v %v", tc.reply, i, refused, err)
		}
	}
}

// scriptsSeen records the commands a client sends, a script by its SHA.
type scriptsSeen struct{ cmds []string }

func (h *scriptsSeen) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *scriptsSeen) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		name := cmd.Name()
		if (name == "evalsha" || name == "eval") && len(cmd.Args()) > 1 {
			script := fmt.Sprint(cmd.Args()[1])
			if name == "eval" { // a script sent again after NOSCRIPT: named by its SHA too
				sum := sha1.Sum([]byte(script))
				script = hex.EncodeToString(sum[:])
			}
			name += " " + script
		}
		h.cmds = append(h.cmds, name)
		return next(ctx, cmd)
	}
}
func (h *scriptsSeen) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.cmds = append(h.cmds, c.Name())
		}
		return next(ctx, cmds)
	}
}

// Where the check cannot go into the script, it is a read of its own
// before Start: with signers on another client, and when claims wait for
// replicas (the script would write the claim without the wait). The
// second's Start fails here, on a server without replicas; what matters
// is that the script with the check never ran.
func TestStartRegisteredTakesStepsWhereItMust(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		store func(t *testing.T, c redis.UniversalClient, prefix string) (*Store, *Signers)
	}{
		{"signers on another client", func(t *testing.T, c redis.UniversalClient, prefix string) (*Store, *Signers) {
			return New(c, prefix, nil), NewSigners(redistest.Client(t), prefix)
		}},
		{"claims waiting for a replica", func(t *testing.T, c redis.UniversalClient, prefix string) (*Store, *Signers) {
			return New(c, prefix, nil).WaitForReplicas(redisha.New(c, 1, 50*time.Millisecond, nil)), NewSigners(c, prefix)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := redistest.Client(t)
			s, reg := tc.store(t, c, redistest.Prefix(t))
			want := registrations(t, reg, "1045678")
			if _, err := reg.Put(ctx, want[1]); err != nil {
				t.Fatal(err)
			}
			seen := &scriptsSeen{}
			c.AddHook(seen)
			if reg.s.c != c {
				reg.s.c.AddHook(seen)
			}
			_, missing, _ := s.StartRegistered(ctx, reg, "1045678", want, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
			if missing != -1 {
				t.Fatalf("missing %d, want -1", missing)
			}
			if len(seen.cmds) == 0 || seen.cmds[0] != "hmget" {
				t.Fatalf("the check was not a read of its own first: %v", seen.cmds)
			}
			for _, cmd := range seen.cmds {
				if strings.HasSuffix(cmd, " "+startFoldedScript.Hash()) {
					t.Fatalf("the script with the check ran: %v", seen.cmds)
				}
			}
		})
	}
}

// failingSigners cannot be read.
type failingSigners struct{ signers.Store }

func (failingSigners) FirstMissing(context.Context, string, ...signers.Registration) (int, error) {
	return 0, errors.New("signers unreachable")
}

// A check that cannot be made fails the start closed: the error, and
// nothing begun.
func TestStartRegisteredFailsClosed(t *testing.T) {
	s, _, c := newStore(t)
	want := registrations(t, signers.NewMemory(), "1045678")
	st, missing, err := s.StartRegistered(context.Background(), failingSigners{signers.NewMemory()}, "1045678", want,
		"k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
	if err == nil || missing != -1 || st.Begun.State != 0 {
		t.Fatalf("unreadable signers: %+v, missing %d, %v", st, missing, err)
	}
	nothingStarted(t, s, c)
}
