// Package outboxtest is the conformance suite every outbox.Store must pass:
// the in-memory store and the Redis store run the same tests, on an injected
// clock, driving Claim (or a Worker's Poll) directly, never sleeping.
package outboxtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/testkit/clock"
)

// NewClock starts at a fixed instant (whole milliseconds, as every store
// keeps them).
func NewClock() *clock.Clock { return clock.New(time.Date(2026, 6, 9, 2, 0, 0, 0, time.UTC)) }

// Factory returns a fresh, empty store on clock now, remembering event ids
// for outbox.DefaultRetention. Each call must be isolated from the others
// (for Redis: its own key prefix).
type Factory func(t *testing.T, now func() time.Time) outbox.Store

const lease = 30 * time.Second

var ctx = context.Background()

// Run runs the whole suite.
func Run(t *testing.T, newStore Factory) {
	t.Run("queue", func(t *testing.T) { runQueue(t, newStore) })
	t.Run("leases", func(t *testing.T) { runLeases(t, newStore) })
	t.Run("dead letters", func(t *testing.T) { runDead(t, newStore) })
	t.Run("worker", func(t *testing.T) { runWorker(t, newStore) })
	t.Run("concurrent workers keep per-dossier order", func(t *testing.T) { runStress(t, newStore) })
}

func mustAppend(t *testing.T, s outbox.Store, dossier, id string, want bool) {
	t.Helper()
	ok, err := s.Append(ctx, dossier, id, payload(dossier, id))
	if err != nil {
		t.Fatalf("Append(%s, %s): %v", dossier, id, err)
	}
	if ok != want {
		t.Fatalf("Append(%s, %s) = %v, want %v", dossier, id, ok, want)
	}
}

// payload is binary (a NUL, an invalid UTF-8 byte) so that stores must
// keep bytes, not text.
func payload(dossier, id string) []byte {
	return append([]byte(dossier+"\x00"+id+"\xff"), bytes.Repeat([]byte{'p'}, 64)...)
}

func claim(t *testing.T, s outbox.Store, worker string, max int) []outbox.Delivery {
	t.Helper()
	ds, err := s.Claim(ctx, worker, lease, max)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if len(ds) > max {
		t.Fatalf("Claim(max %d) returned %d", max, len(ds))
	}
	return ds
}

// claimOne claims and expects exactly event id of dossier.
func claimOne(t *testing.T, s outbox.Store, worker, dossier, id string) outbox.Delivery {
	t.Helper()
	ds := claim(t, s, worker, 10)
	if len(ds) != 1 || ds[0].Dossier != dossier || ds[0].ID != id {
		t.Fatalf("Claim = %s, want only %s/%s", describe(ds), dossier, id)
	}
	if !bytes.Equal(ds[0].Payload, payload(dossier, id)) {
		t.Fatalf("payload of %s/%s = %q", dossier, id, ds[0].Payload)
	}
	return ds[0]
}

func claimNone(t *testing.T, s outbox.Store, worker string) {
	t.Helper()
	if ds := claim(t, s, worker, 10); len(ds) != 0 {
		t.Fatalf("Claim = %s, want nothing", describe(ds))
	}
}

func describe(ds []outbox.Delivery) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, d := range ds {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s/%s#%d(attempt %d, redelivered %v)", d.Dossier, d.ID, d.Seq, d.Attempt, d.Redelivered)
	}
	b.WriteByte(']')
	return b.String()
}

func ack(t *testing.T, s outbox.Store, d outbox.Delivery) {
	t.Helper()
	if err := s.Ack(ctx, d); err != nil {
		t.Fatalf("Ack(%s/%s): %v", d.Dossier, d.ID, err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

func wantStats(t *testing.T, s outbox.Store, want outbox.Stats) {
	t.Helper()
	got, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s = %v, want %v", what, got.UTC(), want.UTC())
	}
}
