package upstream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
)

// BenchmarkRejectOpen is the cost of refusing a call while the breaker is open: the path every
// request takes while the treasury is down.
func BenchmarkRejectOpen(b *testing.B) {
	s := testSettings()
	s.MinRequests = 1
	g := mustGroup(b, "treasury", s, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	e := g.Endpoint("send-document")
	_ = e.Do(context.Background(), false, func(context.Context) error { return errDown })
	if e.State() != StateOpen {
		b.Fatal("breaker did not open")
	}
	ctx := context.Background()
	fn := func(context.Context) error { b.Fatal("fn called"); return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Do(ctx, true, fn); !errors.Is(err, ErrOpen) {
			b.Fatalf("err = %v, want ErrOpen", err)
		}
	}
}

// BenchmarkDoSuccess is the overhead Do adds to a call that succeeds.
func BenchmarkDoSuccess(b *testing.B) {
	g := mustGroup(b, "treasury", testSettings())
	e := g.Endpoint("send-document")
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Do(ctx, true, fn); err != nil {
			b.Fatal(err)
		}
	}
}
