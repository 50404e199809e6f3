package redisoutbox

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// benchPayload is the size of a mapped status event (about 600 bytes).
var benchPayload = bytes.Repeat([]byte(`{"maHoSo":"G09.20-20260609-0000101","trangThai":4},`), 12)

// BenchmarkAppend: one Append (one script, one round trip) per op, to
// 1,000 dossiers in turn.
func BenchmarkAppend(b *testing.B) {
	s := New(redistest.Client(b), redistest.Prefix(b), nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPayload)))
	i := 0
	for b.Loop() {
		if ok, err := s.Append(ctx, "chi-thuong-xuyen|G09.20-"+strconv.Itoa(i%1000), "evt-"+strconv.Itoa(i), benchPayload); err != nil || !ok {
			b.Fatal(ok, err)
		}
		i++
	}
}

// BenchmarkClaimAck: per op one Claim of one event and its Ack, from b.N
// events over 1,000 dossiers appended beforehand (two round trips when the
// first shard visited has work).
func BenchmarkClaimAck(b *testing.B) {
	s := New(redistest.Client(b), redistest.Prefix(b), nil)
	for i := range b.N {
		if _, err := s.Append(ctx, "chi-thuong-xuyen|G09.20-"+strconv.Itoa(i%1000), "evt-"+strconv.Itoa(i), benchPayload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ds, err := s.Claim(ctx, "bench", time.Minute, 1)
		if err != nil || len(ds) != 1 {
			b.Fatal(len(ds), err)
		}
		if err := s.Ack(ctx, ds[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimIdle: a Claim that finds nothing visits every shard (16
// scripts): the cost of an idle worker's poll.
func BenchmarkClaimIdle(b *testing.B) {
	s := New(redistest.Client(b), redistest.Prefix(b), nil)
	b.ReportAllocs()
	for b.Loop() {
		if ds, err := s.Claim(ctx, "bench", time.Minute, 1); err != nil || len(ds) != 0 {
			b.Fatal(len(ds), err)
		}
	}
}

// BenchmarkClaimAckParallel: Claim+Ack from 8×GOMAXPROCS goroutines
// sharing one client, for throughput.
func BenchmarkClaimAckParallel(b *testing.B) {
	s := New(redistest.Client(b), redistest.Prefix(b), nil)
	for i := range b.N {
		if _, err := s.Append(ctx, "chi-thuong-xuyen|G09.20-"+strconv.Itoa(i%1000), "evt-"+strconv.Itoa(i), benchPayload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ds, err := s.Claim(ctx, "bench", time.Minute, 1)
			if err != nil {
				b.Error(err)
				return
			}
			for _, d := range ds {
				if err := s.Ack(ctx, d); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
}
