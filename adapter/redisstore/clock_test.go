package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// ClockSkew reads how far a clock is from the Redis server's: about zero
// for this machine's clock (the server runs on it), about an hour for a
// clock an hour ahead, minus an hour for one behind.
func TestClockSkew(t *testing.T) {
	c := redistest.Client(t)
	ctx := context.Background()
	for _, shift := range []time.Duration{0, time.Hour, -time.Hour} {
		skew, err := ClockSkew(ctx, c, func() time.Time { return time.Now().Add(shift) })
		if err != nil {
			t.Fatal(err)
		}
		if d := skew - shift; d > time.Second || d < -time.Second {
			t.Errorf("clock shifted %v: skew %v", shift, skew)
		}
	}
}
