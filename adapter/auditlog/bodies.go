package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Received bodies are archived in packs beside the segments, one pack per
// segment: bodies/<first index, 20 digits>.pack holds the bodies of the
// records of segments/<first index>.log, each once, as entries
//
//	<sha256 hex> <length>\n<length bytes of the body>\n
//
// A pack is appended in the log's group commit, with the same batch as the
// records and fsynced before them, so a body is durable before its record
// and costs one write shared with the batch instead of a file of its own
// (creating, fsyncing and renaming a file per body cost more than the rest
// of the log together). The archive is content-addressed: FindBody and
// ReadBody look a body up by its SHA-256, and every entry names its hash so
// that Verify checks it. A pack is sealed (read-only) with its segment and
// removed with it.
const packExt = ".pack"

func packName(first uint64) string { return fmt.Sprintf("%020d%s", first, packExt) }

// packPath is where the bodies of the segment starting at first go.
func packPath(dir string, first uint64) string {
	return filepath.Join(dir, bodiesDir, packName(first))
}

// maxPackHeader bounds a pack entry's header line: 64 hex digits, a space,
// at most 20 digits and the newline.
const maxPackHeader = 64 + 1 + 20 + 1

// appendPackHeader appends the header line of a pack entry for body.
func appendPackHeader(dst []byte, sum *[sha256.Size]byte, n int) []byte {
	dst = hex.AppendEncode(dst, sum[:])
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\n')
}

// PackEntry is one body of a pack: its SHA-256 (lower-case hex) and where
// its bytes sit in the pack file.
type PackEntry struct {
	SHA256 string
	Offset int64 // of the body's first byte
	Length int64
}

var errTornPack = errors.New("torn last entry")

// scanPack parses a pack's entries. It returns the entries that are whole,
// the length of the data they take, and an error for anything after them:
// errTornPack when the data ends inside an entry (what a crash mid-write
// leaves), another error when an entry is malformed or a body does not hash
// to its name.
func scanPack(data []byte) ([]PackEntry, int64, error) {
	var out []PackEntry
	pos := 0
	for pos < len(data) {
		nl := bytes.IndexByte(data[pos:min(len(data), pos+maxPackHeader)], '\n')
		if nl < 0 {
			if len(data)-pos < maxPackHeader {
				return out, int64(pos), errTornPack
			}
			return out, int64(pos), fmt.Errorf("offset %d: not a pack entry header", pos)
		}
		sum, size, ok := strings.Cut(string(data[pos:pos+nl]), " ")
		n, err := strconv.ParseInt(size, 10, 64)
		if !ok || !isHexSHA256(sum) || err != nil || n < 0 || size != strconv.FormatInt(n, 10) {
			return out, int64(pos), fmt.Errorf("offset %d: not a pack entry header", pos)
		}
		start := pos + nl + 1
		if n > int64(len(data)-start-1) { // the body and its newline run past the end
			return out, int64(pos), errTornPack
		}
		end := start + int(n)
		if data[end] != '\n' {
			return out, int64(pos), fmt.Errorf("offset %d: body of %s does not end where its header says", pos, sum)
		}
		if got := sha256.Sum256(data[start:end]); hex.EncodeToString(got[:]) != sum {
			return out, int64(pos), fmt.Errorf("offset %d: body %s: content does not match its SHA-256", pos, sum)
		}
		out = append(out, PackEntry{SHA256: sum, Offset: int64(start), Length: n})
		pos = end + 1
	}
	return out, int64(pos), nil
}

// listPacks returns the pack files of the log in dir, oldest first.
func listPacks(dir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(dir, bodiesDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), packExt); ok && !e.IsDir() && len(name) == 20 {
			out = append(out, filepath.Join(dir, bodiesDir, e.Name()))
		}
	}
	slices.Sort(out) // fixed-width names: lexical is numeric
	return out, nil
}

// packRecovery is what recoverPack found of the active pack.
type packRecovery struct {
	size    int64  // the pack's length after recovery
	dropped int64  // the length of the torn tail dropped, 0 when none
	kept    string // where the dropped tail is kept (dropped/)
	created bool   // the pack was missing and was created empty
	// lastMissing: a tail was dropped, and the body of the segment's last
	// durable record is not whole before it (see recoverPack).
	lastMissing bool
}

// recoverPack prepares the pack of the active segment: created when
// missing, a torn last entry dropped (kept first in dropped/, as a
// segment's). A pack damaged before its last entry refuses the open, as a
// damaged segment does. A torn tail holds only a body whose record was
// never written (the pack is fsynced before the records): named is asked
// whether a durable record names a body, and a tail that holds the
// SHA-256 of such a body, not found whole before it, is damage (a length
// misread in the middle of the pack), not a tear: it refuses the open
// rather than drop bodies whose records are durable.
//
// last is the body SHA-256 of the active segment's last durable record
// ("" when it has none). When a tail is dropped and that body is not among
// the whole entries before it, nor a body file of its own, lastMissing is
// set: with bodies archived when the record was written (the pack is synced
// before its batch's records) the damage reached a durable body whose
// header the tail no longer shows; without (evidence.archiveBodies switched
// on since), it is a plain tear. The records cannot say which, so the open
// goes on (the tail is kept in dropped/, the bytes of such a body with it)
// and the caller says so, rather than keep the adapter down.
func recoverPack(path string, named func(sha string) bool, last string) (packRecovery, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			return packRecovery{}, err
		}
		return packRecovery{created: true}, syncDir(filepath.Dir(path))
	}
	if err != nil {
		return packRecovery{}, err
	}
	ents, good, err := scanPack(data)
	if err == nil {
		return packRecovery{size: good}, nil
	}
	// Zeros that a power loss left unwritten (unwrittenFrom) after the
	// whole entries begin a tear, as in a segment (bodies are not text: the
	// first zero byte must line up as unwritten blocks do).
	if !errors.Is(err, errTornPack) && !unwrittenFrom(data, int(good), len(data)) {
		return packRecovery{}, fmt.Errorf("auditlog: %s: %w", path, err)
	}
	whole := make(map[string]bool, len(ents))
	for _, e := range ents {
		whole[e.SHA256] = true
	}
	r := packRecovery{size: good, dropped: int64(len(data)) - good}
	if last != "" && !whole[last] {
		if _, err := os.Stat(filepath.Join(filepath.Dir(path), last)); err != nil {
			r.lastMissing = true
		}
	}
	tail := data[good:]
	for i := 0; i+64 < len(tail); i++ {
		if i > 0 && tail[i-1] != '\n' {
			continue
		}
		if sha := string(tail[i : i+64]); tail[i+64] == ' ' && isHexSHA256(sha) && !whole[sha] && named(sha) {
			return packRecovery{}, fmt.Errorf("auditlog: %s: offset %d: body %s, named by a durable record, is cut short: the pack is damaged, not torn", path, good+int64(i), sha)
		}
	}
	if r.kept, err = dropTail(filepath.Dir(filepath.Dir(path)), path, data, good); err != nil {
		return packRecovery{}, err
	}
	return r, nil
}

// verifyPacks checks every pack of the log in dir: each entry well formed
// and its body hashing to the SHA-256 it is filed under. Bodies archived
// as files of their own (bodies/<sha256 hex>, the layout before packs) are
// checked too.
func verifyPacks(dir string) error {
	ents, err := os.ReadDir(filepath.Join(dir, bodiesDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(dir, bodiesDir, name)
		switch {
		case strings.HasPrefix(name, ".tmp-"):
		case strings.HasSuffix(name, packExt) && !e.IsDir():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if _, _, err := scanPack(data); err != nil {
				return fmt.Errorf("body pack %s: %w", name, err)
			}
		case isHexSHA256(name) && !e.IsDir():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if BodyHash(b) != name {
				return fmt.Errorf("body %s: content does not match its SHA-256", name)
			}
		default:
			return fmt.Errorf("body %s: neither a body pack nor a body name", name)
		}
	}
	return nil
}

// CheckBodies checks that every record of the log in dir has its body
// archived: in its own segment's pack (AppendBody and AppendHashed archive
// each body in the active segment's pack, again in each segment), or as a
// body file of the layout before packs. It is for a log written with
// evidence.archiveBodies on since its first record: Check cannot tell a
// pack emptied or removed while its segment stayed from a log that never
// archived bodies (both leave records with no body beside them). It names
// the first record whose body is missing.
func CheckBodies(dir string) error {
	segs, err := listSegments(dir)
	if err != nil {
		return err
	}
	for _, s := range segs {
		p := packPath(dir, s.first)
		pack, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		ents, _, err := scanPack(pack)
		if err != nil && !errors.Is(err, errTornPack) {
			return fmt.Errorf("body pack %s: %w", filepath.Base(p), err)
		}
		held := make(map[string]bool, len(ents))
		for _, e := range ents {
			held[e.SHA256] = true
		}
		data, err := os.ReadFile(s.path)
		if err != nil {
			return err
		}
		lines, _, _ := scanSegment(data, s.first) // a damaged segment is Check's to name
		for _, ln := range lines {
			r, err := ParseLeaf(ln.Leaf)
			if err != nil {
				return fmt.Errorf("record %d: %w", ln.Index, err)
			}
			if held[r.BodySHA256] {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, bodiesDir, r.BodySHA256)); err == nil {
				continue
			}
			return fmt.Errorf("record %d: its body %s is not archived (%s holds %d bodies: emptied or removed while its segment stayed?)",
				ln.Index, r.BodySHA256, filepath.Join(bodiesDir, filepath.Base(p)), len(ents))
		}
	}
	return nil
}

// BodyLocation is where an archived body is: a pack and the body's place
// in it, or (Offset 0, the whole file) a body file of the layout before
// packs.
type BodyLocation struct {
	Path   string
	Offset int64
	Length int64
}

func (b BodyLocation) String() string {
	return fmt.Sprintf("%s at offset %d, %d bytes", b.Path, b.Offset, b.Length)
}

// FindBody returns where the body with that hex SHA-256 is archived in the
// log in dir (reading every pack: an offline lookup), and whether it is
// there.
func FindBody(dir, sha string) (BodyLocation, bool, error) {
	if !isHexSHA256(sha) {
		return BodyLocation{}, false, nil
	}
	idx, err := IndexBodies(dir)
	if err != nil {
		return BodyLocation{}, false, err
	}
	loc, ok := idx[sha]
	return loc, ok, nil
}

// IndexBodies maps the SHA-256 of every body archived in the log in dir to
// where it is (the first copy, when a body was archived again later).
func IndexBodies(dir string) (map[string]BodyLocation, error) {
	idx := map[string]BodyLocation{}
	packs, err := listPacks(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range packs {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		ents, _, err := scanPack(data)
		if err != nil && !errors.Is(err, errTornPack) {
			return nil, fmt.Errorf("body pack %s: %w", filepath.Base(p), err)
		}
		for _, e := range ents {
			if _, ok := idx[e.SHA256]; !ok {
				idx[e.SHA256] = BodyLocation{Path: p, Offset: e.Offset, Length: e.Length}
			}
		}
	}
	ents, err := os.ReadDir(filepath.Join(dir, bodiesDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		if _, ok := idx[e.Name()]; ok || e.IsDir() || !isHexSHA256(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			idx[e.Name()] = BodyLocation{Path: filepath.Join(dir, bodiesDir, e.Name()), Length: fi.Size()}
		}
	}
	return idx, nil
}

// ReadBody returns the exact bytes of an archived body, checked against
// its SHA-256.
func ReadBody(loc BodyLocation, sha string) ([]byte, error) {
	f, err := os.Open(loc.Path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	b := make([]byte, loc.Length)
	if _, err := io.ReadFull(io.NewSectionReader(f, loc.Offset, loc.Length), b); err != nil {
		return nil, fmt.Errorf("%s: %w", loc, err)
	}
	if BodyHash(b) != sha {
		return nil, fmt.Errorf("%s: content does not match its SHA-256", loc)
	}
	return b, nil
}

// recentBodies remembers the SHA-256 of the last bodies written to the
// active pack, so that the same body logged twice in a short time (a
// submission's received and accepted records, a replay) is stored once.
// A body seen again after it left the window is stored again: harmless.
type recentBodies struct {
	seen map[[sha256.Size]byte]struct{}
	ring [][sha256.Size]byte
	next int
}

const recentBodiesWindow = 4096

func (r *recentBodies) has(sum [sha256.Size]byte) bool {
	_, ok := r.seen[sum]
	return ok
}

func (r *recentBodies) add(sum [sha256.Size]byte) {
	if r.seen == nil {
		r.seen = make(map[[sha256.Size]byte]struct{}, recentBodiesWindow)
		r.ring = make([][sha256.Size]byte, recentBodiesWindow)
	}
	if len(r.seen) == recentBodiesWindow {
		delete(r.seen, r.ring[r.next])
	}
	r.ring[r.next] = sum
	r.seen[sum] = struct{}{}
	r.next = (r.next + 1) % recentBodiesWindow
}

// reset forgets every body: a new pack starts empty.
func (r *recentBodies) reset() {
	clear(r.seen)
	r.next = 0
}
