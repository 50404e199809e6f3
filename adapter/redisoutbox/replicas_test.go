package redisoutbox

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/redisha"
	"github.com/kbnn/dvc/adapter/testkit/outboxtest"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// The conformance suite on a store whose Append waits for one replica.
func TestConformanceWaitingForAReplica(t *testing.T) {
	r := redistest.StartReplicated(t, 1)
	var n atomic.Int32
	outboxtest.Run(t, func(t *testing.T, now func() time.Time) outbox.Store {
		prefix := "conf" + strconv.Itoa(int(n.Add(1))) + ":"
		return New(r.Primary, prefix, now, WithReplicaWait(redisha.New(r.Primary, 1, time.Second, nil)))
	})
}

func TestAppendWaitsForTheReplica(t *testing.T) {
	r := redistest.StartReplicated(t, 1)
	ctx := context.Background()
	s := New(r.Primary, "dvc:", nil, WithReplicaWait(redisha.New(r.Primary, 1, 200*time.Millisecond, nil)))
	if ok, err := s.Append(ctx, "p|H-1", "e1", []byte("one")); err != nil || !ok {
		t.Fatalf("append: %v %v", ok, err)
	}
	ek := s.shardOf("p|H-1").base + "events:p|H-1"
	if got, err := r.Replica(0).HGet(ctx, ek, "pe1").Result(); err != nil || got != "one" {
		t.Fatalf("replica holds %q, %v; want the event", got, err)
	}
	r.Pause(t, 0)
	if _, err := s.Append(ctx, "p|H-1", "e2", []byte("two")); !errors.Is(err, redisha.ErrShortfall) {
		t.Fatalf("append with the replica stalled: %v, want a shortfall", err)
	}
	// The treasury's retry: a duplicate, still not acknowledged while the
	// replica is stalled, acknowledged once it is back.
	if _, err := s.Append(ctx, "p|H-1", "e2", []byte("two")); !errors.Is(err, redisha.ErrShortfall) {
		t.Fatalf("retry with the replica stalled: %v, want a shortfall", err)
	}
	r.Resume(t, 0)
	if ok, err := s.Append(ctx, "p|H-1", "e2", []byte("two")); err != nil || ok {
		t.Fatalf("retry after the replica is back: %v %v, want a duplicate", ok, err)
	}
	if got, err := r.Replica(0).HGet(ctx, ek, "pe2").Result(); err != nil || got != "two" {
		t.Fatalf("replica holds %q, %v; want the event", got, err)
	}
}

// BenchmarkAppendReplicas: one Append per op against a primary and one
// replica, minReplicas 0 and 1.
func BenchmarkAppendReplicas(b *testing.B) {
	r := redistest.StartReplicated(b, 1)
	for _, n := range []int{0, 1} {
		b.Run("minReplicas="+strconv.Itoa(n), func(b *testing.B) {
			s := New(r.Primary, "bench"+strconv.Itoa(int(benchRun.Add(1)))+":", nil, WithReplicaWait(redisha.New(r.Primary, n, 500*time.Millisecond, nil)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if ok, err := s.Append(context.Background(), "chi-thuong-xuyen|G09.20-"+strconv.Itoa(i%1000), "evt-"+strconv.Itoa(i), benchPayload); err != nil || !ok {
					b.Fatal(ok, err)
				}
				i++
			}
		})
	}
}

// benchRun gives each run of a benchmark its own key prefix.
var benchRun atomic.Int32
