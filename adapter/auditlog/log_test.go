package auditlog_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/kbnn/dvc/adapter/auditlog"
)

var t0 = time.Date(2026, 6, 9, 8, 30, 0, 123456789, time.FixedZone("ICT", 7*3600))

func keys(t testing.TB) (note.Signer, note.Verifier) {
	t.Helper()
	skey, err := os.ReadFile("../../testdata/pki/adapter-log.key")
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := os.ReadFile("../../testdata/pki/adapter-log.vkey")
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// open opens a log in dir whose checkpoint ticker never fires by itself.
func open(t testing.TB, dir string, mod ...func(*auditlog.Options)) *auditlog.Log {
	t.Helper()
	s, _ := keys(t)
	o := auditlog.Options{Dir: dir, Signer: s, Tick: make(chan time.Time), Logger: slog.New(slog.DiscardHandler)}
	for _, m := range mod {
		m(&o)
	}
	l, err := auditlog.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func rec(i int) auditlog.Record {
	return auditlog.Record{
		Time: t0.Add(time.Duration(i) * time.Second), Instance: "test", Caller: "portal",
		Route: "POST /v1/procedures/{procedure}/dossiers", Procedure: "chi-thuong-xuyen",
		MaHoSo: fmt.Sprintf("G09.20-20260609-%07d", i), BodySHA256: auditlog.BodyHash([]byte(fmt.Sprint("body", i))),
		Status: 202, TreasuryReference: fmt.Sprintf("KB-%d", i),
	}
}

func appendN(t testing.TB, l *auditlog.Log, from, n int) []auditlog.Receipt {
	t.Helper()
	var out []auditlog.Receipt
	for i := from; i < from+n; i++ {
		r, err := l.Append(context.Background(), rec(i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// checkProof verifies the proof of a receipt with the library's verifier
// and note.Open, not with the package's own code.
func checkProof(t *testing.T, v note.Verifier, rc auditlog.Receipt, p []byte) uint64 {
	t.Helper()
	pr, err := auditlog.ParseProof(p)
	if err != nil {
		t.Fatalf("proof of %d: %v\n%s", rc.LogIndex, err, p)
	}
	n, err := note.Open(pr.Checkpoint, note.VerifierList(v))
	if err != nil {
		t.Fatalf("proof of %d: checkpoint: %v", rc.LogIndex, err)
	}
	var c log.Checkpoint
	if _, err := c.Unmarshal([]byte(n.Text)); err != nil {
		t.Fatal(err)
	}
	if c.Origin != rc.LogOrigin || pr.Index != rc.LogIndex {
		t.Fatalf("proof of %d: origin %q index %d", rc.LogIndex, c.Origin, pr.Index)
	}
	lh, _ := hex.DecodeString(rc.LeafHash)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, pr.Index, c.Size, lh, pr.Hashes, c.Hash); err != nil {
		t.Fatalf("proof of %d in %d: %v", rc.LogIndex, c.Size, err)
	}
	return c.Size
}

func TestLeafBytesFixed(t *testing.T) {
	t.Parallel()
	leaf, err := auditlog.MarshalLeaf(rec(1))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2026-06-09T01:30:01.123456789Z","instance":"test","caller":"portal",` +
		`"route":"POST /v1/procedures/{procedure}/dossiers","procedure":"chi-thuong-xuyen",` +
		`"maHoSo":"G09.20-20260609-0000001","soBoSung":0,"bodySha256":"` + auditlog.BodyHash([]byte("body1")) + `",` +
		`"status":202,"code":"","treasuryReference":"KB-1","eventId":""}`
	if string(leaf) != want {
		t.Errorf("leaf\n got %s\nwant %s", leaf, want)
	}
	if _, err := auditlog.MarshalLeaf(auditlog.Record{BodySHA256: "ABC"}); err == nil {
		t.Error("a bodySha256 that is not hex SHA-256 was accepted")
	}
	// The body the treasury holds, when it is not the request's, comes last.
	held := rec(1)
	held.HeldSHA256 = auditlog.BodyHash([]byte("body0"))
	leaf, err = auditlog.MarshalLeaf(held)
	if err != nil || string(leaf) != strings.TrimSuffix(want, "}")+`,"heldSha256":"`+held.HeldSHA256+`"}` {
		t.Errorf("leaf with a held body: %s, %v", leaf, err)
	}
	if r, err := auditlog.ParseLeaf(leaf); err != nil || r.HeldSHA256 != held.HeldSHA256 {
		t.Errorf("parsed %+v, %v", r, err)
	}
	held.HeldSHA256 = "ABC"
	if _, err := auditlog.MarshalLeaf(held); err == nil {
		t.Error("a heldSha256 that is not hex SHA-256 was accepted")
	}
}

func TestProofsVerify(t *testing.T) {
	t.Parallel()
	_, v := keys(t)
	l := open(t, t.TempDir())
	defer func() { _ = l.Close() }()
	ctx := context.Background()
	var rcs []auditlog.Receipt
	for _, n := range []int{1, 2, 5, 16, 13} { // checkpoints at 1, 3, 8, 24, 37
		rcs = append(rcs, appendN(t, l, len(rcs), n)...)
		if _, err := l.Proof(uint64(len(rcs) - 1)); !errors.Is(err, auditlog.ErrNotCovered) {
			t.Fatalf("proof before a checkpoint covers it: %v", err)
		}
		if err := l.PublishCheckpoint(ctx); err != nil {
			t.Fatal(err)
		}
		for _, rc := range rcs {
			p, err := l.Proof(rc.LogIndex)
			if err != nil {
				t.Fatal(err)
			}
			if size := checkProof(t, v, rc, p); size != uint64(len(rcs)) {
				t.Fatalf("proof against size %d, want the latest %d", size, len(rcs))
			}
		}
	}
	for i, rc := range rcs {
		if rc.LogIndex != uint64(i) || rc.LogOrigin != "kbnn-dvc-adapter/test" {
			t.Fatalf("receipt %d: %+v", i, rc)
		}
		leaf, err := l.Entry(rc.LogIndex)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := auditlog.MarshalLeaf(rec(i))
		if !bytes.Equal(leaf, want) || hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(leaf)) != rc.LeafHash {
			t.Fatalf("entry %d: %s", i, leaf)
		}
	}
	if _, err := l.Entry(uint64(len(rcs))); !errors.Is(err, auditlog.ErrNotFound) {
		t.Errorf("entry past the end: %v", err)
	}
	// A bad proof must fail the same verifier: flip a bit of a hash.
	p, _ := l.Proof(3)
	pr, _ := auditlog.ParseProof(p)
	pr.Hashes[0][0] ^= 1
	n, _ := note.Open(pr.Checkpoint, note.VerifierList(v))
	var c log.Checkpoint
	_, _ = c.Unmarshal([]byte(n.Text))
	lh, _ := hex.DecodeString(rcs[3].LeafHash)
	if proof.VerifyInclusion(rfc6962.DefaultHasher, 3, c.Size, lh, pr.Hashes, c.Hash) == nil {
		t.Error("a tampered proof verified")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := auditlog.Verify(l.Dir(), v); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentAppends(t *testing.T) {
	t.Parallel()
	_, v := keys(t)
	dir := t.TempDir()
	l := open(t, dir)
	const workers, each = 64, 25
	var mu sync.Mutex
	seen := map[uint64]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for j := range each {
				i := w*each + j
				rc, err := l.Append(context.Background(), rec(i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if prev, dup := seen[rc.LogIndex]; dup {
					t.Errorf("index %d given to %d and %d", rc.LogIndex, prev, i)
				}
				seen[rc.LogIndex] = i
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*each || l.Size() != workers*each {
		t.Fatalf("%d distinct indices, size %d, want %d", len(seen), l.Size(), workers*each)
	}
	for idx, i := range seen {
		leaf, err := l.Entry(idx)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := auditlog.MarshalLeaf(rec(i))
		if !bytes.Equal(leaf, want) {
			t.Fatalf("entry %d holds %s, want record %d", idx, leaf, i)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := auditlog.Verify(dir, v); err != nil {
		t.Fatal(err)
	}
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "segments", "*.log"))
	if len(m) == 0 {
		t.Fatal("no segment")
	}
	return m[len(m)-1]
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTornLastRecordDropped(t *testing.T) {
	t.Parallel()
	_, v := keys(t)
	dir := t.TempDir()
	l := open(t, dir)
	appendN(t, l, 0, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of writing record 5 and of a checkpoint.
	leaf, _ := auditlog.MarshalLeaf(rec(5))
	whole := fmt.Sprintf("5 %s %s\n", hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(leaf)), leaf)
	appendFile(t, lastSegment(t, dir), []byte(whole[:len(whole)/2]))
	appendFile(t, filepath.Join(dir, "checkpoints"), []byte("kbnn-dvc-adapter/test\n6\n"))

	var logged bytes.Buffer
	l = open(t, dir, func(o *auditlog.Options) { o.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
	if !strings.Contains(logged.String(), "dropped a torn last record") || !strings.Contains(logged.String(), "record=5") {
		t.Errorf("reopen did not log the torn record:\n%s", logged.String())
	}
	if !strings.Contains(logged.String(), "dropped a torn last checkpoint") {
		t.Errorf("reopen did not log the torn checkpoint:\n%s", logged.String())
	}
	if l.Size() != 5 {
		t.Fatalf("size %d after dropping the torn record, want 5", l.Size())
	}
	rcs := appendN(t, l, 5, 3)
	if rcs[0].LogIndex != 5 {
		t.Fatalf("next append got index %d, want 5", rcs[0].LogIndex)
	}
	if err := l.PublishCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, err := l.Proof(6)
	if err != nil {
		t.Fatal(err)
	}
	checkProof(t, v, rcs[1], p)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := auditlog.Verify(dir, v); err != nil {
		t.Fatal(err)
	}
}

// TestDerivedFilesRebuilt: a crash between the records' fsync and the
// hashes file, or a lost hashes file, is repaired from the records.
func TestDerivedFilesRebuilt(t *testing.T) {
	t.Parallel()
	_, v := keys(t)
	for _, damage := range []string{"remove", "truncate"} {
		t.Run(damage, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			l := open(t, dir)
			rcs := appendN(t, l, 0, 11)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"hashes", "offsets"} {
				p := filepath.Join(dir, f)
				var err error
				if damage == "remove" {
					err = os.Remove(p)
				} else {
					fi, _ := os.Stat(p)
					err = os.Truncate(p, fi.Size()-40)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			l = open(t, dir)
			defer func() { _ = l.Close() }()
			for _, rc := range rcs {
				p, err := l.Proof(rc.LogIndex)
				if err != nil {
					t.Fatal(err)
				}
				checkProof(t, v, rc, p)
				if _, err := l.Entry(rc.LogIndex); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// flaky wraps the log's files; while broken holds "write" every write
// fails, while it holds "fsync" every fsync does, as on a full or failing
// disk. It works when the tests run as root, unlike a read-only directory.
type flaky struct {
	*os.File
	broken *atomic.Value
}

var errDisk = errors.New("injected disk failure")

func (f flaky) is(what string) bool { s, _ := f.broken.Load().(string); return s == what }

func (f flaky) Write(b []byte) (int, error) {
	if f.is("write") {
		return 0, errDisk
	}
	return f.File.Write(b)
}

func (f flaky) WriteAt(b []byte, off int64) (int, error) {
	if f.is("write") {
		return 0, errDisk
	}
	return f.File.WriteAt(b, off)
}

func (f flaky) Sync() error {
	if f.is("fsync") {
		return errDisk
	}
	return f.File.Sync()
}

func TestFailClosed(t *testing.T) {
	t.Parallel()
	_, v := keys(t)
	for _, what := range []string{"write", "fsync", "write body", "fsync body"} {
		t.Run(what, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var broken atomic.Value
			broken.Store("")
			l := open(t, dir, func(o *auditlog.Options) {
				o.OpenFile = func(name string, flag int, perm os.FileMode) (auditlog.File, error) {
					f, err := os.OpenFile(name, flag, perm)
					if err != nil {
						return nil, err
					}
					return flaky{f, &broken}, nil
				}
			})
			appendN(t, l, 0, 3)
			if err := l.Err(); err != nil {
				t.Fatalf("Err of a healthy log: %v", err)
			}
			op, withBody := strings.CutSuffix(what, " body")
			broken.Store(op)
			var err error
			if withBody {
				// The body is written first: its pack fails.
				_, err = l.AppendBody(context.Background(), rec(3), []byte("body 3"))
			} else {
				_, err = l.Append(context.Background(), rec(3))
			}
			if withBody && (err == nil || !strings.Contains(err.Error(), "body pack")) {
				t.Fatalf("append with a body when %s fails: %v, want the pack named", op, err)
			}
			if !errors.Is(err, auditlog.ErrUnavailable) || !errors.Is(err, errDisk) {
				t.Fatalf("append when %s fails: %v, want ErrUnavailable", what, err)
			}
			broken.Store("")
			if err := l.Err(); !errors.Is(err, auditlog.ErrUnavailable) || !errors.Is(err, errDisk) {
				t.Fatalf("Err after a failed %s: %v, want ErrUnavailable wrapping the disk's error", what, err)
			}
			if _, err := l.Append(context.Background(), rec(4)); !errors.Is(err, auditlog.ErrUnavailable) {
				t.Fatalf("append after a failure, disk healthy again: %v, want ErrUnavailable until reopened", err)
			}
			if err := l.PublishCheckpoint(context.Background()); !errors.Is(err, auditlog.ErrUnavailable) {
				t.Fatalf("checkpoint after a failure: %v", err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = open(t, dir)
			// The record whose fsync failed may be on disk: it was
			// written, only its durability is unknown.
			if n := l.Size(); n < 3 || n > 4 {
				t.Fatalf("size %d after reopening, want the 3 records whose Append returned (and at most the failed one)", n)
			}
			first := int(l.Size())
			rcs := appendN(t, l, first, 1)
			if rcs[0].LogIndex != uint64(first) {
				t.Fatalf("index %d", rcs[0].LogIndex)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := auditlog.Verify(dir, v); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(context.Background(), rec(9)); !errors.Is(err, auditlog.ErrClosed) {
				t.Errorf("append after Close: %v", err)
			}
		})
	}
}

func TestSegments(t *testing.T) {
	t.Parallel()
	_, v := keys(t)
	dir := t.TempDir()
	l := open(t, dir, func(o *auditlog.Options) { o.SegmentBytes = 1000 })
	rcs := appendN(t, l, 0, 12)
	sealed := l.Sealed()
	if len(sealed) < 2 {
		t.Fatalf("sealed %v, want at least 2 segments of 1000 bytes for 12 records", sealed)
	}
	for _, p := range sealed {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("sealed %s is writable: %v", p, fi.Mode())
		}
	}
	if err := l.PublishCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, rc := range rcs {
		leaf, err := l.Entry(uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := auditlog.MarshalLeaf(rec(i)); !bytes.Equal(leaf, want) {
			t.Fatalf("entry %d: %s", i, leaf)
		}
		p, _ := l.Proof(uint64(i))
		checkProof(t, v, rc, p)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := auditlog.Verify(dir, v); err != nil {
		t.Fatal(err)
	}

	l = open(t, dir, func(o *auditlog.Options) { o.SegmentBytes = 1000 })
	defer func() { _ = l.Close() }()
	if err := l.Remove(lastSegment(t, dir)); err == nil {
		t.Error("removing the active segment succeeded")
	}
	more := appendN(t, l, 12, 60) // new sealed segments, no checkpoint yet
	newest := l.Sealed()[len(l.Sealed())-1]
	if err := l.Remove(newest); err == nil {
		t.Error("removing a segment no checkpoint covers succeeded")
	}
	if err := l.Remove(sealed[0]); err != nil {
		t.Fatal(err)
	}
	if got := l.Sealed(); got[0] != sealed[1] || slices.Contains(got, sealed[0]) {
		t.Errorf("sealed after removal: %v", got)
	}
	if _, err := l.Entry(0); !errors.Is(err, auditlog.ErrRemoved) {
		t.Errorf("entry of a removed segment: %v", err)
	}
	p, err := l.Proof(0)
	if err != nil {
		t.Fatal(err)
	}
	checkProof(t, v, rcs[0], p)
	if more[0].LogIndex != 12 {
		t.Errorf("index %d after reopening", more[0].LogIndex)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, func(o *auditlog.Options) { o.SegmentBytes = 1000 })
	if _, err := l.Entry(0); !errors.Is(err, auditlog.ErrRemoved) {
		t.Errorf("entry of a removed segment after reopening: %v", err)
	}
	if _, err := l.Entry(71); err != nil {
		t.Errorf("entry 71 after reopening: %v", err)
	}
	p, err = l.Proof(0)
	if err != nil {
		t.Fatal(err)
	}
	checkProof(t, v, rcs[0], p)
}

// Bodies go to the active segment's pack with their records, each once
// per pack; they are found and read back by SHA-256, and a new segment's
// pack holds its own records' bodies.
func TestAppendBody(t *testing.T) {
	t.Parallel()
	_, v := keys(t)
	dir := t.TempDir()
	l := open(t, dir, func(o *auditlog.Options) { o.SegmentBytes = 1 << 20 })
	ctx := context.Background()
	a, b := []byte("<HoSo>…</HoSo>"), bytes.Repeat([]byte("payroll line\n"), 30000) // b above the large-body size
	for i, body := range [][]byte{a, a, b, a, b} {
		var (
			rc  auditlog.Receipt
			err error
		)
		if i%2 == 0 {
			rc, err = l.AppendBody(ctx, rec(int(l.Size())), body)
		} else { // hashed by the caller, as intake does for a request's records
			rc, err = l.AppendHashed(ctx, rec(int(l.Size())), auditlog.HashBody(body))
		}
		if err != nil {
			t.Fatal(err)
		}
		if want := hexSum(body); rc.BodySHA256 != want || auditlog.BodyHash(body) != want {
			t.Errorf("receipt names body %s, want %s", rc.BodySHA256, want)
		}
		leaf, err := l.Entry(rc.LogIndex)
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := auditlog.ParseLeaf(leaf); r.BodySHA256 != auditlog.BodyHash(body) {
			t.Errorf("leaf %d names body %s", rc.LogIndex, r.BodySHA256)
		}
	}
	packs, _ := filepath.Glob(filepath.Join(dir, "bodies", "*.pack"))
	if len(packs) != 1 {
		t.Fatalf("packs %v, want one", packs)
	}
	data, _ := os.ReadFile(packs[0])
	if got, want := len(data), len(a)+len(b)+2*(64+1+1)+len(fmt.Sprint(len(a)))+len(fmt.Sprint(len(b)))+2; got != want {
		t.Errorf("pack of %d bytes, want %d: each body once", got, want)
	}
	for _, body := range [][]byte{a, b} {
		loc, ok, err := auditlog.FindBody(dir, auditlog.BodyHash(body))
		if err != nil || !ok {
			t.Fatalf("FindBody: %v %v", ok, err)
		}
		got, err := auditlog.ReadBody(loc, auditlog.BodyHash(body))
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("ReadBody: %d bytes, %v", len(got), err)
		}
	}
	// Fill the pack (the segment stays small) until the segment is
	// sealed: the next segment's pack stores a again for its own record.
	for i := 0; len(l.Sealed()) == 0; i++ {
		if i == 10 {
			t.Fatal("a pack of several MiB did not seal its segment")
		}
		if _, err := l.AppendBody(ctx, rec(int(l.Size())), bytes.Repeat(fmt.Append(nil, i), 300<<10)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.AppendBody(ctx, rec(int(l.Size())), a); err != nil {
		t.Fatal(err)
	}
	sealed := l.Sealed()[0]
	next, _ := filepath.Glob(filepath.Join(dir, "bodies", "*.pack"))
	if len(next) != 2 {
		t.Fatalf("packs %v, want two", next)
	}
	if fi, _ := os.Stat(auditlog.PackOf(sealed)); fi == nil || fi.Mode().Perm()&0o222 != 0 {
		t.Errorf("the sealed segment's pack %s is not read-only", auditlog.PackOf(sealed))
	}
	if d, _ := os.ReadFile(next[1]); !bytes.Contains(d, a) {
		t.Errorf("the new segment's pack does not hold its record's body")
	}
	if err := l.PublishCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := auditlog.Verify(dir, v); err != nil {
		t.Fatal(err)
	}
	if err := l.Remove(sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(auditlog.PackOf(sealed)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the removed segment's pack is still there: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// closedWithBodies writes a record with each body (record i with body i)
// to a new log in dir, closes it and returns its one body pack.
func closedWithBodies(t *testing.T, dir string, bodies ...string) string {
	t.Helper()
	l := open(t, dir)
	for i, b := range bodies {
		if _, err := l.AppendBody(context.Background(), rec(i), []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	packs, _ := filepath.Glob(filepath.Join(dir, "bodies", "*.pack"))
	if len(packs) != 1 {
		t.Fatalf("packs %v, want one", packs)
	}
	return packs[0]
}

// A crash in the middle of writing a body leaves a torn pack entry: the
// reopen drops it, and the log goes on.
func TestTornLastBodyDropped(t *testing.T) {
	t.Parallel()
	_, v := keys(t)
	dir := t.TempDir()
	pack := closedWithBodies(t, dir, "first")
	appendFile(t, pack, []byte(auditlog.BodyHash([]byte("second"))+" 6\nsec"))
	var logged bytes.Buffer
	l := open(t, dir, func(o *auditlog.Options) { o.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
	if !strings.Contains(logged.String(), "dropped a torn last body") {
		t.Errorf("reopen did not log the torn body:\n%s", logged.String())
	}
	if _, err := l.AppendBody(context.Background(), rec(1), []byte("second")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := auditlog.Verify(dir, v); err != nil {
		t.Fatal(err)
	}
	loc, ok, err := auditlog.FindBody(dir, auditlog.BodyHash([]byte("second")))
	if got, _ := auditlog.ReadBody(loc, auditlog.BodyHash([]byte("second"))); !ok || err != nil || string(got) != "second" {
		t.Errorf("second body after the torn one: %q %v %v", got, ok, err)
	}
}

// A power loss during a pack's append may leave zeros from where the synced
// entries end (or from a sector boundary) with later entries written after
// them: a tear, dropped and kept in dropped/, the bodies of durable records
// intact; zeros that do not line up so are damage, refused.
func TestZeroedPackTailDropped(t *testing.T) {
	t.Parallel()
	_, v := keys(t)
	zeroed := func(t *testing.T, dir string, from int) (pack string, before, tail []byte) {
		pack = closedWithBodies(t, dir, "first")
		before, err := os.ReadFile(pack)
		if err != nil {
			t.Fatal(err)
		}
		third := []byte("third body, after the unwritten block")
		tail = make([]byte, sectorAfter(len(before))-len(before)) // zeros to the boundary, then written bytes
		tail = append(tail, []byte(auditlog.BodyHash(third)+" "+strconv.Itoa(len(third))+"\n")...)
		tail = append(append(tail, third...), '\n')
		copy(tail, []byte(auditlog.BodyHash([]byte("second")) + " 6\nsec")[:from]) // the entry's first bytes were written
		appendFile(t, pack, tail)
		return pack, before, tail
	}
	t.Run("from the synced end", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		pack, before, tail := zeroed(t, dir, 0)
		l := open(t, dir)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if after, err := os.ReadFile(pack); err != nil || !bytes.Equal(after, before) {
			t.Fatalf("pack after open: %d bytes (%v), want the %d before the tear", len(after), err, len(before))
		}
		kept, err := os.ReadFile(filepath.Join(dir, "dropped", filepath.Base(pack)+"."+strconv.Itoa(len(before))))
		if err != nil || !bytes.Equal(kept, tail) {
			t.Fatalf("kept tail: %d bytes (%v), want the %d dropped", len(kept), err, len(tail))
		}
		if err := auditlog.Verify(dir, v); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unaligned zeros", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		_, _, _ = zeroed(t, dir, 5) // written bytes, then zeros neither at the synced end nor on a boundary
		openRefused(t, dir, "not a pack entry header")
	})
	t.Run("a durable record's body zeroed", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		pack := closedWithBodies(t, dir, "first")
		data, err := os.ReadFile(pack)
		if err != nil {
			t.Fatal(err)
		}
		clear(data) // lined up as unwritten blocks are, but record 0 is durable and names it
		if err := os.WriteFile(pack, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// The records cannot say whether bodies were archived when record 0
		// was written (without, this is a plain tear): the log opens, says
		// so at Error, keeps the bytes, and verify -bodies names the record.
		var logged bytes.Buffer
		l := open(t, dir, func(o *auditlog.Options) { o.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logged.String(), "level=ERROR") || !strings.Contains(logged.String(), "the pack was damaged, not torn") {
			t.Errorf("open did not say the last record's body is missing:\n%s", logged.String())
		}
		if kept, err := os.ReadFile(filepath.Join(dir, "dropped", filepath.Base(pack)+".0")); err != nil || !bytes.Equal(kept, data) {
			t.Fatalf("kept tail: %d bytes (%v), want the %d zeroed", len(kept), err, len(data))
		}
		if err := auditlog.CheckBodies(dir); err == nil || !strings.Contains(err.Error(), "record 0: its body") {
			t.Fatalf("CheckBodies: %v, want record 0 named", err)
		}
	})
}

// A pack damaged before its last entry is not a crash's doing: the log
// refuses to open, as for a damaged segment.
func TestDamagedPackRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pack := closedWithBodies(t, dir, "body 0", "body 1")
	data, _ := os.ReadFile(pack)
	data[bytes.IndexByte(data, '\n')+2] ^= 1 // a byte of the first body
	if err := os.WriteFile(pack, data, 0o644); err != nil {
		t.Fatal(err)
	}
	openRefused(t, dir, "content does not match its SHA-256")
}

// A length misread in the middle of the active pack makes the rest look
// like a torn last entry; the bodies it would drop are named by durable
// records, so the open refuses instead of dropping them.
func TestDamagedLengthNotTakenForATear(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pack := closedWithBodies(t, dir, "body 0", "body 1", "body 2")
	data, _ := os.ReadFile(pack)
	sha := auditlog.BodyHash([]byte("body 0"))
	data = bytes.Replace(data, []byte(sha+" 6\n"), []byte(sha+" 9223372036854775807\n"), 1)
	if err := os.WriteFile(pack, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := keys(t)
	_, err := auditlog.Open(auditlog.Options{Dir: dir, Signer: s, Tick: make(chan time.Time), Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "damaged, not torn") {
		t.Fatalf("open with a misread length: %v, want a refusal", err)
	}
	if got, _ := os.ReadFile(pack); !bytes.Equal(got, data) {
		t.Error("the refused open changed the pack")
	}
}

// A missing active pack is started again, and the reopen says so.
func TestMissingPackLogged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Remove(closedWithBodies(t, dir, "body")); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	l := open(t, dir, func(o *auditlog.Options) { o.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
	defer func() { _ = l.Close() }()
	if !strings.Contains(logged.String(), "body pack was missing") {
		t.Errorf("reopen without the pack did not say so:\n%s", logged.String())
	}
}

// TestCheckpointOnTick: the ticker publishes a checkpoint when the log grew,
// none when it did not, and Close publishes the last one.
func TestCheckpointOnTick(t *testing.T) {
	t.Parallel()
	_, v := keys(t)
	dir := t.TempDir()
	tick := make(chan time.Time)
	l := open(t, dir, func(o *auditlog.Options) { o.Tick = tick })
	if l.Checkpoint() != nil {
		t.Fatal("a checkpoint before any record")
	}
	appendN(t, l, 0, 2)
	// The second send returns only once the first tick was handled.
	tick <- t0
	tick <- t0
	cp := l.Checkpoint()
	n, err := note.Open(cp, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	if want := "kbnn-dvc-adapter/test\n2\n"; !strings.HasPrefix(n.Text, want) {
		t.Fatalf("checkpoint %q", n.Text)
	}
	appendN(t, l, 2, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "checkpoints"))
	notes, _, err := auditlog.SplitCheckpoints(data)
	if err != nil || len(notes) != 2 {
		t.Fatalf("%d checkpoints (%v), want 2: at the tick, at Close", len(notes), err)
	}
	if !bytes.Contains(notes[1], []byte("\n3\n")) {
		t.Errorf("checkpoint at Close: %s", notes[1])
	}
	if err := auditlog.Verify(dir, v); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, conc := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("concurrent=%d", conc), func(b *testing.B) {
			var syncs atomic.Int64
			l := open(b, b.TempDir(), func(o *auditlog.Options) {
				o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
				o.OpenFile = func(name string, flag int, perm os.FileMode) (auditlog.File, error) {
					f, err := os.OpenFile(name, flag, perm)
					if err != nil || !strings.HasSuffix(name, ".log") {
						return f, err
					}
					return countSyncs{f, &syncs}, nil
				}
			})
			defer func() { _ = l.Close() }()
			r := rec(1)
			ctx := context.Background()
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range conc {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := l.Append(ctx, r); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			b.ReportMetric(float64(b.N)/float64(max(syncs.Load(), 1)), "appends/fsync")
		})
	}
}

func TestOneWriterPerDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := open(t, dir)
	s, _ := keys(t)
	if l2, err := auditlog.Open(auditlog.Options{Dir: dir, Signer: s, Tick: make(chan time.Time)}); err == nil {
		_ = l2.Close()
		t.Fatal("a second Open of a directory in use succeeded")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := auditlog.OriginFor("hn-01"); got != "kbnn-dvc-adapter/hn-01" {
		t.Errorf("OriginFor: %s", got)
	}
}

// TestDerivedTailRecomputed: node hashes after the latest checkpoint are
// not trusted at reopen (a crash can leave them half-written); they are
// recomputed from the records, so the next checkpoint signs the right tree.
func TestDerivedTailRecomputed(t *testing.T) {
	t.Parallel()
	_, v := keys(t)
	dir := t.TempDir()
	l := open(t, dir)
	appendN(t, l, 0, 10)
	if err := l.PublishCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := l.Checkpoint()
	appendN(t, l, 10, 6)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// As after a crash: the checkpoint of Close never written, the hashes
	// of records 10 to 15 zeroed though the file keeps its length.
	if err := os.WriteFile(filepath.Join(dir, "checkpoints"), append(first, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	hp := filepath.Join(dir, "hashes")
	h, err := os.ReadFile(hp)
	if err != nil {
		t.Fatal(err)
	}
	const nodesOf10 = 2*10 - 2 // storedCount(10)
	clear(h[nodesOf10*32:])
	if err := os.WriteFile(hp, h, 0o644); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir)
	appendN(t, l, 16, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := auditlog.Verify(dir, v); err != nil {
		t.Fatal(err)
	}
}

// countWrites counts the writes to a file.
type countWrites struct {
	*os.File
	n *atomic.Int64
}

func (c countWrites) Write(b []byte) (int, error) { c.n.Add(1); return c.File.Write(b) }

// A batch's bodies go to the pack in one write, a large one (a payroll
// dossier) included: a power loss can then leave only whole pages of it
// unwritten, where Open looks for them.
func TestPackBatchIsOneWrite(t *testing.T) {
	t.Parallel()
	var writes atomic.Int64
	l := open(t, t.TempDir(), func(o *auditlog.Options) {
		o.OpenFile = func(name string, flag int, perm os.FileMode) (auditlog.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			if err != nil || !strings.HasSuffix(name, ".pack") {
				return f, err
			}
			return countWrites{f, &writes}, nil
		}
	})
	large := bytes.Repeat([]byte("<dong>1</dong>"), 100_000) // 1.4 MB
	if _, err := l.AppendBody(context.Background(), rec(0), large); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 1 {
		t.Fatalf("%d writes to the pack for one batch, want 1", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// countSyncs counts the fsyncs of a segment file.
type countSyncs struct {
	*os.File
	n *atomic.Int64
}

func (c countSyncs) Sync() error { c.n.Add(1); return c.File.Sync() }

// With SealDaily, a batch on a new UTC day seals the day before's segment
// first: each sealed segment holds one day.
func TestSealDaily(t *testing.T) {
	t.Parallel()
	_, v := keys(t)
	dir := t.TempDir()
	var now atomic.Int64
	now.Store(time.Date(2026, 6, 9, 23, 59, 0, 0, time.UTC).UnixNano())
	clock := func(o *auditlog.Options) {
		o.SealDaily = true
		o.Now = func() time.Time { return time.Unix(0, now.Load()) }
	}
	l := open(t, dir, clock)
	appendN(t, l, 0, 3)
	if s := l.Sealed(); len(s) != 0 {
		t.Fatalf("sealed %v on the first day", s)
	}
	now.Add(int64(2 * time.Minute)) // 00:01 the next day
	appendN(t, l, 3, 2)
	sealed := l.Sealed()
	if len(sealed) != 1 {
		t.Fatalf("sealed %v, want the first day's segment", sealed)
	}
	data, err := os.ReadFile(sealed[0])
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(data, []byte{'\n'}); n != 3 {
		t.Errorf("the first day's segment holds %d records, want 3", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := auditlog.Verify(dir, v); err != nil {
		t.Fatal(err)
	}
}

// A whole last record that does not read is damage, not a tear (every write
// ends with a whole line): it may have been acknowledged before a
// checkpoint covered it, so the open refuses instead of dropping it and
// giving its index to another record.
func TestDamagedLastRecordRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := open(t, dir)
	appendN(t, l, 0, 3)
	if err := l.PublishCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3, 2) // acknowledged, not covered yet
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seg := lastSegment(t, dir)
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(b, []byte(`"status":202`))
	b[i] = 0x01
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	openRefused(t, dir, "damaged, not torn")
	if got, _ := os.ReadFile(seg); !bytes.Equal(got, b) {
		t.Error("the refused open changed the segment")
	}
}

// A log whose checkpoints file is gone is refused: it is created with the
// log, so its records' signed history was lost, and signing them anew
// could sign a tree that conflicts with checkpoints already published. A
// log that crashed before its first checkpoint (the file there, empty)
// opens.
func TestMissingCheckpointsRefused(t *testing.T) {
	t.Parallel()
	s, _ := keys(t)
	opts := func(dir string) auditlog.Options {
		return auditlog.Options{Dir: dir, Signer: s, Tick: make(chan time.Time), Logger: slog.New(slog.DiscardHandler)}
	}

	dir := t.TempDir()
	l := open(t, dir)
	appendN(t, l, 0, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash before the first checkpoint: Close published one; take it back.
	if err := os.Truncate(filepath.Join(dir, "checkpoints"), 0); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir)
	if l.Size() != 3 {
		t.Fatalf("reopened before the first checkpoint: size %d", l.Size())
	}
	if err := l.PublishCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(filepath.Join(dir, "checkpoints")); err != nil {
		t.Fatal(err)
	}
	if _, err := auditlog.Open(opts(dir)); err == nil || !strings.Contains(err.Error(), "no checkpoints file") {
		t.Fatalf("open without its checkpoints: %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoints")); err == nil {
		t.Error("the refused open created a checkpoints file")
	}
}

// Open reads only the tail of a long checkpoints file, and still finds the
// latest checkpoint and drops a torn one after it.
func TestLongCheckpointsFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cp := checkpointEach(t, dir, 500)
	if fi, err := os.Stat(cp); err != nil || fi.Size() < 64<<10+1024 {
		t.Fatalf("checkpoints file: %v %v, want well over the tail Open reads", fi, err)
	}
	appendFile(t, cp, []byte("kbnn-dvc-adapter/test\n501\n"))
	var logged bytes.Buffer
	l := open(t, dir, func(o *auditlog.Options) { o.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
	if !strings.Contains(logged.String(), "dropped a torn last checkpoint") {
		t.Errorf("reopen did not log the torn checkpoint:\n%s", logged.String())
	}
	if l.Size() != 500 {
		t.Fatalf("size %d, want 500", l.Size())
	}
	if _, err := l.Proof(499); err != nil {
		t.Fatalf("proof of the last record against the latest checkpoint: %v", err)
	}
	appendN(t, l, 500, 1)
	if err := l.PublishCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, v := keys(t)
	if err := auditlog.Verify(dir, v); err != nil {
		t.Fatalf("verify after the reopen: %v", err)
	}
}

// Damage inside the tail Open reads is refused, not skipped over: only
// where the tail starts is searched for.
func TestDamagedCheckpointInTheTailRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cp := checkpointEach(t, dir, 400)
	b, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	// The tree size line of a checkpoint about 2 KiB before the end.
	i := bytes.Index(b[len(b)-2048:], []byte("kbnn-dvc-adapter/test\n")) + len(b) - 2048
	j := i + len("kbnn-dvc-adapter/test\n")
	b[j] = 'x'
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	openRefused(t, dir, "malformed tree size")
}

// recordLine is the segment line of record i (rec(i)).
func recordLine(i int) []byte {
	leaf, _ := auditlog.MarshalLeaf(rec(i))
	return []byte(fmt.Sprintf("%d %s %s\n", i, hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(leaf)), leaf))
}

// threeThenBatch writes records 0 to 2 to a new log in dir and closes it,
// then appends the lines of records 3 to 3+n-1 to its segment after zero
// edits them (the batch's offsets are the segment's), as a power loss may
// leave an unsynced append. It returns the segment, its bytes before the
// batch and the batch as appended.
func threeThenBatch(t *testing.T, dir string, n int, zero func(seg, batch []byte)) (string, []byte, []byte) {
	t.Helper()
	l := open(t, dir)
	appendN(t, l, 0, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seg := lastSegment(t, dir)
	before, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	whole := bytes.Clone(before)
	for i := 3; i < 3+n; i++ {
		whole = append(whole, recordLine(i)...)
	}
	zero(before, whole)
	batch := whole[len(before):]
	appendFile(t, seg, batch)
	return seg, before, batch
}

// sectorAfter is the first multiple of 512 past at.
func sectorAfter(at int) int { return (at/512 + 1) * 512 }

// A power loss during a batch's append may leave its blocks as zeros, from
// where the synced data ended or from a sector boundary, with later blocks
// written: from the record those zeros begin in on, the batch was never
// synced nor acknowledged, so the whole tail is dropped, whole records after
// the zeros included, and kept aside in dropped/ for whoever investigates;
// the log opens, verifies and goes on at the first dropped index.
func TestZeroedBatchDropped(t *testing.T) {
	t.Parallel()
	_, v := keys(t)
	for _, tc := range []struct {
		name string
		zero func(seg, whole []byte) // whole: the segment with the batch after it
		size uint64                  // records kept
	}{
		{"from the end of the synced records to a sector boundary", func(seg, whole []byte) {
			clear(whole[len(seg):sectorAfter(len(seg))])
		}, 3},
		{"one sector, later in the batch", func(seg, whole []byte) {
			clear(whole[sectorAfter(len(seg)+len(recordLine(3))):][:512])
		}, 0}, // 0: the records before the zeroed sector's line
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var at int
			seg, before, batch := threeThenBatch(t, dir, 8, func(seg, whole []byte) {
				tc.zero(seg, whole)
				at = bytes.IndexByte(whole[len(seg):], 0) + len(seg)
			})
			whole := append(bytes.Clone(before), batch...)
			lineStart := bytes.LastIndexByte(whole[:at], '\n') + 1
			want := tc.size
			if want == 0 {
				want = uint64(bytes.Count(whole[:lineStart], []byte{'\n'}))
				if want <= 3 || want >= 11 {
					t.Fatalf("the zeroed sector begins in record %d: the case wants it inside the batch, past its first record", want)
				}
			}
			l := open(t, dir)
			if l.Size() != want {
				t.Fatalf("size %d after dropping the zeroed batch, want %d", l.Size(), want)
			}
			if after, err := os.ReadFile(seg); err != nil || !bytes.Equal(after, whole[:lineStart]) {
				t.Fatalf("segment after open: %d bytes (%v), want the %d of the records before the zeros", len(after), err, lineStart)
			}
			kept, err := os.ReadFile(filepath.Join(dir, "dropped", filepath.Base(seg)+"."+strconv.Itoa(lineStart)))
			if err != nil || !bytes.Equal(kept, whole[lineStart:]) {
				t.Fatalf("kept tail: %d bytes (%v), want the %d dropped", len(kept), err, len(whole)-lineStart)
			}
			if rcs := appendN(t, l, int(want), 1); rcs[0].LogIndex != want {
				t.Fatalf("next append got index %d, want %d", rcs[0].LogIndex, want)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := auditlog.Verify(dir, v); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A tear at the same place twice (a crash, a reopen, another crash before
// the next sync) keeps both tails.
func TestDroppedTailsAreNotOverwritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seg, before, _ := threeThenBatch(t, dir, 1, func([]byte, []byte) {})
	cut := func(b []byte) {
		appendFile(t, seg, b)
		l := open(t, dir)
		if l.Size() != 3 {
			t.Fatalf("size %d, want 3", l.Size())
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// The batch above is whole: it is record 3. Cut it, then tear twice.
	if err := os.Truncate(seg, int64(len(before))); err != nil {
		t.Fatal(err)
	}
	cut([]byte("3 abc"))
	cut([]byte("3 defg"))
	name := filepath.Join(dir, "dropped", filepath.Base(seg)+"."+strconv.Itoa(len(before)))
	for k, want := range map[string]string{name: "3 abc", name + ".1": "3 defg"} {
		if got, err := os.ReadFile(k); err != nil || string(got) != want {
			t.Fatalf("%s: %q %v, want %q", k, got, err, want)
		}
	}
}

// Zeros that do not line up as unwritten blocks do (neither where the
// synced records end nor on a sector boundary) are damage, not a tear: the
// log is refused and nothing of the segment changes.
func TestUnalignedZerosRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seg, before, batch := threeThenBatch(t, dir, 1, func(seg, whole []byte) {
		at := len(seg) + 10
		if at%512 == 0 {
			at++
		}
		clear(whole[at : at+5])
	})
	openRefused(t, dir, "damaged, not torn")
	if after, err := os.ReadFile(seg); err != nil || !bytes.Equal(after, append(before, batch...)) {
		t.Fatalf("the refused open changed the segment (%v)", err)
	}
}

// Zeros in records a checkpoint covers are not a power loss (those records
// were synced before it was signed), even when they line up as unwritten
// blocks do: the log is refused, and nothing is dropped, of the segment or
// of a torn checkpoint after it.
func TestZeroedCheckpointedRecordsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := open(t, dir)
	appendN(t, l, 0, 8)
	if err := l.PublishCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seg := lastSegment(t, dir)
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	at := sectorAfter(len(recordLine(0)))
	if at+512 > len(data) {
		t.Fatalf("%d bytes of records: too few for a zeroed sector inside them", len(data))
	}
	clear(data[at : at+512])
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(dir, "checkpoints")
	appendFile(t, cp, []byte("kbnn-dvc-adapter/test\n8\n")) // a torn checkpoint after the last
	cps, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	openRefused(t, dir, "damaged, not torn")
	if after, err := os.ReadFile(seg); err != nil || !bytes.Equal(after, data) {
		t.Fatalf("the refused open changed the segment (%v)", err)
	}
	if after, err := os.ReadFile(cp); err != nil || !bytes.Equal(after, cps) {
		t.Fatalf("the refused open changed the checkpoints (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dropped")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused open kept a tail: %v", err)
	}
}

// openRefused fails the test unless opening the log in dir is refused with
// an error that says want.
func openRefused(t *testing.T, dir, want string) {
	t.Helper()
	s, _ := keys(t)
	if _, err := auditlog.Open(auditlog.Options{Dir: dir, Signer: s, Tick: make(chan time.Time), Logger: slog.New(slog.DiscardHandler)}); err == nil ||
		!strings.Contains(err.Error(), want) {
		t.Fatalf("open: %v, want a refusal saying %q", err, want)
	}
}

// checkpointEach writes n records to a new log in dir, a checkpoint after
// each, closes it and returns the path of its checkpoints file.
func checkpointEach(t *testing.T, dir string, n int) string {
	t.Helper()
	l := open(t, dir)
	for i := range n {
		appendN(t, l, i, 1)
		if err := l.PublishCheckpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "checkpoints")
}

// TestHoldsACheckpointKeptElsewhere: an open log holds the checkpoints it
// published; a copy taken before the latest does not (ErrShort), nor does
// a log with other records under the same key (ErrRewritten), nor a
// checkpoint that does not verify.
func TestHoldsACheckpointKeptElsewhere(t *testing.T) {
	t.Parallel()
	_, v := keys(t)
	dir := t.TempDir()
	l := open(t, dir)
	appendN(t, l, 0, 10)
	if err := l.PublishCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := l.Checkpoint()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	older := t.TempDir()
	copyTree(t, dir, older)

	l = open(t, dir)
	appendN(t, l, 10, 5)
	if err := l.PublishCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	latest := l.Checkpoint()
	for _, cp := range [][]byte{first, latest} {
		if err := l.Holds(v, cp); err != nil {
			t.Errorf("the log's own checkpoint: %v", err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	back := open(t, older)
	defer func() { _ = back.Close() }()
	if err := back.Holds(v, first); err != nil {
		t.Errorf("the copy and the checkpoint it had: %v", err)
	}
	if err := back.Holds(v, latest); !errors.Is(err, auditlog.ErrShort) {
		t.Errorf("the copy and a later checkpoint: %v, want ErrShort", err)
	}

	other := open(t, t.TempDir())
	defer func() { _ = other.Close() }()
	appendN(t, other, 100, 15)
	if err := other.Holds(v, latest); !errors.Is(err, auditlog.ErrRewritten) {
		t.Errorf("other records under the same key: %v, want ErrRewritten", err)
	}

	forged := bytes.Replace(first, []byte("\n10\n"), []byte("\n9\n"), 1)
	if bytes.Equal(forged, first) {
		t.Fatal("the checkpoint has no size line to change")
	}
	if err := back.Holds(v, forged); err == nil || errors.Is(err, auditlog.ErrShort) || errors.Is(err, auditlog.ErrRewritten) {
		t.Errorf("a checkpoint whose signature does not verify: %v", err)
	}
}

// copyTree copies the regular files under src into dst, keeping the layout.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
