// Package auditlog owns the adapter's evidence log: an append-only Merkle-tree
// log (RFC 6962 hashing) of what one adapter instance received and answered,
// kept in a data directory. It writes the records durably with group commit,
// keeps the tree as a compact range and every node hash so that neither an
// append nor a proof rereads the log, publishes checkpoints in the C2SP
// tlog-checkpoint signed-note format (Ed25519), answers inclusion proofs in
// the C2SP tlog-proof format, archives received bodies by their SHA-256 in the
// same group commit (see bodies.go), seals segments by size (and by day,
// SealDaily), and verifies a log directory offline (Verify).
//
// Layout of a log directory:
//
//	segments/<first index, 20 digits>.log  record lines "<index> <leaf hash hex> <leaf JSON>\n";
//	                                       every segment but the last is sealed (read-only, never written again)
//	hashes                                 every node hash of the tree, 32 bytes each (derived: rebuilt from the records)
//	offsets                                where each record sits in its segment, 16 bytes each (derived)
//	checkpoints                            every published signed checkpoint, oldest first, each followed by an empty line
//	bodies/<first index, 20 digits>.pack   the bodies of that segment's records, each filed under its SHA-256;
//	                                       sealed and removed with the segment
//	dropped/<file>.<offset>                the bytes a crash left after a segment's last whole record (or a
//	                                       pack's last whole entry), kept when Open drops them; never read
//	lock                                   held (flock) by the one process that has the log open
package auditlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Errors of the log.
var (
	// ErrUnavailable: a write or fsync failed. Every later Append fails too
	// until the log is closed and opened again (Open recovers the files); the
	// adapter answers 503 audit-unavailable meanwhile.
	ErrUnavailable = errors.New("auditlog: log unavailable")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("auditlog: log closed")
	// ErrNotCovered: no checkpoint covers the index yet (one is published
	// within the checkpoint interval).
	ErrNotCovered = errors.New("auditlog: no checkpoint covers this index yet")
	// ErrShort: a checkpoint covers more records than the log holds (the
	// log was cut back, or restored from an older copy).
	ErrShort = errors.New("covers more records than the log holds")
	// ErrRewritten: the log's records up to a checkpoint's size do not have
	// its root (they were rewritten, or the checkpoint is another log's).
	ErrRewritten = errors.New("root hash does not match the records")
	// ErrNotFound: the log holds no record at that index.
	ErrNotFound = errors.New("auditlog: no such record")
	// ErrRemoved: the record's segment was removed after it was archived.
	ErrRemoved = errors.New("auditlog: record's segment was removed (see the archive)")
)

// DefaultOriginPrefix starts the origin of every adapter instance's log:
// DefaultOriginPrefix + "/" + instance.
const DefaultOriginPrefix = "kbnn-dvc-adapter"

// OriginFor returns the origin of an instance's log, the name its key
// pair must carry.
func OriginFor(instance string) string { return DefaultOriginPrefix + "/" + instance }

// File is what the log needs of an open file. *os.File is one; tests put a
// failing one in its place.
type File interface {
	io.Writer
	io.WriterAt
	io.ReaderAt
	Sync() error
	Close() error
}

// Options configure a log.
type Options struct {
	// Dir is the data directory (created if missing).
	Dir string
	// Signer signs checkpoints (note.NewSigner of the instance's Ed25519 key).
	// Its name is the log's origin, e.g. "kbnn-dvc-adapter/<instance>".
	Signer note.Signer
	// CheckpointInterval: a checkpoint is published at least this often while
	// the log grows (default 1 s), and at Close.
	CheckpointInterval time.Duration
	// Tick, if set, replaces the checkpoint ticker (tests drive it).
	Tick <-chan time.Time
	// SegmentBytes: the active segment is sealed once it or its body pack
	// holds at least this many bytes (default 64 MiB); the batch that
	// crosses it stays whole.
	SegmentBytes int64
	// SealDaily also seals the active segment when the UTC day changed since
	// its first record: the next batch starts the new day's segment, so each
	// sealed segment holds one day at most (default false).
	SealDaily bool
	// Now is the clock SealDaily reads (default time.Now).
	Now func() time.Time
	// MaxBatch bounds how many appends share one write and fsync (default 1024).
	MaxBatch int
	// OpenFile opens the log's files (default os.OpenFile).
	OpenFile func(name string, flag int, perm os.FileMode) (File, error)
	// Logger receives recovery and failure messages (default slog.Default()).
	Logger *slog.Logger
}

// Log is an open evidence log. Its methods are safe for concurrent use.
type Log struct {
	opts   Options
	dir    string
	origin string

	reqs    chan *request
	publish chan chan error
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
	closed  error

	// Owned by the writer goroutine.
	tree        *compact.Range
	seg         File
	segSize     int64
	hashes      File
	offsets     File
	checkpoints File
	lock        *os.File
	failed      error
	segDay      string // UTC day (2006-01-02) of the active segment's first record; "" while empty
	pack        File   // the active segment's body pack
	packSize    int64
	recent      recentBodies
	buf         []byte
	nodeBuf     []byte
	offBuf      []byte
	packBuf     []byte

	// down is what Err reports: the failed state, set once by the writer.
	down atomic.Pointer[error]

	mu       sync.RWMutex // guards what readers see
	size     uint64
	segments []segment
	cp       []byte
	cpSize   uint64
}

type request struct {
	leaf, hash []byte
	body       []byte // archived with the record when hasBody
	sum        [sha256.Size]byte
	hasBody    bool
	index      uint64
	err        error
	done       chan struct{}
}

// Open opens (or creates) the log in opts.Dir. It drops a torn last record
// (logging that it did), rebuilds the derived hashes and offsets files where
// they fall short of the records, and refuses to open a log whose records
// are damaged or fall short of its latest checkpoint.
func Open(opts Options) (*Log, error) {
	if opts.Dir == "" || opts.Signer == nil {
		return nil, errors.New("auditlog: Dir and Signer are required")
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = time.Second
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if opts.OpenFile == nil {
		opts.OpenFile = func(name string, flag int, perm os.FileMode) (File, error) {
			return os.OpenFile(name, flag, perm)
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	l := &Log{
		opts: opts, dir: opts.Dir, origin: opts.Signer.Name(),
		reqs: make(chan *request), publish: make(chan chan error),
		quit: make(chan struct{}), done: make(chan struct{}),
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	l.lock = lock
	if err := l.recover(); err != nil {
		_ = l.closeFiles()
		return nil, err
	}
	tick := opts.Tick
	var ticker *time.Ticker
	if tick == nil {
		ticker = time.NewTicker(opts.CheckpointInterval)
		tick = ticker.C
	}
	go l.run(tick, ticker)
	return l, nil
}

// Origin returns the log's origin (the checkpoint signer's name).
func (l *Log) Origin() string { return l.origin }

// Dir returns the log's data directory.
func (l *Log) Dir() string { return l.dir }

func (l *Log) recover() error {
	for _, d := range []string{segmentsDir, bodiesDir} {
		if err := os.MkdirAll(filepath.Join(l.dir, d), 0o755); err != nil {
			return err
		}
	}
	segs, err := listSegments(l.dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		segs = []segment{{first: 0, path: filepath.Join(l.dir, segmentsDir, segmentName(0))}}
		if err := os.WriteFile(segs[0].path, nil, 0o644); err != nil {
			return err
		}
		if err := syncDir(filepath.Join(l.dir, segmentsDir)); err != nil {
			return err
		}
	}
	// A crash between closing a full segment and making it read-only
	// leaves it writable: finish sealing it.
	for _, s := range segs[:len(segs)-1] {
		if fi, err := os.Stat(s.path); err == nil && fi.Mode().Perm()&0o222 != 0 {
			if err := os.Chmod(s.path, 0o444); err != nil {
				return err
			}
		}
	}
	last := &segs[len(segs)-1]
	if fi, err := os.Stat(last.path); err == nil && fi.Mode().Perm()&0o200 == 0 {
		// Sealed by a rotation that a crash cut short before the next
		// segment existed: it is the active segment again.
		if err := os.Chmod(last.path, 0o644); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(last.path)
	if err != nil {
		return err
	}
	lines, good, err := scanSegment(data, last.first)
	var torn int64 // bytes after the last whole record that a crash left (dropped below)
	if err != nil {
		// Only the last record can be torn, and a tear ends without a
		// newline: every write ends with a whole line. A whole line that
		// does not read is damage to a record that may have been
		// acknowledged (its receipt given), not a tear: dropping it would
		// give its index to another record. Zeros in it that a power loss
		// left unwritten (unwrittenFrom: some file systems show the
		// unwritten blocks of an unsynced append as zeros, and may keep
		// later blocks of the same append that were written) begin a tear:
		// an append not synced was never acknowledged, so from there on all
		// of it goes, whatever follows. What a checkpoint covers was synced,
		// so a tear there is damage (checked below, before anything is
		// dropped).
		first := len(data) - int(good)
		if i := bytes.IndexByte(data[good:], '\n'); i >= 0 {
			first = i + 1
		}
		zeroed := errors.Is(err, errMalformed) && unwrittenFrom(data, int(good), int(good)+first)
		if !errors.Is(err, errTorn) && !zeroed {
			return fmt.Errorf("auditlog: %s: %w (damaged, not torn: restore the segment from a backup, or move it aside to investigate)", last.path, err)
		}
		torn = int64(len(data)) - good
	}
	n := last.first + uint64(len(lines))
	l.segSize = good
	if good > 0 {
		// The active segment's day is its last write's: close enough for
		// a log reopened the same day, and a segment left from an earlier
		// day is sealed by the first batch.
		if fi, err := os.Stat(last.path); err == nil {
			l.segDay = fi.ModTime().UTC().Format(time.DateOnly)
		}
	}

	cpPath := filepath.Join(l.dir, checkpointsFile)
	_, statErr := os.Stat(cpPath)
	if errors.Is(statErr, os.ErrNotExist) && n > 0 {
		// The file is created with the log, before its first record: the
		// records' signed history is gone. Signing them again would sign a
		// tree that may conflict with the checkpoints already published.
		return fmt.Errorf("auditlog: %s holds %d records and no checkpoints file: restore it from a backup of this directory (the log will not sign its records again)", l.dir, n)
	}
	created := statErr != nil
	if l.hashes, err = l.opts.OpenFile(filepath.Join(l.dir, hashesFile), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		return err
	}
	if l.offsets, err = l.opts.OpenFile(filepath.Join(l.dir, offsetsFile), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		return err
	}
	hsz, err := fileSize(filepath.Join(l.dir, hashesFile))
	if err != nil {
		return err
	}
	osz, err := fileSize(filepath.Join(l.dir, offsetsFile))
	if err != nil {
		return err
	}
	m := min(leavesForHashes(uint64(hsz)/hashSize), uint64(osz)/offsetSize, n)

	// Checkpoints: drop a torn tail, keep the latest. Only the file's tail
	// is read: it grows by a checkpoint a second while records come.
	cpData, cpAt, err := readCheckpointsTail(cpPath)
	if err != nil {
		return err
	}
	notes, complete, err := SplitCheckpoints(cpData)
	if err != nil {
		return fmt.Errorf("auditlog: %s: %w", cpPath, err)
	}
	var latest *log.Checkpoint
	if len(notes) > 0 {
		if latest, err = unverifiedCheckpoint(notes[len(notes)-1]); err != nil {
			return fmt.Errorf("auditlog: latest checkpoint: %w", err)
		}
		if latest.Origin != l.origin {
			return fmt.Errorf("auditlog: latest checkpoint is of log %q, this log is %q", latest.Origin, l.origin)
		}
		if latest.Size > n && torn > 0 {
			return fmt.Errorf("auditlog: %s: the %d bytes from record %d on do not read, yet the latest checkpoint covers %d records: damaged, not torn (restore the segment from a backup, or move it aside to investigate)", last.path, torn, n, latest.Size)
		}
		if latest.Size > n {
			return fmt.Errorf("auditlog: latest checkpoint covers %d records, the log holds %d: records were lost", latest.Size, n)
		}
	}
	// Refusals above change nothing; from here on the tears go.
	if complete < len(cpData) {
		l.opts.Logger.Warn("auditlog: dropped a torn last checkpoint", "file", cpPath, "bytes", len(cpData)-complete)
		if err := os.Truncate(cpPath, cpAt+int64(complete)); err != nil {
			return err
		}
	}
	if torn > 0 {
		keep, err := dropTail(l.dir, last.path, data, good)
		if err != nil {
			return err
		}
		l.opts.Logger.Warn("auditlog: dropped a torn last record", "segment", last.path, "record", n, "bytes", torn,
			"whole_records_after", max(bytes.Count(data[good:], []byte{'\n'})-1, 0), "kept", keep) // the lines after the one that does not read
	}
	// The derived files are fsynced before each checkpoint, so what the
	// latest one covers is durable; what follows it may have been cut short
	// or half-written by a crash and is recomputed from the records. The
	// cost is reading and hashing the records after the latest checkpoint
	// (about one checkpoint interval of appends), or the whole log when the
	// derived files disagree with it or are lost.
	switch {
	case latest == nil:
		m = 0
	case latest.Size <= m:
		root, err := rootAt(readerAtHashes(l.hashes), latest.Size)
		if err != nil || !bytes.Equal(root, latest.Hash) {
			l.opts.Logger.Warn("auditlog: hashes file disagrees with the latest checkpoint; rebuilding it from the records")
			m = 0
		} else {
			m = latest.Size
		}
	}
	if err := l.rebuild(segs, m, n, lines); err != nil {
		return err
	}
	if latest != nil {
		match := func() (bool, error) {
			root, err := rootAt(readerAtHashes(l.hashes), latest.Size)
			return bytes.Equal(root, latest.Hash), err
		}
		ok, err := match()
		if err == nil && !ok && m > 0 {
			l.opts.Logger.Warn("auditlog: hashes file disagrees with the latest checkpoint; rebuilding it from the records")
			if err := l.rebuild(segs, 0, n, lines); err != nil {
				return err
			}
			ok, err = match()
		}
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("auditlog: the records do not match the latest checkpoint (size %d)", latest.Size)
		}
		l.cp, l.cpSize = notes[len(notes)-1], latest.Size
	}
	if l.checkpoints, err = l.opts.OpenFile(cpPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
		return err
	}
	if created {
		// The new files' names must outlive a power loss: a log whose
		// checkpoints file vanished is refused above.
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}
	if l.seg, err = l.opts.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return err
	}
	if err := l.recoverPacks(segs, lines); err != nil {
		return err
	}
	l.segments, l.size = segs, n
	return nil
}

// dropTail cuts the file at path at good, where its last whole record (or
// pack entry) ends: what follows is an append a crash cut short, never
// acknowledged. The bytes dropped are kept first, synced, in
// dropped/<file>.<offset>[.<k>] for whoever investigates the crash: a
// power loss may leave whole records of the unsynced append after the
// zeros. It returns where they are kept.
func dropTail(dir, path string, data []byte, good int64) (string, error) {
	keep, err := keepDropped(dir, filepath.Base(path)+"."+strconv.FormatInt(good, 10), data[good:])
	if err != nil {
		return "", err
	}
	if err := os.Truncate(path, good); err != nil {
		return "", err
	}
	return keep, syncFile(path)
}

// keepDropped writes data to a new read-only file dropped/<name> in dir
// (dropped/<name>.<k> when that is taken: an earlier tear at the same
// offset is kept too), synced with its directory entries, and returns its
// path.
func keepDropped(dir, name string, data []byte) (string, error) {
	d := filepath.Join(dir, droppedDir)
	if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", err
		}
		if err := syncDir(dir); err != nil {
			return "", err
		}
	}
	for k := 0; ; k++ {
		p := filepath.Join(d, name)
		if k > 0 {
			p += "." + strconv.Itoa(k)
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = syncDir(d)
		}
		return p, err
	}
}

// sectorSize is the unit a file system writes in (its blocks are
// multiples of it).
const sectorSize = 512

// unwrittenFrom reports whether data holds, starting between from and to,
// a run of zero bytes as a power loss leaves of blocks an unsynced append
// never wrote: beginning at from (where the synced data ended) or on a
// sector boundary, and ending on one or at the end of data. Zeros that do
// not line up so are damage, not a tear.
func unwrittenFrom(data []byte, from, to int) bool {
	i := bytes.IndexByte(data[from:to], 0)
	if i < 0 {
		return false
	}
	i += from
	if i != from && i%sectorSize != 0 {
		return false
	}
	j := i
	for j < len(data) && data[j] == 0 {
		j++
	}
	return j == len(data) || j%sectorSize == 0
}

// recoverPacks finishes sealing the packs of sealed segments and opens the
// active segment's pack, created when missing, its torn last entry dropped
// (lines are the active segment's records).
func (l *Log) recoverPacks(segs []segment, lines []scanned) error {
	for _, s := range segs[:len(segs)-1] {
		p := packPath(l.dir, s.first)
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o222 != 0 {
			if err := os.Chmod(p, 0o444); err != nil {
				return err
			}
		}
	}
	p := packPath(l.dir, segs[len(segs)-1].first)
	if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o200 == 0 {
		// Sealed by a rotation that a crash cut short before the next
		// segment existed: it is the active pack again.
		if err := os.Chmod(p, 0o644); err != nil {
			return err
		}
	}
	var names map[string]bool
	named := func(sha string) bool {
		if names == nil { // only when a tail was torn: parse the records once
			names = map[string]bool{}
			for _, ln := range lines {
				if r, err := ParseLeaf(ln.Leaf); err == nil && r.BodySHA256 != "" {
					names[r.BodySHA256] = true
				}
			}
		}
		return names[sha]
	}
	last := ""
	if len(lines) > 0 {
		if r, err := ParseLeaf(lines[len(lines)-1].Leaf); err == nil {
			last = r.BodySHA256
		}
	}
	r, err := recoverPack(p, named, last)
	if err != nil {
		return err
	}
	if r.lastMissing {
		l.opts.Logger.Error("auditlog: the body of the active segment's last record is not in its pack before the torn tail: if bodies were archived when it was written, the pack was damaged, not torn (its bytes are in the kept tail; dvc-audit verify -bodies names every record without its body)",
			"pack", p, "record", lines[len(lines)-1].Index, "body", last, "kept", r.kept)
	}
	if r.created && len(lines) > 0 {
		l.opts.Logger.Warn("auditlog: the active segment's body pack was missing; started an empty one (bodies its records name are not here)",
			"pack", p, "records", len(lines))
	}
	l.packSize = r.size
	if r.dropped > 0 {
		l.opts.Logger.Warn("auditlog: dropped a torn last body", "pack", p, "bytes", r.dropped, "kept", r.kept)
	}
	l.pack, err = l.opts.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0o644)
	return err
}

// rebuild recomputes the hashes and offsets files from record m to n,
// reading the records from m on (lines are the last segment's, already
// parsed), and truncates both files at m first.
func (l *Log) rebuild(segs []segment, m, n uint64, lastLines []scanned) error {
	tree, err := rangeAt(readerAtHashes(l.hashes), m)
	if err != nil {
		return err
	}
	nodes := make([]byte, 0, (storedCount(n)-storedCount(m))*hashSize)
	offs := make([]byte, 0, (n-m)*offsetSize)
	base := storedCount(m)
	put := func(id compact.NodeID, h []byte) {
		at := (storedIndex(id) - base) * hashSize
		nodes = nodes[:max(uint64(len(nodes)), at+hashSize)]
		copy(nodes[at:], h)
	}
	for i, s := range segs {
		if i+1 < len(segs) && segs[i+1].first <= m {
			continue
		}
		lines := lastLines
		if i < len(segs)-1 {
			data, err := os.ReadFile(s.path)
			if err != nil {
				return fmt.Errorf("auditlog: rebuilding from %s: %w", s.path, err)
			}
			if lines, _, err = scanSegment(data, s.first); err != nil {
				return fmt.Errorf("auditlog: %s: %w", s.path, err)
			}
			if s.first+uint64(len(lines)) != segs[i+1].first {
				return fmt.Errorf("auditlog: %s ends at record %d, the next segment starts at %d", s.path, s.first+uint64(len(lines)), segs[i+1].first)
			}
		}
		if s.first > m {
			return fmt.Errorf("auditlog: records %d to %d are missing (segments removed?); cannot rebuild", m, s.first-1)
		}
		for _, ln := range lines[m-s.first:] {
			if lh := LeafHash(ln.Leaf); !bytes.Equal(lh, ln.LeafHash) {
				return fmt.Errorf("auditlog: record %d: leaf hash does not match", ln.Index)
			}
			put(compact.NewNodeID(0, ln.Index), ln.LeafHash)
			if err := tree.Append(ln.LeafHash, put); err != nil {
				return err
			}
			var o [offsetSize]byte
			putOffset(o[:], ln.offset, ln.length)
			offs = append(offs, o[:]...)
			m++
		}
	}
	if err := truncateFile(l.hashes, int64(base*hashSize)); err != nil {
		return err
	}
	if err := truncateFile(l.offsets, int64(tree.End()-uint64(len(offs)/offsetSize))*offsetSize); err != nil {
		return err
	}
	if len(nodes) > 0 {
		l.opts.Logger.Info("auditlog: rebuilt derived files from the records", "from", tree.End()-uint64(len(offs)/offsetSize), "to", tree.End())
		if _, err := l.hashes.WriteAt(nodes, int64(base*hashSize)); err != nil {
			return err
		}
		if _, err := l.offsets.WriteAt(offs, int64((tree.End()-uint64(len(offs)/offsetSize))*offsetSize)); err != nil {
			return err
		}
	}
	l.tree = tree
	return nil
}

func truncateFile(f File, size int64) error {
	if t, ok := f.(interface{ Truncate(int64) error }); ok {
		return t.Truncate(size)
	}
	return nil
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// unverifiedCheckpoint parses the body of a signed checkpoint without
// checking its signatures.
func unverifiedCheckpoint(signed []byte) (*log.Checkpoint, error) {
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 {
		return nil, errors.New("not a signed note")
	}
	var c log.Checkpoint
	rest, err := c.Unmarshal(signed[:i+1])
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, errors.New("checkpoint has extension lines")
	}
	return &c, nil
}

// Append adds r to the log and returns once its record is durable (written
// and fsynced, shared with the appends waiting at the same time). ctx bounds
// only the wait for the writer; once taken, the record's fate is reported.
func (l *Log) Append(ctx context.Context, r Record) (Receipt, error) {
	return l.append(ctx, r, nil)
}

// AppendBody is Append that also archives body, the exact bytes received,
// in the active segment's pack (once: a body the pack received lately is
// not stored again), durable before the record. r.BodySHA256 is set to the
// body's SHA-256.
func (l *Log) AppendBody(ctx context.Context, r Record, body []byte) (Receipt, error) {
	h := HashBody(body)
	return l.append(ctx, r, &h)
}

// AppendHashed is AppendBody for a body already hashed (HashBody), so that
// a request's several records hash it once.
func (l *Log) AppendHashed(ctx context.Context, r Record, body HashedBody) (Receipt, error) {
	return l.append(ctx, r, &body)
}

// append appends r, archiving body first when it is not nil.
func (l *Log) append(ctx context.Context, r Record, body *HashedBody) (Receipt, error) {
	req := &request{done: make(chan struct{})}
	if body != nil {
		req.body, req.sum, req.hasBody = body.body, body.Sum(), true
		r.BodySHA256 = hex.EncodeToString(req.sum[:])
	}
	leaf, err := MarshalLeaf(r)
	if err != nil {
		return Receipt{}, err
	}
	req.leaf, req.hash = leaf, LeafHash(leaf)
	select {
	case l.reqs <- req:
	case <-l.quit:
		return Receipt{}, ErrClosed
	case <-ctx.Done():
		return Receipt{}, ctx.Err()
	}
	<-req.done
	if req.err != nil {
		return Receipt{}, req.err
	}
	return Receipt{LogOrigin: l.origin, LogIndex: req.index, LeafHash: hex.EncodeToString(req.hash), BodySHA256: r.BodySHA256, HeldSHA256: r.HeldSHA256}, nil
}

// PublishCheckpoint publishes a checkpoint now if the log grew since the
// last one.
func (l *Log) PublishCheckpoint(ctx context.Context) error {
	ch := make(chan error, 1)
	select {
	case l.publish <- ch:
	case <-l.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-ch
}

// Close publishes a last checkpoint if the log grew and closes the files.
// Appends after Close fail with ErrClosed.
func (l *Log) Close() error {
	l.once.Do(func() { close(l.quit) })
	<-l.done
	return l.closed
}

func (l *Log) run(tick <-chan time.Time, ticker *time.Ticker) {
	defer close(l.done)
	if ticker != nil {
		defer ticker.Stop()
	}
	batch := make([]*request, 0, l.opts.MaxBatch)
	for {
		select {
		case r := <-l.reqs:
			batch = append(batch[:0], r)
			// Let the appenders the last commit woke send before the
			// batch closes, so they share this fsync instead of the next.
			runtime.Gosched()
		drain:
			for len(batch) < l.opts.MaxBatch {
				select {
				case r := <-l.reqs:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			l.commit(batch)
			clear(batch)
		case <-tick:
			if err := l.publishCheckpoint(); err != nil {
				l.opts.Logger.Error("auditlog: checkpoint not published", "err", err)
			}
		case ch := <-l.publish:
			ch <- l.publishCheckpoint()
		case <-l.quit:
			err := l.publishCheckpoint()
			if errors.Is(err, ErrUnavailable) {
				err = nil // already reported to the appends
			}
			l.closed = errors.Join(err, l.closeFiles())
			return
		}
	}
}

func (l *Log) closeFiles() error {
	var errs []error
	for _, f := range []File{l.seg, l.pack, l.hashes, l.offsets, l.checkpoints} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	if l.lock != nil {
		errs = append(errs, l.lock.Close())
	}
	return errors.Join(errs...)
}

// fail puts the log in the failed state: every later append is refused.
func (l *Log) fail(what string, err error) error {
	l.failed = fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
	l.down.Store(&l.failed)
	l.opts.Logger.Error("auditlog: failing closed until reopened", "op", what, "err", err)
	return l.failed
}

// Err reports whether the log can take records: nil while it can; the
// failure (wrapping ErrUnavailable) once a write or fsync failed and every
// append is refused until the log is reopened; ErrClosed after Close.
// Readiness checks call it.
func (l *Log) Err() error {
	if p := l.down.Load(); p != nil {
		return *p
	}
	select {
	case <-l.quit:
		return ErrClosed
	default:
	}
	return nil
}

// commit writes a batch of records with one write and one fsync (and
// their new bodies with one more of each, before them).
func (l *Log) commit(batch []*request) {
	err := l.commitBatch(batch)
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}

func (l *Log) commitBatch(batch []*request) error {
	if l.failed != nil {
		return l.failed
	}
	if l.opts.SealDaily {
		today := l.opts.Now().UTC().Format(time.DateOnly)
		if l.segSize > 0 && l.segDay != today {
			if err := l.rotate(); err != nil {
				return l.fail("seal", err)
			}
		}
		if l.segSize == 0 {
			l.segDay = today
		}
	}
	if err := l.writeBodies(batch); err != nil {
		return err
	}
	base := l.tree.End()
	nodeBase := storedCount(base)
	nodeLen := (storedCount(base+uint64(len(batch))) - nodeBase) * hashSize
	l.buf = l.buf[:0]
	l.nodeBuf = grow(l.nodeBuf, int(nodeLen))
	l.offBuf = grow(l.offBuf, len(batch)*offsetSize)
	put := func(id compact.NodeID, h []byte) {
		copy(l.nodeBuf[(storedIndex(id)-nodeBase)*hashSize:], h)
	}
	for i, r := range batch {
		r.index = base + uint64(i)
		start := len(l.buf)
		l.buf = appendLine(l.buf, r.index, r.hash, r.leaf)
		putOffset(l.offBuf[i*offsetSize:], l.segSize+int64(start), len(l.buf)-start)
		put(compact.NewNodeID(0, r.index), r.hash)
		if err := l.tree.Append(r.hash, put); err != nil {
			return l.fail("tree", err)
		}
	}
	if _, err := l.seg.Write(l.buf); err != nil {
		return l.fail("write", err)
	}
	if err := l.seg.Sync(); err != nil {
		return l.fail("fsync", err)
	}
	if _, err := l.hashes.WriteAt(l.nodeBuf, int64(nodeBase*hashSize)); err != nil {
		return l.fail("write hashes", err)
	}
	if _, err := l.offsets.WriteAt(l.offBuf, int64(base*offsetSize)); err != nil {
		return l.fail("write offsets", err)
	}
	l.segSize += int64(len(l.buf))
	l.mu.Lock()
	l.size = l.tree.End()
	l.mu.Unlock()
	if l.segSize >= l.opts.SegmentBytes || l.packSize >= l.opts.SegmentBytes {
		if err := l.rotate(); err != nil {
			// The batch is durable; the next one is refused.
			l.failed = fmt.Errorf("%w: sealing the segment: %w", ErrUnavailable, err)
			l.down.Store(&l.failed)
			l.opts.Logger.Error("auditlog: failing closed until reopened", "op", "seal", "err", err)
		}
	}
	return nil
}

// largeBody bounds the batch buffer kept between batches.
const largeBody = 256 << 10

// writeBodies appends the batch's bodies that the pack does not hold yet
// to it, in one write, and fsyncs it: a record is never durable before its
// body. One write, whatever the bodies' sizes: every page it covers is
// filled at once, so a power loss can leave only whole pages of it
// unwritten (zeros where unwrittenFrom looks for them), not the tail of a
// page an earlier write of the same batch filled part of.
func (l *Log) writeBodies(batch []*request) error {
	n := 0
	for _, r := range batch {
		if r.hasBody {
			n += maxPackHeader + len(r.body) + 1
		}
	}
	l.packBuf = grow(l.packBuf, n)[:0] // sized once: a payroll body is not copied twice
	for _, r := range batch {
		if !r.hasBody || l.recent.has(r.sum) {
			continue
		}
		l.recent.add(r.sum)
		l.packBuf = appendPackHeader(l.packBuf, &r.sum, len(r.body))
		l.packBuf = append(l.packBuf, r.body...)
		l.packBuf = append(l.packBuf, '\n')
	}
	wrote := len(l.packBuf) > 0
	if wrote {
		n, err := l.pack.Write(l.packBuf)
		l.packSize += int64(n)
		if err != nil {
			return l.fail("write body pack", err)
		}
	}
	if cap(l.packBuf) > 4*largeBody {
		l.packBuf = nil // a burst of bodies does not stay allocated
	}
	if !wrote {
		return nil
	}
	if err := l.pack.Sync(); err != nil {
		return l.fail("fsync body pack", err)
	}
	return nil
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// rotate seals the active segment (read-only from now on) and starts the
// next one.
func (l *Log) rotate() error {
	l.mu.RLock()
	cur := l.segments[len(l.segments)-1]
	l.mu.RUnlock()
	if err := l.seg.Close(); err != nil {
		return err
	}
	l.seg = nil
	if err := l.pack.Close(); err != nil {
		return err
	}
	l.pack = nil
	if err := os.Chmod(cur.path, 0o444); err != nil {
		return err
	}
	if err := os.Chmod(packPath(l.dir, cur.first), 0o444); err != nil {
		return err
	}
	next := segment{first: l.tree.End(), path: filepath.Join(l.dir, segmentsDir, segmentName(l.tree.End()))}
	// The pack first: a segment is never without its pack.
	// (Not O_EXCL: a crash between the two leaves this pack, empty.)
	pack, err := l.opts.OpenFile(packPath(l.dir, next.first), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if err := syncDir(filepath.Join(l.dir, bodiesDir)); err != nil {
		_ = pack.Close()
		return err
	}
	f, err := l.opts.OpenFile(next.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		_ = pack.Close()
		return err
	}
	if err := syncDir(filepath.Join(l.dir, segmentsDir)); err != nil {
		_ = f.Close()
		_ = pack.Close()
		return err
	}
	l.seg, l.segSize, l.pack, l.packSize = f, 0, pack, 0
	l.recent.reset()
	l.mu.Lock()
	l.segments[len(l.segments)-1].sealed = true
	l.segments = append(l.segments, next)
	l.mu.Unlock()
	return nil
}

// publishCheckpoint signs and appends a checkpoint of the current tree if it
// grew since the last one.
func (l *Log) publishCheckpoint() error {
	if l.failed != nil {
		return l.failed
	}
	size := l.tree.End()
	l.mu.RLock()
	last := l.cpSize
	l.mu.RUnlock()
	if size == last {
		return nil
	}
	// The derived files reach the disk before a checkpoint vouches for them.
	if err := l.hashes.Sync(); err != nil {
		return l.fail("fsync hashes", err)
	}
	if err := l.offsets.Sync(); err != nil {
		return l.fail("fsync offsets", err)
	}
	root, err := l.tree.GetRootHash(nil)
	if err != nil {
		return l.fail("root", err)
	}
	text := log.Checkpoint{Origin: l.origin, Size: size, Hash: root}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(text)}, l.opts.Signer)
	if err != nil {
		return fmt.Errorf("auditlog: signing the checkpoint: %w", err)
	}
	if _, err := l.checkpoints.Write(append(signed, '\n')); err != nil {
		return l.fail("write checkpoint", err)
	}
	if err := l.checkpoints.Sync(); err != nil {
		return l.fail("fsync checkpoint", err)
	}
	l.mu.Lock()
	l.cp, l.cpSize = signed, size
	l.mu.Unlock()
	return nil
}

// Size returns the number of durable records.
func (l *Log) Size() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// Checkpoint returns the latest signed checkpoint (nil before the first).
func (l *Log) Checkpoint() []byte {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return bytes.Clone(l.cp)
}

// Holds checks a checkpoint signed by v and kept outside the log's
// directory (an anchor, a checkpoint a client held) against the open log:
// the log must hold at least its size, and its records up to that size
// must have its root. ErrShort (wrapped) when the log is shorter,
// ErrRewritten when the roots differ; other errors for a checkpoint that
// does not verify or a node hash that cannot be read.
func (l *Log) Holds(v note.Verifier, signed []byte) error {
	l.mu.RLock()
	n := l.size
	l.mu.RUnlock()
	_, err := matches(readerAtHashes(l.hashes), n, v, signed)
	return err
}

// Latest returns the latest signed checkpoint and the tree size it signs
// (nil and 0 before the first).
func (l *Log) Latest() ([]byte, uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return bytes.Clone(l.cp), l.cpSize
}

// Proof returns the inclusion proof of record i against the latest
// checkpoint, in the C2SP tlog-proof format. ErrNotCovered until a
// checkpoint covers i.
func (l *Log) Proof(i uint64) ([]byte, error) {
	l.mu.RLock()
	cp, size := l.cp, l.cpSize
	l.mu.RUnlock()
	if i >= size {
		return nil, ErrNotCovered
	}
	hashes, err := inclusion(readerAtHashes(l.hashes), i, size)
	if err != nil {
		return nil, err
	}
	return FormatProof(i, hashes, nil, cp), nil
}

// inclusion builds the inclusion proof of leaf i in the tree of size leaves
// from stored node hashes.
func inclusion(read func(uint64) ([]byte, error), i, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(i, size)
	if err != nil {
		return nil, err
	}
	return fetch(read, nodes)
}

func fetch(read func(uint64) ([]byte, error), nodes proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for j, id := range nodes.IDs {
		h, err := read(storedIndex(id))
		if err != nil {
			return nil, err
		}
		hashes[j] = h
	}
	return nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

// Entry returns the exact leaf bytes of record i.
func (l *Log) Entry(i uint64) ([]byte, error) {
	l.mu.RLock()
	size := l.size
	seg := segment{removed: true} // before the first segment left: removed
	for _, s := range l.segments {
		if s.first <= i {
			seg = s
		}
	}
	l.mu.RUnlock()
	if i >= size {
		return nil, ErrNotFound
	}
	if seg.removed {
		return nil, ErrRemoved
	}
	var o [offsetSize]byte
	if _, err := l.offsets.ReadAt(o[:], int64(i*offsetSize)); err != nil {
		return nil, fmt.Errorf("auditlog: offset of record %d: %w", i, err)
	}
	off, n := int64(binary.BigEndian.Uint64(o[0:8])), int(binary.BigEndian.Uint32(o[8:12]))
	f, err := os.Open(seg.path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	line := make([]byte, n)
	if _, err := f.ReadAt(line, off); err != nil {
		return nil, fmt.Errorf("auditlog: record %d: %w", i, err)
	}
	ln, err := ParseLine(bytes.TrimSuffix(line, []byte{'\n'}))
	if err != nil || ln.Index != i {
		return nil, fmt.Errorf("auditlog: record %d: the offsets file points at something else", i)
	}
	return ln.Leaf, nil
}

// Sealed lists the paths of the sealed segments still present, oldest
// first: ship them and their body packs (PackOf) to archive storage, then
// Remove them.
func (l *Log) Sealed() []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []string
	for _, s := range l.segments {
		if s.sealed && !s.removed {
			out = append(out, s.path)
		}
	}
	return out
}

// PackOf returns the body pack of the segment at path (sealed with it,
// removed with it).
func PackOf(segmentPath string) string {
	first := strings.TrimSuffix(filepath.Base(segmentPath), segmentExt)
	return filepath.Join(filepath.Dir(filepath.Dir(segmentPath)), bodiesDir, first+packExt)
}

// Remove deletes a sealed segment and its body pack, once they are
// archived and a checkpoint covers all its records. Its records stay in
// the tree (proofs still work) but Entry answers ErrRemoved for them.
func (l *Log) Remove(path string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, s := range l.segments {
		if s.path != path {
			continue
		}
		if !s.sealed {
			return fmt.Errorf("auditlog: %s is the active segment", path)
		}
		if s.removed {
			return nil
		}
		// Reopening recomputes the tree after the latest checkpoint from
		// the records: those must still be here.
		if end := l.segments[i+1].first; end > l.cpSize {
			return fmt.Errorf("auditlog: %s holds records up to %d, not yet covered by a checkpoint (size %d)", path, end-1, l.cpSize)
		}
		if err := os.Remove(PackOf(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		l.segments[i].removed = true
		if err := syncDir(filepath.Join(l.dir, bodiesDir)); err != nil {
			return err
		}
		return syncDir(filepath.Join(l.dir, segmentsDir))
	}
	return fmt.Errorf("auditlog: %s is not a segment of this log", path)
}
