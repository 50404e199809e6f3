package outbox_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/outbox"
)

var benchPayload = bytes.Repeat([]byte(`{"maHoSo":"G09.20-20260609-0000101","trangThai":4},`), 12)

func BenchmarkMemoryAppend(b *testing.B) {
	s := outbox.NewMemory(nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if ok, err := s.Append(ctx, "chi-thuong-xuyen|G09.20-"+strconv.Itoa(i%1000), "evt-"+strconv.Itoa(i), benchPayload); err != nil || !ok {
			b.Fatal(ok, err)
		}
		i++
	}
}

func BenchmarkMemoryClaimAck(b *testing.B) {
	s := outbox.NewMemory(nil)
	for i := range b.N {
		_, _ = s.Append(ctx, "chi-thuong-xuyen|G09.20-"+strconv.Itoa(i%1000), "evt-"+strconv.Itoa(i), benchPayload)
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
