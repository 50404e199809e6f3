package outbox_test

import (
	"context"
	"errors"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kbnn/dvc/adapter/outbox"
)

// countingStats counts the reads of the store it wraps; err, when set,
// replaces every answer.
type countingStats struct {
	store outbox.StatsReader
	err   error
	reads atomic.Int64
}

func (c *countingStats) Stats(ctx context.Context) (outbox.Stats, error) {
	c.reads.Add(1)
	if c.err != nil {
		return outbox.Stats{}, c.err
	}
	return c.store.Stats(ctx)
}

// series gathers reg once: "name" or "name{label=value}" → value, and how
// many times each key was seen.
func series(t *testing.T, reg *prometheus.Registry) (map[string]float64, map[string]int) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values, seen := map[string]float64{}, map[string]int{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			values[key] = v
			seen[key]++
		}
	}
	return values, seen
}

func registry(t *testing.T, cs ...prometheus.Collector) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// One scrape reads the outbox once and gives each of the four depths once.
func TestDepthCollectorReadsOncePerScrape(t *testing.T) {
	now := time.Date(2026, 6, 9, 9, 0, 0, 0, time.UTC)
	box := outbox.NewMemory(func() time.Time { return now })
	ctx := context.Background()
	for _, ev := range [][2]string{{"p|A", "e1"}, {"p|A", "e2"}, {"p|B", "e1"}} {
		if _, err := box.Append(ctx, ev[0], ev[1], []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := box.Claim(ctx, "w1", time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	want, err := box.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stats := &countingStats{store: box}
	reg := registry(t, outbox.NewDepthCollector(stats, time.Second))

	got, seen := series(t, reg)
	if n := stats.reads.Load(); n != 1 {
		t.Fatalf("one scrape read the outbox %d times, want once", n)
	}
	wantValues := map[string]float64{
		"dvc_outbox_events{state=pending}":   float64(want.Pending),
		"dvc_outbox_events{state=in_flight}": float64(want.InFlight),
		"dvc_outbox_events{state=waiting}":   float64(want.Waiting),
		"dvc_outbox_events{state=dead}":      float64(want.Dead),
		"dvc_outbox_stats_errors_total":      0,
	}
	if !maps.Equal(got, wantValues) {
		t.Fatalf("series %v, want %v", got, wantValues)
	}
	if want.Pending != 3 || want.InFlight != 1 {
		t.Fatalf("stats %+v, want 3 pending with 1 in flight", want)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s appears %d times", k, n)
		}
	}
}

// A failed read is counted; no depth is made up for that scrape.
func TestDepthCollectorCountsErrors(t *testing.T) {
	stats := &countingStats{err: errors.New("redis: connection refused")}
	reg := registry(t, outbox.NewDepthCollector(stats, time.Second))
	for scrape := 1; scrape <= 2; scrape++ {
		got, _ := series(t, reg)
		want := map[string]float64{"dvc_outbox_stats_errors_total": float64(scrape)}
		if !maps.Equal(got, want) {
			t.Fatalf("scrape %d: series %v, want %v", scrape, got, want)
		}
	}
}

func TestAttemptCounter(t *testing.T) {
	a := outbox.NewAttemptCounter()
	reg := registry(t, a)
	for _, r := range []outbox.Result{outbox.Delivered, outbox.Retried, outbox.Delivered, outbox.DeadLettered} {
		a.Observe(r)
	}
	got, _ := series(t, reg)
	want := map[string]float64{
		"dvc_delivery_attempts_total{result=delivered}":     2,
		"dvc_delivery_attempts_total{result=retried}":       1,
		"dvc_delivery_attempts_total{result=dead-lettered}": 1,
	}
	if !maps.Equal(got, want) {
		t.Fatalf("series %v, want %v", got, want)
	}
}
