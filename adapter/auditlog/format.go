package auditlog

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// The checkpoints file holds every checkpoint the log published, oldest
// first, each a signed note (C2SP tlog-checkpoint) followed by one empty
// line:
//
//	<origin> LF <size> LF <base64 root hash> LF
//	LF
//	— <key name> <base64 signature> LF     (one or more)
//	LF

// SplitCheckpoints cuts the contents of a checkpoints file into its signed
// notes. complete is the length of the prefix made of whole checkpoints. A
// tail that is the beginning of a checkpoint (a torn write) is not an error:
// it is left after complete. Anything else that is not a checkpoint is an
// error naming the checkpoint (1-based) where it starts.
func SplitCheckpoints(data []byte) (notes [][]byte, complete int, err error) {
	pos := 0
	for pos < len(data) {
		n, ok, bad := nextCheckpoint(data[pos:])
		if bad != nil {
			return notes, pos, fmt.Errorf("checkpoint %d: %w", len(notes)+1, bad)
		}
		if !ok {
			return notes, pos, nil
		}
		notes = append(notes, data[pos:pos+n-1])
		pos += n
	}
	return notes, pos, nil
}

// checkpointsTail is how much of the end of the checkpoints file Open
// reads: many checkpoints (each well under 1 KiB), the latest whole among
// them.
const checkpointsTail = 64 << 10

// readCheckpointsTail returns the end of the checkpoints file at path from
// the first whole checkpoint in its last checkpointsTail bytes (the whole
// file when it is shorter), and where that is in the file; nothing when the
// file does not exist.
func readCheckpointsTail(path string) ([]byte, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	at := max(fi.Size()-checkpointsTail, 0)
	data := make([]byte, fi.Size()-at)
	n, err := f.ReadAt(data, at)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	data = data[:n]
	if at == 0 {
		return data, 0, nil
	}
	// A checkpoint starts after the blank line that ends the one before:
	// the first place after a blank line where one whole checkpoint reads.
	// From there the caller splits the rest, and damage after it is its
	// error, not skipped.
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte("\n\n"))
		if j < 0 {
			return nil, 0, fmt.Errorf("auditlog: %s: no whole checkpoint in its last %d bytes", path, checkpointsTail)
		}
		i += j + 2
		if _, ok, bad := nextCheckpoint(data[i:]); ok && bad == nil {
			return data[i:], at + int64(i), nil
		}
	}
}

// nextCheckpoint returns the length of the checkpoint at the start of data,
// separator included. ok is false when data ends before the checkpoint does.
func nextCheckpoint(data []byte) (n int, ok bool, bad error) {
	pos := 0
	line := func() ([]byte, bool) {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			return nil, false
		}
		l := data[pos : pos+i]
		pos += i + 1
		return l, true
	}
	for i, what := range []string{"origin", "tree size", "root hash"} {
		l, whole := line()
		if !whole {
			return 0, false, nil
		}
		if len(l) == 0 {
			return 0, false, fmt.Errorf("empty %s line", what)
		}
		switch i {
		case 1:
			if _, err := strconv.ParseUint(string(l), 10, 64); err != nil || (len(l) > 1 && l[0] == '0') {
				return 0, false, errors.New("malformed tree size")
			}
		case 2:
			if h, err := base64.StdEncoding.DecodeString(string(l)); err != nil || len(h) != 32 {
				return 0, false, errors.New("malformed root hash")
			}
		}
	}
	l, whole := line()
	if !whole {
		return 0, false, nil
	}
	if len(l) != 0 {
		return 0, false, errors.New("no blank line after the root hash")
	}
	sigs := 0
	for {
		l, whole := line()
		if !whole {
			return 0, false, nil
		}
		if len(l) == 0 {
			if sigs == 0 {
				return 0, false, errors.New("no signature")
			}
			return pos, true, nil
		}
		if !strings.HasPrefix(string(l), "— ") {
			return 0, false, errors.New("malformed signature line")
		}
		sigs++
	}
}

const proofHeader = "c2sp.org/tlog-proof@v1"

// FormatProof writes an inclusion proof in the C2SP tlog-proof format:
// the header line, "extra" when extra is not empty, "index N", the proof
// hashes in base64 one a line, an empty line, then the signed checkpoint.
func FormatProof(index uint64, hashes [][]byte, extra []byte, checkpoint []byte) []byte {
	var b bytes.Buffer
	b.WriteString(proofHeader + "\n")
	if len(extra) > 0 {
		b.WriteString("extra " + base64.StdEncoding.EncodeToString(extra) + "\n")
	}
	b.WriteString("index " + strconv.FormatUint(index, 10) + "\n")
	for _, h := range hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(checkpoint)
	return b.Bytes()
}

// Proof is a parsed tlog-proof. Checkpoint is the signed note, unverified.
type Proof struct {
	Extra      []byte
	Index      uint64
	Hashes     [][]byte
	Checkpoint []byte
}

// ParseProof parses a C2SP tlog-proof. It checks the shape only; the
// checkpoint's signature and the inclusion are the verifier's to check.
func ParseProof(data []byte) (Proof, error) {
	var p Proof
	rest := data
	next := func() (string, error) {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return "", errors.New("tlog-proof: truncated")
		}
		l := string(rest[:i])
		rest = rest[i+1:]
		return l, nil
	}
	l, err := next()
	if err != nil {
		return p, err
	}
	if l != proofHeader {
		return p, fmt.Errorf("tlog-proof: first line is not %q", proofHeader)
	}
	if l, err = next(); err != nil {
		return p, err
	}
	if v, ok := strings.CutPrefix(l, "extra "); ok {
		if p.Extra, err = base64.StdEncoding.Strict().DecodeString(v); err != nil || len(p.Extra) == 0 {
			return p, errors.New("tlog-proof: malformed extra line")
		}
		if l, err = next(); err != nil {
			return p, err
		}
	}
	v, ok := strings.CutPrefix(l, "index ")
	if !ok {
		return p, errors.New("tlog-proof: no index line")
	}
	if p.Index, err = strconv.ParseUint(v, 10, 64); err != nil || (len(v) > 1 && v[0] == '0') {
		return p, errors.New("tlog-proof: malformed index")
	}
	for {
		if l, err = next(); err != nil {
			return p, err
		}
		if l == "" {
			break
		}
		if len(p.Hashes) == 64 {
			return p, errors.New("tlog-proof: more than 64 hashes")
		}
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != 32 {
			return p, fmt.Errorf("tlog-proof: malformed hash on line %d", len(p.Hashes)+1)
		}
		p.Hashes = append(p.Hashes, h)
	}
	if len(rest) == 0 {
		return p, errors.New("tlog-proof: no checkpoint")
	}
	p.Checkpoint = rest
	return p, nil
}
