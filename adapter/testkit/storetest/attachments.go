package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/attachment"
)

// AttachmentFactory returns a fresh, empty attachment store with these
// limits. Each call must be isolated from the others.
type AttachmentFactory func(t *testing.T, l attachment.Limits) attachment.Store

// RunAttachments is the suite every attachment.Store must pass: the memory
// store and the Redis store run the same table. Expiry is each store's own
// test (the memory store on a test clock, Redis by its TTL).
func RunAttachments(t *testing.T, newStore AttachmentFactory) {
	l := attachment.Limits{MaxFileBytes: 16, Retention: time.Hour}
	a, b := []byte("hop dong so 15"), []byte("bien ban")
	t.Run("put, put again, get", func(t *testing.T) {
		s := newStore(t, l)
		if created, err := s.Put(ctx, attachment.Sum(a), a); err != nil || !created {
			t.Fatalf("first put: created %v, err %v", created, err)
		}
		if created, err := s.Put(ctx, attachment.Sum(a), a); err != nil || created {
			t.Fatalf("second put: created %v, err %v; want an idempotent success", created, err)
		}
		got, err := s.Get(ctx, attachment.Sum(a))
		if err != nil || !bytes.Equal(got, a) {
			t.Fatalf("get: %q %v", got, err)
		}
		got[0] ^= 0xff // the caller's copy: the store's file stays intact
		if again, _ := s.Get(ctx, attachment.Sum(a)); !bytes.Equal(again, a) {
			t.Fatalf("the stored file changed with the caller's copy: %q", again)
		}
	})
	t.Run("get capped", func(t *testing.T) {
		s := newStore(t, l)
		absent := attachment.Sum(b)
		if got, err := s.GetCapped(ctx, map[string]int64{attachment.Sum(nil): 0, absent: 3}); err != nil || len(got) != 0 {
			t.Fatalf("nothing stored: %q %v", got, err)
		}
		for _, f := range [][]byte{a, {}} {
			if _, err := s.Put(ctx, attachment.Sum(f), f); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			size int64
			want []byte
		}{
			{int64(len(a)), a}, // its size: whole
			{100, a},           // more: whole
			{3, a[:4]},         // less: one byte past the size, never whole
			{-5, a[:1]},        // negative: as 0
		} {
			got, err := s.GetCapped(ctx, map[string]int64{attachment.Sum(a): tc.size, absent: 3, attachment.Sum(nil): 0})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || !bytes.Equal(got[attachment.Sum(a)], tc.want) {
				t.Fatalf("size %d: got %q, want %q", tc.size, got, tc.want)
			}
			if empty, ok := got[attachment.Sum(nil)]; !ok || len(empty) != 0 {
				t.Fatalf("the empty file: %q, %v", empty, ok)
			}
		}
		got, _ := s.GetCapped(ctx, map[string]int64{attachment.Sum(a): int64(len(a))})
		got[attachment.Sum(a)][0] ^= 0xff // the caller's copy: the store's file stays intact
		if again, _ := s.Get(ctx, attachment.Sum(a)); !bytes.Equal(again, a) {
			t.Fatalf("the stored file changed with the caller's copy: %q", again)
		}
		if _, err := s.GetCapped(ctx, map[string]int64{attachment.Sum(a): 1, "../etc": 1}); !errors.Is(err, attachment.ErrBadHash) {
			t.Fatalf("a bad sum: %v", err)
		}
	})
	t.Run("sizes", func(t *testing.T) {
		s := newStore(t, l)
		for _, f := range [][]byte{a, {}} {
			if _, err := s.Put(ctx, attachment.Sum(f), f); err != nil {
				t.Fatal(err)
			}
		}
		absent := attachment.Sum(b)
		got, err := s.Sizes(ctx, []string{attachment.Sum(a), absent, attachment.Sum(nil), attachment.Sum(a)})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{attachment.Sum(a): int64(len(a)), attachment.Sum(nil): 0}
		if len(got) != len(want) || got[attachment.Sum(a)] != want[attachment.Sum(a)] {
			t.Fatalf("sizes %v, want %v", got, want)
		}
		if n, ok := got[attachment.Sum(nil)]; !ok || n != 0 {
			t.Fatalf("the empty file: %d, %v", n, ok)
		}
		if none, err := s.Sizes(ctx, nil); err != nil || len(none) != 0 {
			t.Fatalf("no sums: %v %v", none, err)
		}
		if _, err := s.Sizes(ctx, []string{attachment.Sum(a), "../etc"}); !errors.Is(err, attachment.ErrBadHash) {
			t.Fatalf("a bad sum: %v", err)
		}
	})
	t.Run("an empty file", func(t *testing.T) {
		s := newStore(t, l)
		if _, err := s.Put(ctx, attachment.Sum(nil), []byte{}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(ctx, attachment.Sum(nil)); err != nil || len(got) != 0 {
			t.Fatalf("get: %q %v", got, err)
		}
	})
	t.Run("refusals change nothing", func(t *testing.T) {
		s := newStore(t, l)
		big := []byte("12345678901234567")
		for _, tc := range []struct {
			name string
			sum  string
			data []byte
			want error
		}{
			{"bytes that do not hash to the name", attachment.Sum(a), b, attachment.ErrMismatch},
			{"upper-case hash", strings.ToUpper(attachment.Sum(b)), b, attachment.ErrBadHash},
			{"not a hash", "../" + attachment.Sum(b)[3:], b, attachment.ErrBadHash},
			{"over the per-file limit", attachment.Sum(big), big, attachment.ErrTooLarge},
		} {
			if _, err := s.Put(ctx, tc.sum, tc.data); !errors.Is(err, tc.want) {
				t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
			}
		}
		for _, sum := range []string{attachment.Sum(a), attachment.Sum(b), attachment.Sum(big)} {
			if _, err := s.Get(ctx, sum); !errors.Is(err, attachment.ErrNotFound) {
				t.Errorf("get %s after refusals: %v, want ErrNotFound", sum, err)
			}
		}
		if _, err := s.Get(ctx, "nothex"); !errors.Is(err, attachment.ErrBadHash) {
			t.Errorf("get of a bad name: %v", err)
		}
	})
	t.Run("concurrent puts of one file create it once", func(t *testing.T) {
		s := newStore(t, l)
		var wg sync.WaitGroup
		var mu sync.Mutex
		created := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := s.Put(ctx, attachment.Sum(b), b)
				if err != nil {
					t.Error(err)
				}
				if c {
					mu.Lock()
					created++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if created != 1 {
			t.Fatalf("%d puts reported creating the file, want 1", created)
		}
	})
	t.Run("each file counts its overhead: many tiny files fill the store", func(t *testing.T) {
		s := newStore(t, attachment.Limits{MaxFileBytes: 16, MaxTotalBytes: 10 * attachment.Charge(4), Retention: time.Hour})
		for i := range 10 {
			f := []byte(fmt.Sprintf("f%03d", i))
			if created, err := s.Put(ctx, attachment.Sum(f), f); err != nil || !created {
				t.Fatalf("file %d: created %v, err %v", i, created, err)
			}
		}
		f := []byte("f010")
		if _, err := s.Put(ctx, attachment.Sum(f), f); !errors.Is(err, attachment.ErrFull) {
			t.Fatalf("an 11th file of 4 bytes in a store of %d: %v, want ErrFull", 10*attachment.Charge(4), err)
		}
	})
	t.Run("a full store refuses new files and renews kept ones", func(t *testing.T) {
		s := newStore(t, attachment.Limits{MaxFileBytes: 16, MaxTotalBytes: 20 + 2*attachment.FileOverhead, Retention: time.Hour})
		if _, err := s.Put(ctx, attachment.Sum(a), a); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, attachment.Sum(b), b); !errors.Is(err, attachment.ErrFull) {
			t.Fatalf("put over the total: %v, want ErrFull", err)
		}
		if _, err := s.Get(ctx, attachment.Sum(b)); !errors.Is(err, attachment.ErrNotFound) {
			t.Fatalf("get of the refused file: %v, want ErrNotFound", err)
		}
		if created, err := s.Put(ctx, attachment.Sum(a), a); err != nil || created {
			t.Fatalf("put again of a kept file in a full store: created %v, err %v; want an idempotent success", created, err)
		}
		small := []byte("hd 6")
		if created, err := s.Put(ctx, attachment.Sum(small), small); err != nil || !created {
			t.Fatalf("put within what is left: created %v, err %v", created, err)
		}
	})
}
