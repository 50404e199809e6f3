package redisha_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/redisha"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// setIfAbsent writes ARGV[1] under KEYS[1] unless it exists, like the
// stores' scripts that find a duplicate and write nothing.
var setIfAbsent = redis.NewScript(`return redis.call('SET', KEYS[1], ARGV[1], 'NX') and 1 or 0`)

const timeout = 200 * time.Millisecond

func TestRunWaitsForTheReplica(t *testing.T) {
	r := redistest.StartReplicated(t, 1)
	ctx := context.Background()
	var shortfalls atomic.Int32
	w := redisha.New(r.Primary, 1, timeout, func(string) { shortfalls.Add(1) })
	cmd, err := w.Run(ctx, "test", setIfAbsent, []string{"k:{a}"}, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := cmd.Int64(); n != 1 {
		t.Fatalf("script reply %d, want 1", n)
	}
	// Acknowledged means held by the replica as the answer comes back.
	if got, err := r.Replica(0).Get(ctx, "k:{a}").Result(); err != nil || got != "v1" {
		t.Fatalf("replica holds %q, %v; want v1", got, err)
	}
	if shortfalls.Load() != 0 {
		t.Errorf("%d shortfalls counted", shortfalls.Load())
	}
}

func TestRunShortfallWhenTheReplicaStalls(t *testing.T) {
	r := redistest.StartReplicated(t, 1)
	ctx := context.Background()
	var ops []string
	w := redisha.New(r.Primary, 1, timeout, func(op string) { ops = append(ops, op) })
	r.Pause(t, 0)
	start := time.Now()
	cmd, err := w.Run(ctx, "test", setIfAbsent, []string{"k:{b}"}, "v1")
	took := time.Since(start)
	var sf *redisha.Shortfall
	if !errors.Is(err, redisha.ErrShortfall) || !errors.As(err, &sf) {
		t.Fatalf("err = %v, want a shortfall", err)
	}
	if sf.Acked != 0 || sf.Want != 1 {
		t.Errorf("shortfall %+v, want 0 of 1", sf)
	}
	if took < timeout {
		t.Errorf("shortfall after %v, before the timeout %v: WAIT did not wait", took, timeout)
	}
	// The write happened on the primary: the reply stands and a retry
	// finds it.
	if n, _ := cmd.Int64(); n != 1 {
		t.Errorf("script reply %d, want 1", n)
	}
	if got, _ := r.Primary.Get(ctx, "k:{b}").Result(); got != "v1" {
		t.Errorf("primary holds %q, want v1", got)
	}
	if len(ops) != 1 || ops[0] != "test" {
		t.Errorf("shortfalls counted %v, want [test]", ops)
	}
	// The retry's script writes nothing (the key exists): the marker still
	// makes WAIT cover the earlier write, so the retry is a shortfall too
	// while the replica is stalled, and succeeds once it is back.
	if _, err := w.Run(ctx, "test", setIfAbsent, []string{"k:{b}"}, "v2"); !errors.Is(err, redisha.ErrShortfall) {
		t.Fatalf("retry while stalled: err = %v, want a shortfall", err)
	}
	r.Resume(t, 0)
	cmd, err = w.Run(ctx, "test", setIfAbsent, []string{"k:{b}"}, "v2")
	if err != nil {
		t.Fatalf("retry after resume: %v", err)
	}
	if n, _ := cmd.Int64(); n != 0 {
		t.Errorf("retry's script reply %d, want 0 (already there)", n)
	}
	if got, _ := r.Replica(0).Get(ctx, "k:{b}").Result(); got != "v1" {
		t.Errorf("replica holds %q after the retry, want v1", got)
	}
}

func TestConfirmCoversAnEarlierWrite(t *testing.T) {
	r := redistest.StartReplicated(t, 1)
	ctx := context.Background()
	// Confirm's connection (one, pooled) wrote and was acknowledged before
	// the replica stalled; the earlier write comes from another client
	// (another instance). WAIT alone on that connection would count the
	// replica against the connection's own older write on the Redis
	// versions that move the offset only after a propagated write. (Redis
	// 7.0 moves it after every command, so there this also holds without
	// the marker.)
	wc := redis.NewClient(&redis.Options{Addr: r.Addr, PoolSize: 1})
	t.Cleanup(func() { _ = wc.Close() })
	if err := wc.Set(ctx, "warm", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := wc.Do(ctx, "wait", 1, 5000).Int64(); err != nil || n != 1 {
		t.Fatalf("WAIT before the stall: %d %v", n, err)
	}
	w := redisha.New(wc, 1, timeout, nil)
	r.Pause(t, 0)
	if err := r.Primary.Set(ctx, "k:{c}", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// A plain WAIT on a fresh connection that wrote nothing would count the
	// stalled replica at once; Confirm must not.
	if err := w.Confirm(ctx, "test", "k:{c}"); !errors.Is(err, redisha.ErrShortfall) {
		t.Fatalf("Confirm while stalled: %v, want a shortfall", err)
	}
	r.Resume(t, 0)
	if err := w.Confirm(ctx, "test", "k:{c}"); err != nil {
		t.Fatalf("Confirm after resume: %v", err)
	}
	if got, _ := r.Replica(0).Get(ctx, "k:{c}").Result(); got != "v" {
		t.Errorf("replica holds %q, want v", got)
	}
}

func TestNoWaitWithoutReplicas(t *testing.T) {
	r := redistest.StartReplicated(t, 1)
	ctx := context.Background()
	w := redisha.New(r.Primary, 0, timeout, func(string) { t.Error("shortfall counted without minReplicas") })
	r.Pause(t, 0)
	if _, err := w.Run(ctx, "test", setIfAbsent, []string{"k:{d}"}, "v"); err != nil {
		t.Fatal(err)
	}
	if err := w.Confirm(ctx, "test", "k:{d}"); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.Primary.Exists(ctx, "k:{d}:w").Result(); n != 0 {
		t.Error("a marker key was written without minReplicas")
	}
}

func TestScriptErrorIsTheCallers(t *testing.T) {
	r := redistest.StartReplicated(t, 1)
	w := redisha.New(r.Primary, 1, timeout, nil)
	bad := redis.NewScript(`return redis.error_reply('BAD thing')`)
	if _, err := w.Run(context.Background(), "test", bad, []string{"k:{e}"}); err == nil || errors.Is(err, redisha.ErrShortfall) {
		t.Fatalf("err = %v, want the script's error", err)
	}
}

func TestRunWithoutAServer(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	w := redisha.New(c, 1, timeout, func(string) { t.Error("a shortfall counted without a server") })
	cmd, err := w.Run(context.Background(), "test", setIfAbsent, []string{"k:{f}"}, "v")
	if err == nil || errors.Is(err, redisha.ErrShortfall) || cmd.Err() == nil {
		t.Fatalf("err = %v, cmd err = %v; want a connection error on both", err, cmd.Err())
	}
}

// A marker that cannot be written (here the primary refuses writes, out of
// memory under noeviction) leaves WAIT counting against an older offset of
// the connection: Confirm answers the error, never a success.
func TestConfirmFailsWithoutItsMarker(t *testing.T) {
	r := redistest.StartReplicated(t, 1)
	ctx := context.Background()
	w := redisha.New(r.Primary, 1, timeout, nil)
	if err := w.Confirm(ctx, "test", "k:{m}"); err != nil {
		t.Fatalf("Confirm with a healthy primary and replica: %v", err)
	}
	if err := r.Primary.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Primary.ConfigSet(ctx, "maxmemory", "0").Err() })
	err := w.Confirm(ctx, "test", "k:{m}")
	if err == nil || !strings.Contains(err.Error(), "OOM") {
		t.Fatalf("Confirm when the marker is refused: %v, want the OOM error", err)
	}
}
