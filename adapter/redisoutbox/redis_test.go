package redisoutbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/testkit/clock"
	"github.com/kbnn/dvc/adapter/testkit/outboxtest"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

var ctx = context.Background()

const lease = 30 * time.Second

// newStore returns a store with its own prefix on a test clock.
func newStore(t *testing.T, opts ...Option) (*Store, *clock.Clock, redis.UniversalClient) {
	c, clock := redistest.Client(t), outboxtest.NewClock()
	return New(c, redistest.Prefix(t), clock.Now, opts...), clock, c
}

func TestConformanceOneShard(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T, now func() time.Time) outbox.Store {
		return New(redistest.Client(t), redistest.Prefix(t), now, WithShards(1))
	})
}

func mustAppend(t *testing.T, s outbox.Store, dossier, id string) {
	t.Helper()
	if ok, err := s.Append(ctx, dossier, id, []byte(id)); err != nil || !ok {
		t.Fatalf("append %s/%s: %v %v", dossier, id, ok, err)
	}
}

func claim(t *testing.T, s outbox.Store, worker string, want int) []outbox.Delivery {
	t.Helper()
	ds, err := s.Claim(ctx, worker, lease, 100)
	if err != nil || len(ds) != want {
		t.Fatalf("claim: %d deliveries (%v), want %d", len(ds), err, want)
	}
	return ds
}

func pending(t *testing.T, c redis.UniversalClient, s *Store) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for i := range s.shards {
		p, err := c.XPending(ctx, s.shards[i].keys[0], "outbox").Result()
		if err != nil {
			t.Fatal(err)
		}
		for consumer, n := range p.Consumers {
			out[consumer] += n
		}
	}
	return out
}

// TestKeysStayInTheirShardSlot: every key the store writes carries its
// shard's hash tag, and a dossier's keys that of the dossier's shard.
func TestKeysStayInTheirShardSlot(t *testing.T) {
	s, _, c := newStore(t)
	for i := range 40 {
		d := fmt.Sprintf("p|{odd}%d}{", i)
		mustAppend(t, s, d, "e1")
		mustAppend(t, s, d, "e2")
	}
	for i, d := range claim(t, s, "w", 40) {
		switch i % 3 {
		case 0:
			_ = s.Retry(ctx, d, time.Time{}.Add(time.Hour), "x")
		case 1:
			_ = s.DeadLetter(ctx, d, "x")
		}
	}
	keys, err := c.Keys(ctx, s.prefix+"*").Result()
	if err != nil || len(keys) < 40 {
		t.Fatalf("%d keys: %v", len(keys), err)
	}
	for _, k := range keys {
		rest := strings.TrimPrefix(k, s.prefix)
		if rest == "outbox:shards" {
			continue
		}
		open, end := strings.IndexByte(rest, '{'), strings.IndexByte(rest, '}')
		if !strings.HasPrefix(rest, "outbox:{s") || open != 7 || end < open {
			t.Fatalf("key %q has no shard tag first", k)
		}
		base := s.prefix + rest[:end+2]
		for _, kind := range []string{"dossier:", "queue:", "events:", "ids:"} {
			if d, ok := strings.CutPrefix(k, base+kind); ok && s.shardOf(d).base != base {
				t.Fatalf("key %q is not in the shard of dossier %q", k, d)
			}
		}
	}
}

// TestRepliesLostAfterTheScriptRan: a caller that dies (or loses the
// connection) after Redis ran a script leaves a consistent store.
func TestRepliesLostAfterTheScriptRan(t *testing.T) {
	t.Run("append", func(t *testing.T) {
		s, clock, _ := newStore(t)
		if err := s.run(ctx, appendScript, s.shardOf("D"), clock.Now(), "D", "e1", "p").Err(); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Append(ctx, "D", "e1", []byte("p")); err != nil || ok {
			t.Fatalf("the caller's retry: %v %v", ok, err)
		}
		if err := s.Ack(ctx, claim(t, s, "w", 1)[0]); err != nil {
			t.Fatal(err)
		}
		claim(t, s, "w", 0)
	})
	t.Run("claim", func(t *testing.T) {
		s, clock, c := newStore(t, WithShards(1))
		mustAppend(t, s, "D", "e1")
		now := clock.Now()
		if err := s.run(ctx, claimScript, &s.shards[0], now, "lost", ms(now.Add(lease)), "t", 10, -1).Err(); err != nil {
			t.Fatal(err)
		}
		claim(t, s, "w2", 0)
		if p := pending(t, c, s); p["lost"] != 1 {
			t.Fatalf("pending %v", p)
		}
		clock.Advance(lease)
		d := claim(t, s, "w2", 1)[0]
		if !d.Redelivered || d.Attempt != 2 {
			t.Fatalf("taken over %+v", d)
		}
		if p := pending(t, c, s); p["lost"] != 0 || p["w2"] != 1 {
			t.Fatalf("the pending turn was not claimed by w2: %v", p)
		}
		if err := s.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
		if p := pending(t, c, s); p["w2"] != 0 {
			t.Fatalf("pending after ack %v", p)
		}
	})
	t.Run("ack", func(t *testing.T) {
		s, clock, _ := newStore(t)
		mustAppend(t, s, "D", "e1")
		mustAppend(t, s, "D", "e2")
		d := claim(t, s, "w", 1)[0]
		if err := s.run(ctx, ackScript, s.shardOf("D"), clock.Now(), "D", "e1", d.Token).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.Ack(ctx, d); err != nil {
			t.Fatalf("the caller's retry: %v, want the ack's own answer", err)
		}
		if next := claim(t, s, "w", 1)[0]; next.ID != "e2" || next.Redelivered {
			t.Fatalf("next %+v", next)
		}
	})
	// A retry or dead letter whose reply was lost answers its rerun as it
	// answered the first run; a lease lost since (taken over after it
	// expired) is still ErrLeaseLost.
	t.Run("retry", func(t *testing.T) {
		s, clock, _ := newStore(t)
		mustAppend(t, s, "D", "e1")
		d := claim(t, s, "w", 1)[0]
		at := clock.Now().Add(time.Minute)
		if err := s.run(ctx, retryScript, s.shardOf("D"), clock.Now(), "D", "e1", d.Token, ms(at), record(clock.Now(), 'r', d.Worker, "rec")).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.Retry(ctx, d, at, "rec"); err != nil {
			t.Fatalf("the caller's retry: %v, want the retry's own answer", err)
		}
		if err := s.DeadLetter(ctx, d, "permanent"); !errors.Is(err, outbox.ErrLeaseLost) {
			t.Fatalf("another outcome for the same lease: %v", err)
		}
	})
	t.Run("dead letter", func(t *testing.T) {
		s, clock, _ := newStore(t)
		mustAppend(t, s, "D", "e1")
		d := claim(t, s, "w", 1)[0]
		now := clock.Now()
		if err := s.run(ctx, deadScript, s.shardOf("D"), now, "D", "e1", d.Token, record(now, 'd', d.Worker, "permanent"), "permanent", outbox.DeadKey(now, "D", "e1")).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.DeadLetter(ctx, d, "permanent"); err != nil {
			t.Fatalf("the caller's retry: %v, want the dead letter's own answer", err)
		}
		dead, _, err := s.DeadLetters(ctx, "", 10)
		if err != nil || len(dead) != 1 {
			t.Fatalf("dead letters %+v %v, want the one", dead, err)
		}
	})
}

// TestStrayTurnIsDropped: a turn entry that is not its dossier's current
// turn never leases the dossier a second time.
func TestStrayTurnIsDropped(t *testing.T) {
	s, _, c := newStore(t, WithShards(1))
	mustAppend(t, s, "D", "e1")
	mustAppend(t, s, "D", "e2")
	d := claim(t, s, "w1", 1)[0]
	turns := s.shards[0].keys[0]
	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: turns, Values: []string{"d", "D"}}).Err(); err != nil {
		t.Fatal(err)
	}
	claim(t, s, "w2", 0)
	if n, err := c.XLen(ctx, turns).Result(); err != nil || n != 1 {
		t.Fatalf("%d turns left (%v), want the leased one", n, err)
	}
	if err := s.Ack(ctx, d); err != nil {
		t.Fatal(err)
	}
	if d := claim(t, s, "w2", 1)[0]; d.ID != "e2" {
		t.Fatalf("next %+v", d)
	}
}

// TestNothingLeftBehind: once every event is delivered, the streams, sets
// and queues are empty and only the dedup records remain, with a TTL.
func TestNothingLeftBehind(t *testing.T) {
	s, clock, c := newStore(t, WithShards(4))
	for i := range 30 {
		for j := range 3 {
			mustAppend(t, s, fmt.Sprintf("D%02d", i), fmt.Sprintf("e%d", j))
		}
	}
	for round := 0; round < 20; round++ {
		ds, err := s.Claim(ctx, fmt.Sprintf("w%d", round%3), lease, 100)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range ds {
			switch (i + round) % 5 {
			case 0:
				_ = s.Retry(ctx, d, clock.Now().Add(time.Second), "503")
			case 1: // crash
			case 2:
				_ = s.DeadLetter(ctx, d, "422")
			default:
				_ = s.Ack(ctx, d)
			}
		}
		if _, err := s.ReplayAll(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(lease)
	}
	for {
		ds, err := s.Claim(ctx, "final", lease, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			if err := s.Ack(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st, err := s.Stats(ctx); err != nil || st != (outbox.Stats{}) {
		t.Fatalf("stats %+v %v", st, err)
	}
	for i := range s.shards {
		sh := &s.shards[i]
		for _, k := range sh.keys[1:4] {
			if n, _ := c.ZCard(ctx, k).Result(); n != 0 {
				t.Errorf("%s holds %d", k, n)
			}
		}
		if n, _ := c.XLen(ctx, sh.keys[0]).Result(); n != 0 {
			t.Errorf("%s holds %d entries", sh.keys[0], n)
		}
	}
	if p := pending(t, c, s); len(p) != 0 {
		t.Errorf("pending %v", p)
	}
	keys, _ := c.Keys(ctx, s.prefix+"outbox:*").Result()
	for _, k := range keys {
		if strings.Contains(k, "}:queue:") || strings.Contains(k, "}:events:") {
			t.Errorf("%s left", k)
		}
		if strings.Contains(k, "}:dossier:") || strings.Contains(k, "}:ids:") {
			if d, _ := c.PTTL(ctx, k).Result(); d <= outbox.DefaultRetention || d > outbox.DefaultRetention+TTLSlack {
				t.Errorf("%s has TTL %v", k, d)
			}
		}
	}
}

func TestIdleConsumersAreTidied(t *testing.T) {
	s, _, c := newStore(t, WithShards(1))
	s.tidyIdle = 0
	consumers := func() map[string]bool {
		t.Helper()
		cs, err := c.XInfoConsumers(ctx, s.shards[0].keys[0], "outbox").Result()
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, x := range cs {
			names[x.Name] = true
		}
		return names
	}
	mustAppend(t, s, "D", "e1")
	if err := s.Ack(ctx, claim(t, s, "gone", 1)[0]); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "E", "f1")
	claim(t, s, "alive", 1) // keeps a pending turn
	if got := consumers(); !got["gone"] || !got["alive"] {
		t.Fatalf("consumers before: %v", got)
	}
	s.claims.Store(tidyEvery - 1)
	claim(t, s, "me", 0)
	if got := consumers(); got["gone"] || !got["alive"] {
		t.Fatalf("consumers after: %v, want gone deleted and alive kept", got)
	}
}

func TestShardCountIsChecked(t *testing.T) {
	s, _, c := newStore(t)
	for range 2 {
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	other := New(c, s.prefix, nil, WithShards(8))
	if err := other.Ping(ctx); err == nil || !strings.Contains(err.Error(), "shards") {
		t.Fatalf("ping with another shard count: %v", err)
	}
}

func TestHistoryRecordRoundTrip(t *testing.T) {
	at := time.UnixMilli(1781000000123)
	var h string
	in := []outbox.Attempt{
		{At: at, Worker: "host-1,2:3", Outcome: outbox.OutcomeRetry, Reason: "12:34,5\n\x00\xff"},
		{At: at, Worker: "", Outcome: outbox.OutcomeDeadLetter, Reason: ""},
		{At: at, Worker: "w", Outcome: outbox.OutcomeLeaseExpired, Reason: "lease expired"},
	}
	codes := map[outbox.Outcome]byte{outbox.OutcomeRetry: 'r', outbox.OutcomeDeadLetter: 'd', outbox.OutcomeLeaseExpired: 'e'}
	for _, a := range in {
		r := record(a.At, codes[a.Outcome], a.Worker, a.Reason)
		h += fmt.Sprintf("%d:%s", len(r), r)
	}
	out, err := parseHistory(h)
	if err != nil || len(out) != len(in) {
		t.Fatalf("%v %v", out, err)
	}
	for i := range in {
		if !out[i].At.Equal(in[i].At) || out[i].Worker != in[i].Worker || out[i].Outcome != in[i].Outcome || out[i].Reason != in[i].Reason {
			t.Errorf("%d: %+v, want %+v", i, out[i], in[i])
		}
	}
	for _, bad := range []string{"5:1,r,0", "x:", "3:1,r", "9:1,q,0,abc", "7:1,r,9,ab"} {
		if _, err := parseHistory(bad); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}

func TestUnreachableRedisFailsClosed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	down := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, DialerRetries: 1, MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	s := New(down, "test:down:", outboxtest.NewClock().Now, WithShards(2))
	d := outbox.Delivery{Event: outbox.Event{Dossier: "D", ID: "e"}, Token: "t"}
	ops := map[string]func() error{
		"append":       func() error { _, err := s.Append(ctx, "D", "e", nil); return err },
		"claim":        func() error { _, err := s.Claim(ctx, "w", lease, 1); return err },
		"ack":          func() error { return s.Ack(ctx, d) },
		"retry":        func() error { return s.Retry(ctx, d, time.Time{}, "") },
		"dead letter":  func() error { return s.DeadLetter(ctx, d, "") },
		"dead letters": func() error { _, _, err := s.DeadLetters(ctx, "", 1); return err },
		"inspect":      func() error { _, err := s.Inspect(ctx, "D", "e"); return err },
		"replay":       func() error { return s.Replay(ctx, "D", "e") },
		"replay all":   func() error { _, err := s.ReplayAll(ctx); return err },
		"discard":      func() error { return s.Discard(ctx, "D", "e") },
		"stats":        func() error { _, err := s.Stats(ctx); return err },
		"ping":         func() error { return s.Ping(ctx) },
	}
	for name, op := range ops {
		err := op()
		var opErr *net.OpError
		if err == nil || errors.Is(err, outbox.ErrLeaseLost) || errors.Is(err, outbox.ErrNotFound) ||
			!errors.As(err, &opErr) || !strings.HasPrefix(err.Error(), "redisoutbox: ") {
			t.Errorf("%s on an unreachable Redis: %v, want a wrapped network error", name, err)
		}
	}
}

func TestScriptCacheFlushed(t *testing.T) {
	// A server of its own: emptying the shared server's script cache would
	// make the scripts of the tests beside it miss.
	c, clock := redistest.StartServer(t), outboxtest.NewClock()
	s := New(c, redistest.Prefix(t), clock.Now)
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "D", "e1")
	claim(t, s, "w", 1)
}
