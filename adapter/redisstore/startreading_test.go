package redisstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/redisha"
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
// GetCapped reads them, once the start holds the dossier's lock: with the
// registrations' check too, and after the server lost its scripts. A start
// that does not hold the lock (a key in progress, a dossier busy, a
// registration missing, an answer to replay) reads nothing.
func TestStartReading(t *testing.T) {
	ctx := context.Background()
	s, _, c := newPrivateStore(t) // it empties the script cache
	att := NewAttachments(c, s.prefix, attachment.Limits{Retention: time.Hour}, nil)
	read := uploads(t, att)
	want, err := att.GetCapped(ctx, read)
	if err != nil || len(want) != 2 || len(want[attachment.Sum(bytes.Repeat([]byte("scan "), 8))]) != 11 {
		t.Fatalf("GetCapped: %d files, %v", len(want), err)
	}
	reg := NewSigners(c, s.prefix)
	regs := registrations(t, reg, "1045678")
	if err := startFoldedScript.Load(ctx, c).Err(); err != nil { // the cold cache costs an EVAL more
		t.Fatal(err)
	}
	var n commandCounter
	c.AddHook(&n)
	start := func(key, dossier string, regs []signers.Registration) (idempotency.Started, int, map[string][]byte, error) {
		n.n = 0
		return s.StartReading(ctx, att, read, reg, "1045678", regs, key, "fp", time.Minute, dossier, key+"#fp", "dossier|"+dossier)
	}

	st, missing, got, err := start("k", "p|X|0", nil)
	if err != nil || missing != -1 || st.Begun.State != idempotency.Reserved || !st.Claim.Owned || !st.Lock.Held {
		t.Fatalf("start: %+v, missing %d, %v", st, missing, err)
	}
	if !maps.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("read with the start: %q, want GetCapped's %q", got, want)
	}
	if n.n != 1 {
		t.Errorf("the start and its reads took %d round trips, want 1", n.n)
	}

	// a key in progress reads nothing
	st, _, got, err = start("k", "p|X|0", nil)
	if err != nil || st.Begun.State != idempotency.InProgress || got != nil || n.n != 1 {
		t.Fatalf("start of a key in progress: %+v, %d files, %d round trips, %v", st, len(got), n.n, err)
	}
	// another key of the same dossier, whose lock the first holds: nothing
	// read (the claim is the first key's; its lock too)
	if st, _, got, err = start("k-other", "p|X|0", nil); err != nil || st.Claim.Owned || st.Lock.Held || got != nil {
		t.Fatalf("start of a dossier claimed: %+v, %d files, %v", st, len(got), err)
	}
	// a dossier whose lock another holds (a withdrawal, say): the claim
	// is taken, the lock is not, nothing is read
	if _, err := s.LockDossier(ctx, "dossier|p|W|0", time.Minute); err != nil {
		t.Fatal(err)
	}
	if st, _, got, err = start("k-w", "p|W|0", nil); err != nil || !st.Claim.Owned || st.Lock.Held || got != nil {
		t.Fatalf("start of a dossier locked: %+v, %d files, %v", st, len(got), err)
	}
	// the owner's own retry of a claim already sent: the treasury holds
	// its document, so nothing is uploaded and nothing read
	stS, _, _, err := start("k-sent", "p|S|0", nil)
	if err != nil || !stS.Lock.Held {
		t.Fatalf("start: %+v %v", stS, err)
	}
	if err := s.SettleDossier(ctx, "p|S|0", "k-sent#fp", true, "KB-1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, "k-sent", stS.Begun.Token); err != nil {
		t.Fatal(err)
	}
	if err := s.UnlockDossier(ctx, "dossier|p|S|0", stS.Lock.Token); err != nil {
		t.Fatal(err)
	}
	if st, _, got, err = start("k-sent", "p|S|0", nil); err != nil || !st.Claim.Sent || !st.Lock.Held || got != nil {
		t.Fatalf("start of a claim sent: %+v, %d files, %v", st, len(got), err)
	}
	// an answered key replays, reading nothing
	if err := s.Complete(ctx, "k", st0Token(t, s, "k"), idempotency.Stored{Status: 202, Body: []byte("{}")}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if st, _, got, err = start("k", "p|X|0", nil); err != nil || st.Begun.State != idempotency.Completed || got != nil {
		t.Fatalf("start of an answered key: %+v, %d files, %v", st, len(got), err)
	}

	// with the registrations' check: the second is missing, nothing begun
	// or read
	st, missing, got, err = start("k2", "p|Y|0", regs)
	if err != nil || missing != 1 || st.Begun.State != 0 || got != nil || n.n != 1 {
		t.Fatalf("second registration missing: %+v, missing %d, %d files, %d round trips, %v", st, missing, len(got), n.n, err)
	}
	if _, err := reg.Put(ctx, regs[1]); err != nil {
		t.Fatal(err)
	}
	st, missing, got, err = start("k2", "p|Y|0", regs)
	if err != nil || missing != -1 || st.Begun.State != idempotency.Reserved || !st.Lock.Held || !maps.EqualFunc(got, want, bytes.Equal) || n.n != 1 {
		t.Fatalf("start of registered signers: %+v, missing %d, %d files, %d round trips, %v", st, missing, len(got), n.n, err)
	}

	// the server lost its scripts: the script is sent again whole
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	st, missing, got, err = start("k3", "p|Z|0", nil)
	if err != nil || missing != -1 || st.Begun.State != idempotency.Reserved || !st.Lock.Held || !maps.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("start after SCRIPT FLUSH: %+v, missing %d, %d files, %v", st, missing, len(got), err)
	}
}

// st0Token is the token of key's reservation as stored.
func st0Token(t *testing.T, s *Store, key string) string {
	t.Helper()
	tok, err := s.c.HGet(context.Background(), s.keyName(key), "tok").Result()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// cutReply fails the first run of startFoldedScript (with all set, every
// run) as a connection lost while its reply came: the script ran on the
// server, its reply is lost.
type cutReply struct {
	all bool
	cut int
}

func (h *cutReply) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *cutReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		args := cmd.Args()
		if cmd.Name() != "evalsha" || len(args) < 2 || (h.cut > 0 && !h.all) {
			return err
		}
		if args[1] == startFoldedScript.Hash() {
			h.cut++
			cmd.SetErr(io.ErrUnexpectedEOF)
			return io.ErrUnexpectedEOF
		}
		return err
	}
}
func (h *cutReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A start whose reply with the files was lost is asked again without them:
// the caller gets the reservation, the claim and the lock the lost reply
// held (the claim as recovered, so the treasury is asked first), and no
// files, where before the start failed and left them all held.
func TestStartReadingReplyLost(t *testing.T) {
	ctx := context.Background()
	s, _, c := newStore(t)
	att := NewAttachments(c, s.prefix, attachment.Limits{Retention: time.Hour}, nil)
	read := uploads(t, att)
	if err := startFoldedScript.Load(ctx, c).Err(); err != nil {
		t.Fatal(err)
	}
	h := &cutReply{}
	c.AddHook(h)
	st, missing, got, err := s.StartReading(ctx, att, read, signers.NewMemory(), "1045678", nil, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
	if h.cut != 1 {
		t.Fatalf("the reply was cut %d times, want 1", h.cut)
	}
	if err != nil || missing != -1 || st.Begun.State != idempotency.Reserved || !st.Claim.Owned || !st.Claim.Recovered || !st.Lock.Held || got != nil {
		t.Fatalf("start after a lost reply: %+v, missing %d, %d files, %v", st, missing, len(got), err)
	}
	// what it holds is its own: the answer completes, the lock is given back
	if r := s.Finish(ctx, idempotency.Final{Key: "k", Token: st.Begun.Token, Response: idempotency.Stored{Status: 202, Body: []byte("{}")},
		Retention: time.Hour, LockID: "dossier|p|X", LockToken: st.Lock.Token}); r != (idempotency.Finished{}) {
		t.Fatalf("finish: %+v", r)
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

// When claims wait for replicas the start takes its steps, each write
// waited for on its own: the reading script never runs, nothing is read.
func TestStartReadingWaitsForReplicasInSteps(t *testing.T) {
	ctx := context.Background()
	c, prefix := redistest.Client(t), redistest.Prefix(t)
	s := New(c, prefix, nil).WaitForReplicas(redisha.New(c, 1, 50*time.Millisecond, nil))
	att := NewAttachments(c, prefix, attachment.Limits{Retention: time.Hour}, nil)
	read := uploads(t, att)
	seen := &scriptsSeen{}
	c.AddHook(seen)
	_, missing, got, _ := s.StartReading(ctx, att, read, signers.NewMemory(), "1045678", nil, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
	if missing != -1 || got != nil {
		t.Fatalf("missing %d, %d files read", missing, len(got))
	}
	for _, cmd := range seen.cmds {
		if strings.HasSuffix(cmd, " "+startFoldedScript.Hash()) || cmd == "getrange" {
			t.Fatalf("the files were read with the start: %v", seen.cmds)
		}
	}
	if len(seen.cmds) == 0 {
		t.Fatal("no command seen")
	}
}

// A start whose reply is lost twice fails with the loss; an error the
// server answered (here, the key holding a value of another type) is not a
// lost reply and is not asked again.
func TestStartReadingFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("reply lost twice", func(t *testing.T) {
		s, _, c := newStore(t)
		att := NewAttachments(c, s.prefix, attachment.Limits{Retention: time.Hour}, nil)
		read := uploads(t, att)
		if err := startFoldedScript.Load(ctx, c).Err(); err != nil {
			t.Fatal(err)
		}
		h := &cutReply{all: true}
		c.AddHook(h)
		_, missing, got, err := s.StartReading(ctx, att, read, signers.NewMemory(), "1045678", nil, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
		if !errors.Is(err, io.ErrUnexpectedEOF) || missing != -1 || got != nil || h.cut != 2 {
			t.Fatalf("missing %d, %d files, %d cut, %v; want the loss, after asking once more", missing, len(got), h.cut, err)
		}
	})
	t.Run("an error answered", func(t *testing.T) {
		s, _, c := newStore(t)
		att := NewAttachments(c, s.prefix, attachment.Limits{Retention: time.Hour}, nil)
		read := uploads(t, att)
		if err := c.Set(ctx, s.keyName("k"), "not a hash", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		seen := &scriptsSeen{}
		c.AddHook(seen)
		_, missing, got, err := s.StartReading(ctx, att, read, signers.NewMemory(), "1045678", nil, "k", "fp", time.Minute, "p|X|0", "k#fp", "dossier|p|X")
		if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") || missing != -1 || got != nil {
			t.Fatalf("missing %d, %d files, %v; want WRONGTYPE", missing, len(got), err)
		}
		for _, cmd := range seen.cmds {
			if strings.HasSuffix(cmd, " "+startScript.Hash()) {
				t.Fatalf("an answered error was asked again: %v", seen.cmds)
			}
		}
	})
}
