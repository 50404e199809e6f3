package redisstore

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/redisha"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
	"github.com/kbnn/dvc/adapter/testkit/storetest"
)

const replicaTimeout = 200 * time.Millisecond

// The conformance suite on a store whose writes wait for one replica:
// the pipelined path keeps every semantic of the store.
func TestConformanceWaitingForAReplica(t *testing.T) {
	r := redistest.StartReplicated(t, 1)
	var n atomic.Int32
	storetest.Run(t, func(t *testing.T, now func() time.Time) idempotency.Store {
		prefix := "conf" + strconv.Itoa(int(n.Add(1))) + ":"
		return New(r.Primary, prefix, now).WaitForReplicas(redisha.New(r.Primary, 1, time.Second, nil))
	})
}

func TestCompleteWaitsForTheReplica(t *testing.T) {
	r := redistest.StartReplicated(t, 1)
	ctx := context.Background()
	shortfalls := map[string]int{}
	s := New(r.Primary, "dvc:", nil).WaitForReplicas(redisha.New(r.Primary, 1, replicaTimeout, func(op string) { shortfalls[op]++ }))
	resp := idempotency.Stored{Status: 202, Body: []byte(`{"ok":true}`)}

	b, err := s.Begin(ctx, "k1", "fp", time.Minute)
	if err != nil || b.State != idempotency.Reserved {
		t.Fatalf("%+v %v", b, err)
	}
	if err := s.Complete(ctx, "k1", b.Token, resp, time.Hour); err != nil {
		t.Fatal(err)
	}
	// The replica holds the completed record when Complete returns.
	if done, err := r.Replica(0).HGet(ctx, s.keyName("k1"), "done").Result(); err != nil || done != "1" {
		t.Fatalf("replica's record: done=%q, %v", done, err)
	}

	// Replica stalled: Complete is a shortfall, the record is on the
	// primary, and the replay waits too until the replica is back.
	b, err = s.Begin(ctx, "k2", "fp", time.Minute)
	if err != nil || b.State != idempotency.Reserved {
		t.Fatalf("%+v %v", b, err)
	}
	r.Pause(t, 0)
	if err := s.Complete(ctx, "k2", b.Token, resp, time.Hour); !errors.Is(err, idempotency.ErrNotReplicated) {
		t.Fatalf("Complete with the replica stalled: %v, want ErrNotReplicated", err)
	}
	if _, err := s.Begin(ctx, "k2", "fp", time.Minute); !errors.Is(err, idempotency.ErrNotReplicated) {
		t.Fatalf("replay with the replica stalled: %v, want ErrNotReplicated", err)
	}
	c, err := s.ClaimDossier(ctx, "p|H-1|0", "owner", time.Minute)
	if !errors.Is(err, idempotency.ErrNotReplicated) {
		t.Fatalf("claim with the replica stalled: %+v %v, want ErrNotReplicated", c, err)
	}
	if err := s.MarkSender(ctx, "p|H-1|0", "owner"); !errors.Is(err, idempotency.ErrNotReplicated) {
		t.Fatalf("the sender marked with the replica stalled: %v, want ErrNotReplicated", err)
	}
	r.Resume(t, 0)
	if b, err = s.Begin(ctx, "k2", "fp", time.Minute); err != nil || b.State != idempotency.Completed || b.Response.Status != 202 {
		t.Fatalf("replay after the replica is back: %+v %v", b, err)
	}
	// The claim left on the primary is the same owner's to take back, as
	// recovered: it asks the treasury before sending.
	if c, err = s.ClaimDossier(ctx, "p|H-1|0", "owner", time.Minute); err != nil || !c.Owned || !c.Recovered {
		t.Fatalf("claim retry: %+v %v, want owned and recovered", c, err)
	}
	want := map[string]int{"idempotency_complete": 1, "idempotency_replay": 1, "dossier_claim": 1, "dossier_sender": 1}
	for op, n := range want {
		if shortfalls[op] != n {
			t.Errorf("shortfalls %v, want %v", shortfalls, want)
			break
		}
	}
}

// BenchmarkBeginCompleteReplicas: Begin and Complete (two round trips;
// Complete waits) against a primary and one replica, minReplicas 0 and 1.
func BenchmarkBeginCompleteReplicas(b *testing.B) {
	r := redistest.StartReplicated(b, 1)
	for _, n := range []int{0, 1} {
		b.Run("minReplicas="+strconv.Itoa(n), func(b *testing.B) {
			ctx := context.Background()
			s := New(r.Primary, "bench"+strconv.Itoa(int(benchRun.Add(1)))+":", nil).WaitForReplicas(redisha.New(r.Primary, n, 500*time.Millisecond, nil))
			resp := idempotency.Stored{Status: 202, Body: benchBody,
				Header: map[string]string{"Content-Type": "application/json"}}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				key := "caller|" + strconv.Itoa(i)
				i++
				x, err := s.Begin(ctx, key, "fp", 30*time.Second)
				if err != nil || x.State != idempotency.Reserved {
					b.Fatalf("%+v %v", x, err)
				}
				if err := s.Complete(ctx, key, x.Token, resp, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchRun gives each run of a benchmark its own key prefix.
var benchRun atomic.Int32
