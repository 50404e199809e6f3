package redisstore

import (
	"testing"

	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// TestAnchorOnlyMovesForward: the anchor takes a longer tree's checkpoint,
// keeps its own against a shorter or equal one, and answers its size.
func TestAnchorOnlyMovesForward(t *testing.T) {
	a := NewAnchors(redistest.Client(t), redistest.Prefix(t))
	ctx := t.Context()
	if cp, err := a.Latest(ctx, "kbnn-dvc-adapter/a"); err != nil || cp != nil {
		t.Fatalf("no anchor yet: %q %v", cp, err)
	}
	steps := []struct {
		size uint64
		cp   string
		held uint64
		want string
	}{
		{10, "cp10", 10, "cp10"},
		{25, "cp25", 25, "cp25"},
		{20, "cp20", 25, "cp25"},
		{25, "cp25-other", 25, "cp25"},
		{1 << 52, "cpbig", 1 << 52, "cpbig"},
	}
	for _, s := range steps {
		held, err := a.Advance(ctx, "kbnn-dvc-adapter/a", s.size, []byte(s.cp))
		if err != nil || held != s.held {
			t.Fatalf("Advance(%d) = %d, %v; want %d", s.size, held, err, s.held)
		}
		cp, err := a.Latest(ctx, "kbnn-dvc-adapter/a")
		if err != nil || string(cp) != s.want {
			t.Fatalf("after Advance(%d): %q %v, want %q", s.size, cp, err, s.want)
		}
	}
	if cp, err := a.Latest(ctx, "kbnn-dvc-adapter/b"); err != nil || cp != nil {
		t.Fatalf("another origin: %q %v", cp, err)
	}
}
