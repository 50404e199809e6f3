package slots

import (
	"context"
	"testing"
	"time"
)

// Take takes a free slot at once; with none free it waits for one given
// back, and gives up when its wait or its context ends first, or at once
// without a wait.
func TestTake(t *testing.T) {
	s := New(1, time.Minute)
	if !s.Take(t.Context()) || s.Taken() != 1 {
		t.Fatal("a free slot was not taken")
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		s.Give()
	}()
	if !s.Take(t.Context()) {
		t.Fatal("a slot given back while waiting was not taken")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if s.Take(ctx) {
		t.Fatal("took a slot none of which was free, with its context ended")
	}
	if !New(1, 0).Take(t.Context()) {
		t.Fatal("a free slot without a wait was not taken")
	}
	short := New(1, time.Millisecond)
	short.Take(t.Context())
	if short.Take(t.Context()) {
		t.Fatal("took a slot none of which came free within the wait")
	}
	none := New(1, 0)
	none.Take(t.Context())
	if none.Take(t.Context()) || none.Taken() != 1 {
		t.Fatal("took a slot none of which was free, without a wait")
	}
	s.Give()
	if s.Taken() != 0 {
		t.Fatalf("%d slots taken after every one was given back", s.Taken())
	}
}
