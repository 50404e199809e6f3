package app

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// roundTrips records each command and each pipeline the client sends: one
// round trip each.
type roundTrips struct {
	mu  sync.Mutex
	log []string
}

func (h *roundTrips) add(s string) {
	h.mu.Lock()
	h.log = append(h.log, s)
	h.mu.Unlock()
}

func (h *roundTrips) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.log
	h.log = nil
	return l
}

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "eval" { // a script sent again after NOSCRIPT (another test may flush them)
			h.add(cmd.Name())
		}
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = c.Name()
		}
		h.add("pipeline[" + strings.Join(names, " ") + "]")
		return next(ctx, cmds)
	}
}

// TestSubmissionRoundTrips holds an accepted first submission to one
// treasury request and to its budget of Redis round trips, the largest
// part of its cost: the
// reservation with the claim and the lock, behind the check of the
// signers' registrations, with the reads of the uploaded attachments the
// dossier lists (1, all of them in the reservation's script), then the
// dossier's new record (one script writes it with its list indexes) with
// the claim's settlement, the stored answer and the unlock (1, one
// pipeline: redisstore.Store.FinishRegistering).
func TestSubmissionRoundTrips(t *testing.T) {
	u, err := url.Parse(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	h := &roundTrips{}
	e := startOpts(t, func(c *config.Config) {
		c.Store.Kind = "redis"
		c.Store.Redis.Addrs = []string{u.Host}
		c.Store.Redis.KeyPrefix = redistest.Prefix(t)
	}, Options{newRedisClient: func(o *redis.UniversalOptions) redis.UniversalClient {
		c := redis.NewUniversalClient(o)
		c.AddHook(h)
		return c
	}})
	// Warm: the server loads each script on its first EVALSHA (NOSCRIPT,
	// then EVAL), once.
	if a := e.send(t, fx(t, "von-dau-tu/valid-xml"), ""); a.status != 202 {
		t.Fatalf("warm-up: %d %s", a.status, a.body)
	}
	for _, tc := range []struct {
		fixture string
		budget  int
	}{
		{"chi-thuong-xuyen/valid-xml", 2},  // two attachments carried as parts
		{"chi-thuong-xuyen/valid-json", 2}, // two uploaded attachments, read with the reservation
	} {
		h.take()
		api := e.seen.api.Load()
		a := e.send(t, fx(t, tc.fixture), "")
		trips := h.take()
		if a.status != 202 {
			t.Fatalf("%s: %d %s", tc.fixture, a.status, a.body)
		}
		t.Logf("%s: %d round trips: %s", tc.fixture, len(trips), strings.Join(trips, ", "))
		if len(trips) > tc.budget {
			t.Errorf("%s: %d Redis round trips, budget %d", tc.fixture, len(trips), tc.budget)
		}
		// The files travel in the document (treasury.inlineAttachmentBytes).
		if n := e.seen.api.Load() - api; n != 1 {
			t.Errorf("%s: %d treasury requests, want 1 (the document, carrying its files)", tc.fixture, n)
		}
	}
}
