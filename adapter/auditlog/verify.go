package auditlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// memTree holds every node hash of a tree in memory, at the positions the
// hashes file uses.
type memTree struct {
	nodes []byte
	tree  *compact.Range
}

func newMemTree() *memTree { return &memTree{tree: factory.NewEmptyRange(0)} }

func (m *memTree) put(id compact.NodeID, h []byte) {
	at := storedIndex(id) * hashSize
	if need := at + hashSize; uint64(len(m.nodes)) < need {
		m.nodes = append(m.nodes, make([]byte, need-uint64(len(m.nodes)))...)
	}
	copy(m.nodes[at:], h)
}

func (m *memTree) append(leafHash []byte) error {
	m.put(compact.NewNodeID(0, m.tree.End()), leafHash)
	return m.tree.Append(leafHash, m.put)
}

func (m *memTree) read(pos uint64) ([]byte, error) {
	if (pos+1)*hashSize > uint64(len(m.nodes)) {
		return nil, fmt.Errorf("node %d not in the tree", pos)
	}
	return m.nodes[pos*hashSize : (pos+1)*hashSize], nil
}

// Scan calls fn with every record line of the log in dir, in order, after
// checking each (shape, index, leaf hash). It stops at the first bad record
// with an error naming it.
func Scan(dir string, fn func(Line) error) error {
	segs, err := listSegments(dir)
	if err != nil {
		return err
	}
	next := uint64(0)
	for _, s := range segs {
		if s.first != next {
			return fmt.Errorf("record %d: missing (segment %s starts at record %d)", next, filepath.Base(s.path), s.first)
		}
		data, err := os.ReadFile(s.path)
		if err != nil {
			return err
		}
		lines, _, serr := scanSegment(data, s.first)
		for _, ln := range lines {
			if !bytes.Equal(LeafHash(ln.Leaf), ln.LeafHash) {
				return fmt.Errorf("record %d: leaf hash does not match", ln.Index)
			}
			if _, err := ParseLeaf(ln.Leaf); err != nil {
				return fmt.Errorf("record %d: %w", ln.Index, err)
			}
			if err := fn(ln.Line); err != nil {
				return err
			}
		}
		if serr != nil {
			return serr
		}
		next = s.first + uint64(len(lines))
	}
	return nil
}

// Verify checks the log in dir as a whole and returns the first problem,
// named: every record is well-formed, in order, and its leaf hash is the
// hash of its leaf; every checkpoint is well-formed, signed by v, of v's
// origin, and its root hash is the tree of the records up to its size; each
// checkpoint is consistent with the one before it; the hashes file, where
// present, holds the tree's nodes; every archived body has the SHA-256 of
// its name. Verify needs every segment from record 0 on: put archived
// segments back beside the live ones first.
func Verify(dir string, v note.Verifier) error {
	_, err := Check(dir, v)
	return err
}

// Report is what Check found of a whole log: its records, and how many of
// them a checkpoint signs, its own latest or one held elsewhere (the rest
// came after it).
type Report struct {
	Records, Signed uint64
}

// Check is Verify, which it reports on, and also checks the log against
// checkpoints held elsewhere (a receipt's proof, a published checkpoint),
// each signed by v: the log must hold at least its size, and its records'
// tree at that size must have its root. A log's own files cannot show that
// it was not rolled back or rewritten after its last checkpoint, with that
// checkpoint removed; a checkpoint held elsewhere can. A log with records
// and no checkpoint is refused: nothing signs them.
func Check(dir string, v note.Verifier, held ...[]byte) (Report, error) {
	mt := newMemTree()
	if err := Scan(dir, func(ln Line) error { return mt.append(ln.LeafHash) }); err != nil {
		return Report{}, err
	}
	n := mt.tree.End()

	data, err := os.ReadFile(filepath.Join(dir, checkpointsFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Report{}, err
	}
	notes, complete, err := SplitCheckpoints(data)
	if err != nil {
		return Report{}, err
	}
	if complete < len(data) {
		return Report{}, fmt.Errorf("checkpoint %d: incomplete (torn write)", len(notes)+1)
	}
	if n > 0 && len(notes) == 0 {
		return Report{}, fmt.Errorf("%d records and no checkpoint: nothing signs them", n)
	}
	var prev *log.Checkpoint
	for i, signed := range notes {
		k := i + 1
		unverified, err := unverifiedCheckpoint(signed)
		if err != nil {
			return Report{}, fmt.Errorf("checkpoint %d: malformed: %w", k, err)
		}
		c, err := matches(mt.read, n, v, signed)
		if err != nil {
			return Report{}, fmt.Errorf("checkpoint %d (size %d): %w", k, unverified.Size, err)
		}
		if prev != nil {
			if err := consistent(mt, prev, c); err != nil {
				return Report{}, fmt.Errorf("checkpoint %d: not consistent with checkpoint %d: %w", k, k-1, err)
			}
		}
		prev = c
	}

	if stored, err := os.ReadFile(filepath.Join(dir, hashesFile)); err == nil {
		want := mt.nodes[:min(uint64(len(mt.nodes)), uint64(len(stored)))]
		if !bytes.Equal(stored[:len(want)], want) {
			return Report{}, errors.New("hashes file: does not hold the tree of the records (derived: delete it and reopen the log to rebuild it)")
		}
	}
	r := Report{Records: n}
	if prev != nil {
		r.Signed = prev.Size
	}
	for k, signed := range held {
		c, err := matches(mt.read, n, v, signed)
		if err != nil {
			return Report{}, fmt.Errorf("held checkpoint %d: %w: this log is not the one it signed (rolled back, or rewritten)", k+1, err)
		}
		r.Signed = max(r.Signed, c.Size)
	}
	if err := verifyPacks(dir); err != nil {
		return Report{}, err
	}
	return r, nil
}

// matches checks a signed checkpoint against the tree of n records whose
// node hashes read returns: signed by v, of its origin, of a size the log
// holds, with the root of the records up to it. It returns the checkpoint.
func matches(read func(uint64) ([]byte, error), n uint64, v note.Verifier, signed []byte) (*log.Checkpoint, error) {
	nt, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return nil, errors.New("signature does not verify")
	}
	var c log.Checkpoint
	if _, err := c.Unmarshal([]byte(nt.Text)); err != nil {
		return nil, fmt.Errorf("malformed: %w", err)
	}
	if c.Origin != v.Name() {
		return nil, fmt.Errorf("origin %q, want %q", c.Origin, v.Name())
	}
	if c.Size > n {
		return nil, fmt.Errorf("%w (%d)", ErrShort, n)
	}
	root, err := rootAt(read, c.Size)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(root, c.Hash) {
		return nil, ErrRewritten
	}
	return &c, nil
}

// consistent checks the consistency proof between two checkpoints, built
// from the records' tree, with the proof verifier.
func consistent(mt *memTree, a, b *log.Checkpoint) error {
	if b.Size < a.Size {
		return fmt.Errorf("the tree shrank from %d to %d", a.Size, b.Size)
	}
	nodes, err := proof.Consistency(a.Size, b.Size)
	if err != nil {
		return err
	}
	p, err := fetch(mt.read, nodes)
	if err != nil {
		return err
	}
	return proof.VerifyConsistency(rfc6962.DefaultHasher, a.Size, b.Size, p, a.Hash, b.Hash)
}

// ReadProof builds the inclusion proof of record i against the latest
// checkpoint of the log in dir from its files, without opening the log for
// writing.
func ReadProof(dir string, i uint64) ([]byte, error) {
	data, _, err := readCheckpointsTail(filepath.Join(dir, checkpointsFile))
	if err != nil {
		return nil, err
	}
	notes, _, err := SplitCheckpoints(data)
	if err != nil {
		return nil, err
	}
	if len(notes) == 0 {
		return nil, ErrNotCovered
	}
	cp := notes[len(notes)-1]
	c, err := unverifiedCheckpoint(cp)
	if err != nil {
		return nil, err
	}
	if i >= c.Size {
		return nil, ErrNotCovered
	}
	f, err := os.Open(filepath.Join(dir, hashesFile))
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	hashes, err := inclusion(readerAtHashes(f), i, c.Size)
	if err != nil {
		return nil, err
	}
	return FormatProof(i, hashes, nil, cp), nil
}

// ParseIndex parses a record index given on a command line.
func ParseIndex(s string) (uint64, error) {
	i, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("index %q: not a record index", s)
	}
	return i, nil
}

// LatestCheckpointSize returns the tree size of the latest whole checkpoint
// in dir's checkpoints file, read without checking its signature (Check
// does that); false when there is none. The records from that index on are
// signed by no checkpoint the directory holds.
func LatestCheckpointSize(dir string) (uint64, bool, error) {
	data, _, err := readCheckpointsTail(filepath.Join(dir, checkpointsFile))
	if err != nil {
		return 0, false, err
	}
	notes, _, err := SplitCheckpoints(data)
	if err != nil || len(notes) == 0 {
		return 0, false, err
	}
	c, err := unverifiedCheckpoint(notes[len(notes)-1])
	if err != nil {
		return 0, false, fmt.Errorf("latest checkpoint: malformed: %w", err)
	}
	return c.Size, true, nil
}
