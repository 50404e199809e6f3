package auditlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Names inside a log directory.
const (
	segmentsDir     = "segments"
	bodiesDir       = "bodies"
	hashesFile      = "hashes"
	offsetsFile     = "offsets"
	checkpointsFile = "checkpoints"
	// droppedDir keeps the bytes a crash left after a segment's last whole
	// record or a pack's last whole entry, dropped when the log is opened
	// (dropTail).
	droppedDir = "dropped"
	// VerifierFile is where the adapter leaves the log's verifier key (the
	// public half of its signer key) beside the log, so that the directory
	// can be verified on its own; an auditor checks it against the key the
	// instance published.
	VerifierFile = "log.vkey"
	segmentExt   = ".log"
	hashSize     = 32
	offsetSize   = 16
)

var factory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// The hashes file holds every node of the tree, 32 bytes each, in the order
// the nodes come into existence: leaf i, then the parents it completes, lowest
// first. storedIndex is a node's position in it; storedCount(n) the number of
// nodes of a tree of n leaves.
func storedIndex(id compact.NodeID) uint64 {
	k := (id.Index+1)<<id.Level - 1 // the last leaf under the node
	return 2*k - uint64(bits.OnesCount64(k)) + uint64(id.Level)
}

func storedCount(n uint64) uint64 { return 2*n - uint64(bits.OnesCount64(n)) }

// leavesForHashes returns the largest tree size whose nodes all fit in
// count stored hashes.
func leavesForHashes(count uint64) uint64 {
	lo, hi := uint64(0), count // storedCount(n) >= n
	for lo < hi {
		mid := hi - (hi-lo)/2
		if storedCount(mid) <= count {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// rangeAt returns the compact range [0, size) from stored node hashes.
func rangeAt(read func(pos uint64) ([]byte, error), size uint64) (*compact.Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := read(storedIndex(id))
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return factory.NewRange(0, size, hashes)
}

// rootAt returns the root hash of the tree of the first size leaves.
func rootAt(read func(pos uint64) ([]byte, error), size uint64) ([]byte, error) {
	r, err := rangeAt(read, size)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// readerAtHashes reads stored node hashes from a hashes file.
func readerAtHashes(f io.ReaderAt) func(uint64) ([]byte, error) {
	return func(pos uint64) ([]byte, error) {
		h := make([]byte, hashSize)
		if _, err := f.ReadAt(h, int64(pos*hashSize)); err != nil {
			return nil, fmt.Errorf("auditlog: reading node %d: %w", pos, err)
		}
		return h, nil
	}
}

// segment is one segment file: the records from first on.
type segment struct {
	first   uint64
	path    string
	sealed  bool
	removed bool
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentExt) }

// listSegments returns the segment files of dir, by first index.
func listSegments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(filepath.Join(dir, segmentsDir))
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok || e.IsDir() {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil || len(name) != 20 {
			return nil, fmt.Errorf("auditlog: %s: not a segment name", e.Name())
		}
		segs = append(segs, segment{first: first, path: filepath.Join(dir, segmentsDir, e.Name())})
	}
	slices.SortFunc(segs, func(a, b segment) int { return cmpUint(a.first, b.first) })
	for i := range segs {
		segs[i].sealed = i < len(segs)-1
	}
	return segs, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// scanned is one record line of a segment and where it sits.
type scanned struct {
	Line
	offset int64
	length int
}

// errTorn says the segment ends in a record that was not written whole.
var errTorn = errors.New("incomplete last record")

// errMalformed says a line is not a record line.
var errMalformed = errors.New("malformed")

// scanSegment parses the record lines of a segment's contents, expecting
// indices from first on. It stops at the first line that is not a
// well-formed record with the expected index: err then says why and
// good is the length of the records before it. A last line without LF
// gives errTorn.
func scanSegment(data []byte, first uint64) (lines []scanned, good int64, err error) {
	pos := 0
	for pos < len(data) {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			return lines, int64(pos), fmt.Errorf("record %d: %w (torn write)", first+uint64(len(lines)), errTorn)
		}
		l, perr := ParseLine(data[pos : pos+i])
		want := first + uint64(len(lines))
		if perr != nil {
			return lines, int64(pos), fmt.Errorf("record %d: %w (%v)", want, errMalformed, perr)
		}
		if l.Index != want {
			return lines, int64(pos), fmt.Errorf("record %d: found record %d in its place (a record missing or out of order)", want, l.Index)
		}
		lines = append(lines, scanned{Line: l, offset: int64(pos), length: i + 1})
		pos += i + 1
	}
	return lines, int64(pos), nil
}

func putOffset(dst []byte, offset int64, length int) {
	binary.BigEndian.PutUint64(dst[0:8], uint64(offset))
	binary.BigEndian.PutUint32(dst[8:12], uint32(length))
	binary.BigEndian.PutUint32(dst[12:16], 0)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
