// Package attachment keeps the files a signed dossier lists by SHA-256 (scanned contracts,
// acceptance records) between their upload and the dossier that names them. A file is stored
// under the hex SHA-256 of its bytes, only when the bytes hash to it; storing the same file again
// changes nothing but its expiry. The dossier's signature covers the listed hash, so a file
// found here under that hash is the file the signer listed.
//
// Memory is the in-process Store (the Redis one is redisstore.Attachments); both pass
// storetest.RunAttachments. ReadRelated (multipart.go) reads a multipart/related submission:
// the signed dossier first, then its files, within PartLimits.
package attachment

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors of Put and Get.
var (
	// ErrBadHash: the name is not 64 lowercase hex digits.
	ErrBadHash = errors.New("attachment: not a lowercase hex SHA-256")
	// ErrMismatch: the bytes do not hash to the name they were put under.
	ErrMismatch = errors.New("attachment: the bytes do not hash to the given SHA-256")
	// ErrTooLarge: the file exceeds the per-file limit.
	ErrTooLarge = errors.New("attachment: file larger than the per-file limit")
	// ErrFull: storing the file would exceed the total limit.
	ErrFull = errors.New("attachment: the store's total size limit is reached")
	// ErrNotFound: no file under that hash (never stored, or expired).
	ErrNotFound = errors.New("attachment: no file under that SHA-256")
)

// Limits bound what the store accepts and keeps.
type Limits struct {
	MaxFileBytes  int64         // per file
	MaxTotalBytes int64         // all files kept at once, each counted as Charge says
	Retention     time.Duration // how long a file is kept after its last Put
}

// FileOverhead is what MaxTotalBytes counts for each stored file beside
// its bytes: its key, expiry and ledger entries cost memory too, so that
// many tiny files cannot hold many times the limit.
const FileOverhead = 512

// Charge is what a file of n bytes counts against MaxTotalBytes.
func Charge(n int) int64 { return int64(n) + FileOverhead }

// Store keeps files by SHA-256.
type Store interface {
	// Put stores data under sum (hex SHA-256), after checking that data hashes to it.
	// created is false when the file was there already.
	Put(ctx context.Context, sum string, data []byte) (created bool, err error)
	// Get returns the file stored under sum, or ErrNotFound.
	Get(ctx context.Context, sum string) ([]byte, error)
	// GetCapped returns the files of want the store holds, by sum, each
	// read only up to one byte past its wanted size: a file longer than
	// wanted comes back one byte longer than wanted, never whole, so that a
	// caller bounds what it holds by the sizes it expects and sees a file
	// that is not of its size. A file the store does not hold is absent. A
	// store may read them in one round trip. Every sum must be valid
	// (ErrBadHash); a negative size is taken as 0.
	GetCapped(ctx context.Context, want map[string]int64) (map[string][]byte, error)
	// Sizes returns the sizes of the files stored under sums, by sum,
	// without reading them (a check that needs no bytes); a file the
	// store does not hold is absent. Every sum must be valid (ErrBadHash).
	Sizes(ctx context.Context, sums []string) (map[string]int64, error)
}

// Sum is the hex SHA-256 of data, the name a file is stored under.
func Sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// ValidSum reports whether s is 64 lowercase hex digits.
func ValidSum(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Check applies the per-file limit and the hash to one Put; every Store
// calls it before writing.
func Check(l Limits, sum string, data []byte) error {
	if !ValidSum(sum) {
		return ErrBadHash
	}
	if l.MaxFileBytes > 0 && int64(len(data)) > l.MaxFileBytes {
		return fmt.Errorf("%w (%d bytes, limit %d)", ErrTooLarge, len(data), l.MaxFileBytes)
	}
	if Sum(data) != sum {
		return ErrMismatch
	}
	return nil
}

// Memory is a Store in process memory, for tests and a single instance.
type Memory struct {
	limits Limits
	now    func() time.Time

	mu     sync.Mutex
	files  map[string]memFile
	total  int64      // Charge of every file held
	expiry expiryHeap // one entry per file held (see expiring)
}

// expiring is a file's expiry as it was when pushed: each file held has
// one entry, which expire pushes again, later, for a file renewed since.
type expiring struct {
	sum     string
	expires time.Time
}

// expiryHeap orders expiries, earliest first (container/heap).
type expiryHeap []expiring

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiring)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type memFile struct {
	data    []byte
	expires time.Time
}

// NewMemory returns an empty store; now is the clock the retention is measured with.
func NewMemory(l Limits, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{limits: l, now: now, files: map[string]memFile{}}
}

// Put implements Store.
func (m *Memory) Put(_ context.Context, sum string, data []byte) (bool, error) {
	if err := Check(m.limits, sum, data); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.expire(now)
	expires := now.Add(m.limits.Retention)
	if f, ok := m.files[sum]; ok {
		f.expires = expires // its entry in expiry moves on when it comes up
		m.files[sum] = f
		return false, nil
	}
	if m.limits.MaxTotalBytes > 0 && m.total+Charge(len(data)) > m.limits.MaxTotalBytes {
		return false, ErrFull
	}
	m.files[sum] = memFile{data: append([]byte(nil), data...), expires: expires}
	m.total += Charge(len(data))
	heap.Push(&m.expiry, expiring{sum, expires})
	return true, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, sum string) ([]byte, error) {
	if !ValidSum(sum) {
		return nil, ErrBadHash
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(m.now())
	f, ok := m.files[sum]
	if !ok {
		return nil, ErrNotFound
	}
	return append([]byte(nil), f.data...), nil
}

// GetCapped implements Store.
func (m *Memory) GetCapped(_ context.Context, want map[string]int64) (map[string][]byte, error) {
	sums := make([]string, 0, len(want))
	for sum := range want {
		sums = append(sums, sum)
	}
	return held(m, sums, func(sum string, f memFile) []byte {
		return append([]byte{}, f.data[:min(int64(len(f.data)), max(want[sum], 0)+1)]...)
	})
}

// Sizes implements Store.
func (m *Memory) Sizes(_ context.Context, sums []string) (map[string]int64, error) {
	return held(m, sums, func(_ string, f memFile) int64 { return int64(len(f.data)) })
}

// held returns what read says of each file of sums the store holds, by sum.
func held[T any](m *Memory, sums []string, read func(string, memFile) T) (map[string]T, error) {
	for _, sum := range sums {
		if !ValidSum(sum) {
			return nil, ErrBadHash
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(m.now())
	out := make(map[string]T, len(sums))
	for _, sum := range sums {
		if f, ok := m.files[sum]; ok {
			out[sum] = read(sum, f)
		}
	}
	return out, nil
}

// expire drops the files whose retention has passed, earliest first: it
// looks at those only, not at every file. The caller holds m.mu.
func (m *Memory) expire(now time.Time) {
	for m.expiry.Len() > 0 && !now.Before(m.expiry[0].expires) {
		e := heap.Pop(&m.expiry).(expiring)
		f, ok := m.files[e.sum]
		switch {
		case !ok:
		case now.Before(f.expires): // renewed since
			heap.Push(&m.expiry, expiring{e.sum, f.expires})
		default:
			m.total -= Charge(len(f.data))
			delete(m.files, e.sum)
		}
	}
}
