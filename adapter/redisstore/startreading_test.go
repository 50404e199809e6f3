package redisstore

import (
	"bytes"
	"context"
	"maps"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
	"github.com/kbnn/dvc/adapter/testkit/storetest"
)

// uploads puts a file of 40 bytes and the empty file into att and returns
// reads of them and of one absent file: the first listed smaller than it
// is (read one byte past), the empty one, the absent one.
func uploads(t *testing.T, att attachment.Store) map[string]int64 {
	t.Helper()
	data := bytes.Repeat([]byte("scan "), 8)
	for _, d := range [][]byte{data, {}} {
		if _, err := att.Put(context.Background(), attachment.Sum(d), d); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]int64{attachment.Sum(data): 10, attachment.Sum(nil): 0, attachment.Sum([]byte("never uploaded")): 5}
}

// StartReading reads the uploaded files in Start's own round trip, as
// GetCapped reads them, whatever the start finds; with the registrations'
// check too, and after the server lost its scripts.
func TestStartReading(t *testing.T) {
	ctx := context.Background()
	s, _, c := newStore(t)
	att := NewAttachments(c, s.prefix, attachment.Limits{Retention: time.Hour}, nil)
	read := uploads(t, att)
	want, err := att.GetCapped(ctx, read)
	if err != nil || len(want) != 2 || len(want[attachment.Sum(bytes.Repeat([]byte("scan "), 8))]) != 11 {
		t.Fatalf("GetCapped: %d files, %v", len(want), err)
	}
	reg := NewSigners(c, s.prefix)
	regs := registrations(t, reg, "1045678")
	for _, sc := range []*redis.Script{startScript, startRegisteredScript} {
		if err := sc.Load(ctx, c).Err(); err != nil { // the cold cache costs an EVAL more
			t.Fatal(err)
		}
	}
	var n commandCounter
	c.AddHook(&n)

	st, missing, got, err := s.StartReading(ctx, att, read, reg, "1045678", nil, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
	if err != nil || missing != -1 || st.Begun.State != idempotency.Reserved || !st.Claim.Owned || !st.Lock.Held {
		t.Fatalf("start: %+v, missing %d, %v", st, missing, err)
	}
	if !maps.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("read with the start: %q, want GetCapped's %q", got, want)
	}
	if n.n != 1 {
		t.Errorf("the start and its reads took %d round trips, want 1", n.n)
	}

	// a key in progress: the reads are made all the same
	n.n = 0
	st, _, got, err = s.StartReading(ctx, att, read, reg, "1045678", nil, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
	if err != nil || st.Begun.State != idempotency.InProgress || !maps.EqualFunc(got, want, bytes.Equal) || n.n != 1 {
		t.Fatalf("start of a key in progress: %+v, %d files, %d round trips, %v", st, len(got), n.n, err)
	}

	// with the registrations' check: the second is missing, nothing begun
	n.n = 0
	st, missing, _, err = s.StartReading(ctx, att, read, reg, "1045678", regs, "k2", "fp", time.Minute, "p|Y|0", "k2#fp", "dossier|p|Y")
	if err != nil || missing != 1 || st.Begun.State != 0 || n.n != 1 {
		t.Fatalf("second registration missing: %+v, missing %d, %d round trips, %v", st, missing, n.n, err)
	}
	if _, err := reg.Put(ctx, regs[1]); err != nil {
		t.Fatal(err)
	}
	n.n = 0
	st, missing, got, err = s.StartReading(ctx, att, read, reg, "1045678", regs, "k2", "fp", time.Minute, "p|Y|0", "k2#fp", "dossier|p|Y")
	if err != nil || missing != -1 || st.Begun.State != idempotency.Reserved || !st.Lock.Held || !maps.EqualFunc(got, want, bytes.Equal) || n.n != 1 {
		t.Fatalf("start of registered signers: %+v, missing %d, %d files, %d round trips, %v", st, missing, len(got), n.n, err)
	}

	// the server lost its scripts: the script is sent again whole, the
	// reads it made already stand
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	st, missing, got, err = s.StartReading(ctx, att, read, reg, "1045678", nil, "k3", "fp", time.Minute, "p|Z|0", "k3#fp", "dossier|p|Z")
	if err != nil || missing != -1 || st.Begun.State != idempotency.Reserved || !st.Lock.Held || !maps.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("start after SCRIPT FLUSH: %+v, missing %d, %d files, %v", st, missing, len(got), err)
	}
}

// Where the reads cannot go with the start, the start is made as it is
// without them and got is nil, for the caller to read them itself: files
// on another client, a file that cannot be read, a malformed hash, no
// files, and a Cluster behind one address (which refuses the script's keys
// of several slots).
func TestStartReadingWithoutTheReads(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) (*Store, attachment.Store, map[string]int64)
	}{
		{"files on another client", func(t *testing.T) (*Store, attachment.Store, map[string]int64) {
			s, _, c := newStore(t)
			other := redis.NewClient(&redis.Options{Addr: c.(*redis.Client).Options().Addr})
			t.Cleanup(func() { _ = other.Close() })
			att := NewAttachments(other, s.prefix, attachment.Limits{Retention: time.Hour}, nil)
			return s, att, uploads(t, att)
		}},
		{"files in memory", func(t *testing.T) (*Store, attachment.Store, map[string]int64) {
			s, _, _ := newStore(t)
			att := attachment.NewMemory(attachment.Limits{Retention: time.Hour}, nil)
			return s, att, uploads(t, att)
		}},
		{"a file key of another type", func(t *testing.T) (*Store, attachment.Store, map[string]int64) {
			s, _, c := newStore(t)
			att := NewAttachments(c, s.prefix, attachment.Limits{Retention: time.Hour}, nil)
			read := uploads(t, att)
			odd := attachment.Sum([]byte("a list, not a file"))
			if err := c.RPush(ctx, att.key(odd), "x").Err(); err != nil {
				t.Fatal(err)
			}
			read[odd] = 3
			return s, att, read
		}},
		{"a malformed hash", func(t *testing.T) (*Store, attachment.Store, map[string]int64) {
			s, _, c := newStore(t)
			att := NewAttachments(c, s.prefix, attachment.Limits{Retention: time.Hour}, nil)
			read := uploads(t, att)
			read["../etc"] = 1
			return s, att, read
		}},
		{"no files", func(t *testing.T) (*Store, attachment.Store, map[string]int64) {
			s, _, c := newStore(t)
			return s, NewAttachments(c, s.prefix, attachment.Limits{Retention: time.Hour}, nil), nil
		}},
		{"cluster through one address", func(t *testing.T) (*Store, attachment.Store, map[string]int64) {
			c := redis.NewClient(&redis.Options{Addr: redistest.StartOneNodeCluster(t)})
			t.Cleanup(func() { _ = c.Close() })
			prefix := redistest.Prefix(t)
			s := New(c, prefix, storetest.NewClock().Now)
			att := NewAttachments(c, prefix, attachment.Limits{Retention: time.Hour}, nil)
			return s, att, uploads(t, att)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, att, read := tc.setup(t)
			st, missing, got, err := s.StartReading(ctx, att, read, signers.NewMemory(), "1045678", nil, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
			if err != nil || missing != -1 || st.Begun.State != idempotency.Reserved || !st.Claim.Owned || !st.Lock.Held {
				t.Fatalf("start: %+v, missing %d, %v", st, missing, err)
			}
			if got != nil {
				t.Errorf("files read with the start: %q", got)
			}
		})
	}
}
