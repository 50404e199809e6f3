package app

import (
	"bytes"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// The delivery worker's hold: on an instance whose clock is months off the
// Redis server's it answers an error (the worker claims nothing), logged
// once however often it is asked; on one that agrees it answers nil; without
// a skew limit there is no hold.
func TestClockHold(t *testing.T) {
	u, err := url.Parse(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(&redis.Options{Addr: u.Host})
	t.Cleanup(func() { _ = client.Close() })
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))

	skewed := clockHold(client, func() time.Time { return receipt }, 2*time.Second, log)
	for range 3 {
		if err := skewed(); err == nil || !strings.Contains(err.Error(), "maxClockSkew") {
			t.Fatalf("a clock months off: %v, want the skew refused", err)
		}
	}
	if n := strings.Count(logged.String(), "status deliveries held"); n != 1 {
		t.Fatalf("the hold was logged %d times:\n%s", n, logged.String())
	}
	if err := clockHold(client, time.Now, 2*time.Second, log)(); err != nil {
		t.Fatalf("a clock that agrees: %v", err)
	}
	if clockHold(client, func() time.Time { return receipt }, -1, log) != nil || clockHold(nil, time.Now, time.Second, log) != nil {
		t.Fatal("a hold without a skew limit or without Redis")
	}
}
