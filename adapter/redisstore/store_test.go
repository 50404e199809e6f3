package redisstore

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/testkit/clock"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
	"github.com/kbnn/dvc/adapter/testkit/storetest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) idempotency.Store {
		return New(redistest.Client(t), redistest.Prefix(t), now)
	})
}

// newStore returns a store with its own prefix on a test clock.
func newStore(t *testing.T) (*Store, *clock.Clock, redis.UniversalClient) {
	c, clock := redistest.Client(t), storetest.NewClock()
	return New(c, redistest.Prefix(t), clock.Now), clock, c
}

// newPrivateStore is newStore on a redis-server of the test's own, for a
// test that empties the script cache (SCRIPT FLUSH): on the shared server
// that would make the scripts of the tests running beside it, in other
// packages too, miss once and be sent again out of the order they check.
func newPrivateStore(t *testing.T) (*Store, *clock.Clock, redis.UniversalClient) {
	c, clock := redistest.StartServer(t), storetest.NewClock()
	return New(c, redistest.Prefix(t), clock.Now), clock, c
}

func TestKeyLayout(t *testing.T) {
	s := New(nil, "dvc:", nil)
	for _, tc := range []struct{ got, wantPrefix string }{
		{s.keyName("caller|{odd}}key{"), "dvc:idem:{"},
		{s.dossierName("H.01.02-{x}"), "dvc:dossier:{"},
	} {
		tag := strings.TrimSuffix(strings.TrimPrefix(tc.got, tc.wantPrefix), "}")
		if !strings.HasPrefix(tc.got, tc.wantPrefix) || len(tag) != 64 || strings.ContainsAny(tag, "{}") {
			t.Errorf("key %q: want %s<64 hex>}", tc.got, tc.wantPrefix)
		}
	}
	if a1, a2 := s.keyName("a"), s.keyName("a"); a1 == s.keyName("b") || a1 != a2 {
		t.Error("key names are not a function of the key")
	}
}

func TestStoredResponseRoundTrip(t *testing.T) {
	ctx := context.Background()
	body := make([]byte, 0, 8<<10)
	for i := range 8 << 10 {
		body = append(body, byte(i*7)) // every byte value, NULs and invalid UTF-8 included
	}
	tests := []struct {
		name string
		resp idempotency.Stored
	}{
		{"binary body and odd headers", idempotency.Stored{Status: 201, Body: body,
			Header: map[string]string{"Content-Type": "application/problem+json", "X-Odd": "\xff\x00 h:é", "h:x": ""}}},
		{"empty body, no headers", idempotency.Stored{Status: 204, Body: []byte{}}},
		{"replaceable refusal", idempotency.Stored{Status: 422, Body: []byte(`{"x":1}`), Replaceable: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := newStore(t)
			b, err := s.Begin(ctx, "k", "fp", time.Minute)
			if err != nil || b.State != idempotency.Reserved {
				t.Fatalf("begin: %+v %v", b, err)
			}
			if err := s.Complete(ctx, "k", b.Token, tc.resp, time.Hour); err != nil {
				t.Fatal(err)
			}
			got, err := s.Begin(ctx, "k", "fp", time.Minute)
			if err != nil || got.State != idempotency.Completed {
				t.Fatalf("replay: %+v %v", got, err)
			}
			r := got.Response
			if r.Status != tc.resp.Status || r.Replaceable != tc.resp.Replaceable || !bytes.Equal(r.Body, tc.resp.Body) ||
				len(r.Header) != len(tc.resp.Header) {
				t.Fatalf("replayed %d %v %d bytes %v, want %d %v %d bytes %v", r.Status, r.Replaceable, len(r.Body),
					r.Header, tc.resp.Status, tc.resp.Replaceable, len(tc.resp.Body), tc.resp.Header)
			}
			for k, v := range tc.resp.Header {
				if r.Header[k] != v {
					t.Errorf("header %q = %q, want %q", k, r.Header[k], v)
				}
			}
		})
	}
}

func TestRedisTTLsOutliveLogicalExpiry(t *testing.T) {
	ctx := context.Background()
	s, _, c := newStore(t)
	pttl := func(key string) time.Duration {
		t.Helper()
		d, err := c.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	within := func(what string, got, logical time.Duration) {
		t.Helper()
		if got <= logical || got > logical+TTLSlack {
			t.Errorf("%s: Redis TTL %v, want in (%v, %v]", what, got, logical, logical+TTLSlack)
		}
	}
	b, err := s.Begin(ctx, "k", "fp", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	within("reservation", pttl(s.keyName("k")), InProgressRetention)
	if err := s.Complete(ctx, "k", b.Token, idempotency.Stored{Status: 202}, 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	within("completed", pttl(s.keyName("k")), 72*time.Hour)
	if _, err := s.ClaimDossier(ctx, "d", "k", time.Minute); err != nil {
		t.Fatal(err)
	}
	within("claim", pttl(s.dossierName("d")), idempotency.UnsettledClaimRetention)
	if err := s.SettleDossier(ctx, "d", "k", true, "KBNN-1", 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	within("sent claim", pttl(s.dossierName("d")), 30*24*time.Hour)
}

func TestRecoveredAfterLongCrash(t *testing.T) {
	ctx := context.Background()
	s, clock, _ := newStore(t)
	if _, err := s.ClaimDossier(ctx, "d", "key-a", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(29 * 24 * time.Hour) // within UnsettledClaimRetention: the takeover must know
	cl, err := s.ClaimDossier(ctx, "d", "key-a", 30*time.Second)
	if err != nil || !cl.Owned || !cl.Recovered {
		t.Fatalf("the owner's retry after its lease: %+v %v", cl, err)
	}
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestUnreachableRedisFailsClosed(t *testing.T) {
	ctx := context.Background()
	down := redis.NewClient(&redis.Options{Addr: closedAddr(t), DialTimeout: 200 * time.Millisecond, DialerRetries: 1, MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	prefix := redistest.Prefix(t)
	s := New(down, prefix, storetest.NewClock().Now)
	ops := map[string]func() error{
		"begin": func() error {
			b, err := s.Begin(ctx, "k", "fp", time.Minute)
			if err == nil || b.State != 0 {
				t.Errorf("begin answered %+v", b)
			}
			return err
		},
		"complete": func() error { return s.Complete(ctx, "k", "tok", idempotency.Stored{Status: 202}, time.Hour) },
		"release":  func() error { return s.Release(ctx, "k", "tok") },
		"claim": func() error {
			c, err := s.ClaimDossier(ctx, "d", "k", time.Minute)
			if err == nil || c.Owned {
				t.Errorf("claim answered %+v", c)
			}
			return err
		},
		"settle": func() error { return s.SettleDossier(ctx, "d", "k", true, "KBNN-1", time.Hour) },
		"lock": func() error {
			l, err := s.LockDossier(ctx, "dossier|p|X", time.Minute)
			if err == nil || l.Held {
				t.Errorf("lock answered %+v", l)
			}
			return err
		},
		"unlock": func() error { return s.UnlockDossier(ctx, "dossier|p|X", "tok") },
		"ping":   func() error { return s.Ping(ctx) },
	}
	for name, op := range ops {
		err := op()
		var opErr *net.OpError
		if err == nil || errors.Is(err, idempotency.ErrLeaseLost) || !errors.As(err, &opErr) ||
			!strings.HasPrefix(err.Error(), "redisstore: ") {
			t.Errorf("%s on an unreachable Redis: %v, want a wrapped network error", name, err)
		}
	}

	// The same records through a working client: nothing was half written.
	up := New(redistest.Client(t), prefix, storetest.NewClock().Now)
	if b, err := up.Begin(ctx, "k", "fp", time.Minute); err != nil || b.State != idempotency.Reserved || b.Recovered {
		t.Fatalf("begin after recovery: %+v %v", b, err)
	}
	if c, err := up.ClaimDossier(ctx, "d", "k", time.Minute); err != nil || !c.Owned || c.Recovered {
		t.Fatalf("claim after recovery: %+v %v", c, err)
	}
}

func TestCanceledContext(t *testing.T) {
	s, _, _ := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Begin(ctx, "k", "fp", time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("begin on a canceled context: %v", err)
	}
}

func TestScriptCacheFlushed(t *testing.T) {
	ctx := context.Background()
	s, _, c := newPrivateStore(t)
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Begin(ctx, "k", "fp", time.Minute); err != nil || b.State != idempotency.Reserved {
		t.Fatalf("begin after SCRIPT FLUSH: %+v %v", b, err)
	}
}

// The claim and the lock, and the settlement, the answer and the unlock, go in one
// pipeline of EVALSHA each: a server without the scripts (restarted, a new
// primary) runs neither, and both are run again with their scripts loaded.
func TestClaimAndLockAfterScriptFlush(t *testing.T) {
	ctx := context.Background()
	s, _, c := newPrivateStore(t)
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	cl, l, err := s.ClaimAndLock(ctx, "p|X|0", "k", "dossier|p|X", time.Minute)
	if err != nil || !cl.Owned || cl.Recovered || !l.Held {
		t.Fatalf("after SCRIPT FLUSH: claim %+v, lock %+v, err %v", cl, l, err)
	}
	if again, err := s.LockDossier(ctx, "dossier|p|X", time.Minute); err != nil || again.Held {
		t.Fatalf("the lock was not taken: %+v %v", again, err)
	}
	// and the answer with the unlock, likewise
	b, err := s.Begin(ctx, "k", "fp", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if r := s.Finish(ctx, idempotency.Final{Key: "k", Token: b.Token, Response: idempotency.Stored{Status: 202, Body: []byte("{}")},
		Retention: time.Hour, LockID: "dossier|p|X", LockToken: l.Token,
		Sent: &idempotency.Settlement{Dossier: "p|X|0", Owner: "k", Reference: "KBNN-1", Retention: time.Hour}}); r != (idempotency.Finished{}) {
		t.Fatalf("after SCRIPT FLUSH: %+v", r)
	}
	if cl, err := s.ClaimDossier(ctx, "p|X|0", "other", time.Minute); err != nil || !cl.Sent || cl.Reference != "KBNN-1" {
		t.Fatalf("the claim was not settled: %+v %v", cl, err)
	}
	if again, err := s.LockDossier(ctx, "dossier|p|X", time.Minute); err != nil || !again.Held {
		t.Fatalf("the lock was not given back: %+v %v", again, err)
	}
}

// A client that runs the lock script again with the same token (its retry
// of a call whose reply it lost) holds the lock; another token does not.
func TestLockScriptRetryHolds(t *testing.T) {
	ctx := context.Background()
	s, clock, c := newStore(t)
	now := clock.Now()
	keys := []string{s.lockName("dossier|p|X")}
	for i, tc := range []struct {
		tok  string
		held bool
	}{{"t1", true}, {"t1", true}, {"t2", false}} {
		l, err := parseLock(lockScript.Run(ctx, c, keys, s.lockArgs(now, tc.tok, time.Minute)...), now, tc.tok)
		if err != nil || l.Held != tc.held {
			t.Fatalf("run %d with %s: %+v %v, want held %v", i, tc.tok, l, err, tc.held)
		}
	}
	if err := s.UnlockDossier(ctx, "dossier|p|X", "t1"); err != nil {
		t.Fatalf("the retried holder cannot unlock: %v", err)
	}
}

// A client that runs the begin script again with the same token (its retry
// of a call whose reply it lost) has its reservation, with what the first
// run found (a recovered reservation stays recovered); another token is
// told the key is in progress. Otherwise a lost reply would answer the
// caller's own retry 409 for a whole lease.
func TestBeginScriptRetryReserves(t *testing.T) {
	ctx := context.Background()
	s, clock, c := newStore(t)
	keys := []string{s.keyName("k")}
	run := func(tok string) idempotency.Begun {
		t.Helper()
		now := clock.Now()
		reply, err := beginScript.Run(ctx, c, keys, s.beginArgs(now, "fp", tok, time.Minute)...).Slice()
		if err != nil {
			t.Fatal(err)
		}
		b, err := parseBegin(reply, now, tok)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i, tc := range []struct {
		tok       string
		state     idempotency.State
		recovered bool
	}{{"t1", idempotency.Reserved, false}, {"t1", idempotency.Reserved, false}, {"t2", idempotency.InProgress, false}} {
		if b := run(tc.tok); b.State != tc.state || b.Recovered != tc.recovered {
			t.Fatalf("run %d with %s: %+v, want %v (recovered %v)", i, tc.tok, b, tc.state, tc.recovered)
		}
	}
	clock.Advance(2 * time.Minute) // t1's lease ends: t3 recovers the key
	for i, tok := range []string{"t3", "t3"} {
		if b := run(tok); b.State != idempotency.Reserved || !b.Recovered {
			t.Fatalf("after the lease, run %d with %s: %+v, want reserved, recovered", i, tok, b)
		}
	}
	if err := s.Complete(ctx, "k", "t3", idempotency.Stored{Status: 202, Body: []byte("{}")}, time.Hour); err != nil {
		t.Fatalf("the retried reservation cannot complete: %v", err)
	}
}

// Start is one script on a single server: the reservation, the claim and
// the lock in one round trip, whatever it finds.
func TestStartRoundTrips(t *testing.T) {
	ctx := context.Background()
	s, _, c := newStore(t)
	if err := startScript.Load(ctx, c).Err(); err != nil { // the cold cache costs an EVAL more
		t.Fatal(err)
	}
	var n commandCounter
	c.AddHook(&n)
	st, err := s.Start(ctx, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
	if err != nil || st.ClaimErr != nil || st.Begun.State != idempotency.Reserved || !st.Claim.Owned || !st.Lock.Held {
		t.Fatalf("start: %+v %v", st, err)
	}
	if n.n != 1 {
		t.Errorf("a start took %d round trips, want 1", n.n)
	}
	n.n = 0
	other, err := s.Start(ctx, "k2", "fp", time.Minute, "p|X|0", "k2#fp", "dossier|p|X")
	if err != nil || other.Begun.State != idempotency.Reserved || other.Claim.Owned || other.Claim.Owner != "k#fp" || other.Lock.Held {
		t.Fatalf("start of a claimed dossier: %+v %v", other, err)
	}
	if n.n != 1 {
		t.Errorf("a start of a claimed dossier took %d round trips, want 1", n.n)
	}
	if s.slots.refused.Load() {
		t.Error("a single server was taken for a Cluster")
	}
}

// A Cluster reached through one address refuses the start script, whose
// keys are in several slots; the store then takes the steps apart, as on a
// Cluster client, with the same outcomes.
func TestStartOnAClusterThroughOneAddress(t *testing.T) {
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: redistest.StartOneNodeCluster(t)})
	t.Cleanup(func() { _ = c.Close() })
	s := New(c, redistest.Prefix(t), storetest.NewClock().Now)
	st, err := s.Start(ctx, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
	if err != nil || st.ClaimErr != nil || st.Begun.State != idempotency.Reserved || !st.Claim.Owned || !st.Lock.Held {
		t.Fatalf("start: %+v %v", st, err)
	}
	if !s.slots.refused.Load() {
		t.Fatal("the server's CROSSSLOT went unnoticed")
	}
	other, err := s.Start(ctx, "k2", "fp", time.Minute, "p|X|0", "k2#fp", "dossier|p|X")
	if err != nil || other.Begun.State != idempotency.Reserved || other.Claim.Owned || other.Claim.Owner != "k#fp" || other.Lock.Held {
		t.Fatalf("start of a claimed dossier: %+v %v", other, err)
	}
	if again, err := s.Start(ctx, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X"); err != nil || again.Begun.State != idempotency.InProgress {
		t.Fatalf("start of a key in progress: %+v %v", again, err)
	}
	if l, err := s.LockDossier(ctx, "dossier|p|X", time.Minute); err != nil || l.Held {
		t.Fatalf("the first start's lock is not held: %+v %v", l, err)
	}
}

// The owner of a claim that Start's script finds beside a busy lock asks
// for the lock again, as ClaimAndLock's does: a lock given back meanwhile
// (a withdrawal's, another supplement's) is then held.
func TestStartAsksForABusyLockAgain(t *testing.T) {
	saved := lockRetries
	lockRetries = []time.Duration{20 * time.Millisecond, 200 * time.Millisecond, time.Second}
	t.Cleanup(func() { lockRetries = saved })
	ctx := context.Background()
	s, _, _ := newStore(t)
	busy, err := s.LockDossier(ctx, "dossier|p|X", time.Minute)
	if err != nil || !busy.Held {
		t.Fatalf("%+v %v", busy, err)
	}
	released := make(chan error, 1)
	time.AfterFunc(5*time.Millisecond, func() { released <- s.UnlockDossier(ctx, "dossier|p|X", busy.Token) })
	st, err := s.Start(ctx, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if err != nil || st.ClaimErr != nil || !st.Claim.Owned || !st.Lock.Held || st.Lock.Token == busy.Token {
		t.Fatalf("start beside a lock given back meanwhile: %+v %v", st, err)
	}
}

// A claim written before claims named their sender (no "snd" field), and
// left unsettled, may have been taken over since its content was sent: its
// sender is not known, so every key that recovers it, its owner included,
// is taking it over, and settled as sent it is nobody's: every key, the
// one that settled it included, is told it was sent.
func TestClaimWithoutSender(t *testing.T) {
	ctx := context.Background()
	s, clock, c := newStore(t)
	lease := time.Minute
	now := clock.Now()
	if err := c.HSet(ctx, s.dossierName("d"), "owner", "key-a", "lu", ms(now.Add(lease)), "exp", ms(now.Add(InProgressRetention))).Err(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(lease + time.Second)
	cl, err := s.ClaimDossier(ctx, "d", "key-a", lease)
	if err != nil || !cl.Owned || !cl.Recovered || !cl.TakenOver || cl.Sender != "" {
		t.Fatalf("its owner's retry of a claim without a sender: %+v %v, want taken over, sender not known", cl, err)
	}
	clock.Advance(lease + time.Second)
	if cl, err = s.ClaimDossier(ctx, "d", "key-b", lease); err != nil || !cl.Owned || !cl.TakenOver || cl.Sender != "" {
		t.Fatalf("another key's take-over: %+v %v, want taken over, sender not known", cl, err)
	}
	if err := s.SettleDossier(ctx, "d", "key-b", true, "KBNN-1", time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"key-a", "key-b"} {
		if cl, err := s.ClaimDossier(ctx, "d", key, lease); err != nil || cl.Owned || !cl.Sent || cl.Reference != "KBNN-1" {
			t.Fatalf("%s after the settlement: %+v %v, want another's sent claim", key, cl, err)
		}
	}
}
