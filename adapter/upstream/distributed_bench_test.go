package upstream

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// redisShared is gobreaker's SharedDataStore over Redis (SET NX lock,
// plain state value), as its distributed breaker expects.
type redisShared struct {
	c      redis.UniversalClient
	prefix string
}

func (r redisShared) Lock(name string) error {
	ok, err := r.c.SetNX(context.Background(), r.prefix+name, "1", 5*time.Second).Result()
	if err != nil {
		return err
	}
	if !ok {
		return context.DeadlineExceeded
	}
	return nil
}

func (r redisShared) Unlock(name string) error {
	return r.c.Del(context.Background(), r.prefix+name).Err()
}

func (r redisShared) GetData(name string) ([]byte, error) {
	b, err := r.c.Get(context.Background(), r.prefix+name).Bytes()
	if err == redis.Nil {
		return nil, nil // gobreaker then initialises the shared state
	}
	return b, err
}

func (r redisShared) SetData(name string, data []byte) error {
	return r.c.Set(context.Background(), r.prefix+name, data, 0).Err()
}

// upstreamCall stands in for a treasury call.
const upstreamCall = 2 * time.Millisecond

// BenchmarkBreakerSharing compares the breaker the adapter uses (one per
// endpoint per instance) with gobreaker's distributed breaker on Redis,
// which holds a Redis lock across the whole upstream call: 16 concurrent
// callers, each call taking 2 ms upstream.
func BenchmarkBreakerSharing(b *testing.B) {
	b.Run("local", func(b *testing.B) {
		e := mustGroup(b, "bench", Settings{}).Endpoint("call")
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = e.Do(context.Background(), false, func(context.Context) error { time.Sleep(upstreamCall); return nil })
			}
		})
	})
	b.Run("distributed-redis", func(b *testing.B) {
		store := redisShared{c: redistest.Client(b), prefix: redistest.Prefix(b)}
		dcb, err := gobreaker.NewDistributedCircuitBreaker[struct{}](store, gobreaker.Settings{Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = dcb.Execute(func() (struct{}, error) { time.Sleep(upstreamCall); return struct{}{}, nil })
			}
		})
	})
}
