package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// A step of New that fails after the Redis store was opened closes the
// store's client: nothing of a failed start stays connected.
func TestNewClosesRedisClientWhenALaterStepFails(t *testing.T) {
	u, err := url.Parse(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	redisConfig := func() *config.Config {
		cfg := testConfig(t, "http://127.0.0.1:1")
		cfg.Store.Kind = "redis"
		cfg.Store.Redis.Addrs = []string{u.Host}
		cfg.Store.Redis.KeyPrefix = redistest.Prefix(t)
		return cfg
	}
	var made []redis.UniversalClient
	o := Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		newRedisClient: func(opts *redis.UniversalOptions) redis.UniversalClient {
			c := redis.NewUniversalClient(opts)
			made = append(made, c)
			return c
		}}

	// The status path refuses a callback secret that is not whsec_<base64>.
	cfg := redisConfig()
	cfg.Callbacks.Secrets = []config.Secret{"not-a-webhook-secret"}
	if _, err := New(cfg, o); err == nil {
		t.Fatal("New accepted a malformed callback secret")
	}
	if len(made) != 1 {
		t.Fatalf("New made %d Redis clients, want 1 (the failing step must come after the store)", len(made))
	}
	if err := made[0].Ping(context.Background()).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("Ping on the client of a failed New: %v, want %v", err, redis.ErrClosed)
	}

	// The same hook on a start that succeeds: the client stays open until
	// Close.
	a, err := New(redisConfig(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := made[1].Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Ping on the client of a running adapter: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := made[1].Ping(context.Background()).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("Ping after Close: %v, want %v", err, redis.ErrClosed)
	}
}
