package intake

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/signers"
)

// Uploader stores a dossier's files at the treasury under their SHA-256
// before the document that references them is sent. Uploads are idempotent
// by the hash, so a retry, or a crash between an upload and the send, leaves
// nothing behind but a file the treasury already has.
type Uploader interface {
	Upload(ctx context.Context, sum, mediaType string, data []byte) error
}

// AttachmentList is where a dossier lists its files: dinhKem[], each with
// tenTep, loaiTep, kichThuoc and sha256, inside the signed content.
const AttachmentList = "dinhKem"

// FileLimits bound the files one dossier lists (attachments.maxFileBytes
// and attachments.maxTotalBytes): the sizes its signed dinhKem[] gives,
// whether the files come as parts or were uploaded. Zero means no limit.
type FileLimits struct {
	MaxFileBytes  int64 // each listed file
	MaxTotalBytes int64 // the listed files together
	// BatchBytes bounds the uploaded files a submission reads from the
	// store together, in one round trip, when it checks them: files whose
	// listed sizes fit in it; the others are looked up by size and read one
	// at a time when they are sent on (Submission.FileSlot). Zero: 256 KiB.
	BatchBytes int64
}

// defaultBatchBytes is FileLimits.BatchBytes when zero (the default of
// limits.largeBodyBytes, which the adapter passes).
const defaultBatchBytes = 256 << 10

// check refuses a listing over the limits with body-too-large, naming
// each file over the per-file limit, before any file is matched, fetched
// from the store or sent.
func (l FileLimits) check(files []file) error {
	var over []problem.FieldError
	var total int64
	for _, f := range files {
		total += f.ref.KichThuoc
		if l.MaxFileBytes > 0 && f.ref.KichThuoc > l.MaxFileBytes {
			over = append(over, problem.FieldError{Path: pointer(f.index) + "/kichThuoc",
				Message: fmt.Sprintf("%s is listed at %d bytes, over the %d-byte limit of one file", f.ref.TenTep, f.ref.KichThuoc, l.MaxFileBytes)})
		}
	}
	if len(over) > 0 {
		e := problem.New(problem.BodyTooLarge, "A listed file exceeds the configured per-file limit (attachments.maxFileBytes).").
			VI("Một tệp đính kèm được liệt kê vượt quá dung lượng cho phép của một tệp (attachments.maxFileBytes).")
		e.Fields = over
		return e
	}
	if l.MaxTotalBytes > 0 && total > l.MaxTotalBytes {
		e := problem.New(problem.BodyTooLarge, "The listed files together exceed the configured limit (attachments.maxTotalBytes).").
			VI("Tổng dung lượng các tệp đính kèm được liệt kê vượt quá giới hạn cho phép (attachments.maxTotalBytes).")
		e.Fields = []problem.FieldError{{Path: "/" + AttachmentList,
			Message: fmt.Sprintf("the listed files total %d bytes, over the %d-byte limit", total, l.MaxTotalBytes)}}
		return e
	}
	return nil
}

// file is one listed file, and once found, its bytes.
type file struct {
	index int
	ref   dossier.Attachment
	data  []byte // the part's bytes; nil for a stored file
	// stored: the file comes from the attachment store (uploaded before),
	// read only when it is sent on (upload), one file at a time.
	stored bool
}

// listedFiles reads dinhKem[] of a verified value (the definition made sure
// of each member's type).
func listedFiles(v map[string]any) []file {
	list, _ := v[AttachmentList].([]any)
	out := make([]file, 0, len(list))
	for i, it := range list {
		m, _ := it.(map[string]any)
		f := file{index: i}
		f.ref.TenTep, _ = m["tenTep"].(string)
		f.ref.LoaiTep, _ = m["loaiTep"].(string)
		f.ref.SHA256, _ = m["sha256"].(string)
		if n, ok := m["kichThuoc"].(interface{ Int64() (int64, error) }); ok {
			f.ref.KichThuoc, _ = n.Int64()
		}
		out = append(out, f)
	}
	return out
}

// refs are the listed files as the dossier record keeps them.
func refs(files []file) []dossier.Attachment {
	if len(files) == 0 {
		return nil
	}
	out := make([]dossier.Attachment, len(files))
	for i, f := range files {
		out[i] = f.ref
	}
	return out
}

// gatherFiles finds every file the verified dossier lists: in the request's
// parts first, else in the attachment store (uploaded beforehand). A part
// names the file it carries by its Content-ID (the SHA-256, bare or as
// "<sha256>@host") or by its file name (Content-Disposition filename, or
// Content-ID, equal to tenTep); a part that names no listed file so is
// matched by its own hash. A part whose bytes do not hash to, or are not the
// size of, the file it names, or that matches no listed file, is
// attachment-mismatch; a listed file found nowhere is attachment-missing,
// naming each one. A listing over FileLimits is body-too-large before any
// of that. It runs only on a verified dossier. Files that come as
// parts are not kept beyond the request: once the treasury has them they are
// its; a client that wants to retry without them uploads them
// (PUT /v1/attachments/{sha256}).
//
// A validation (send false) only looks the uploaded files up, by size. A
// submission reads those whose listed sizes fit in FileLimits.BatchBytes
// together, at once (each read no further than one byte past its listed
// size, so a wrong listing cannot bring a large file in), and looks the
// others up by size, marked stored: upload reads them one at a time. A
// small dossier listing large uploads does not bring them all into memory
// at once, and one listing small ones costs one round trip to the store.
func (s *Service) gatherFiles(ctx context.Context, sub Submission, v *Verified, send bool, pre prefetched) ([]file, error) {
	files := listedFiles(v.Value)
	if len(files) == 0 && len(sub.Files) == 0 {
		return nil, nil
	}
	if err := s.fileLimits.check(files); err != nil {
		return nil, err
	}
	bySum, byName := map[string]int{}, map[string]int{}
	for i, f := range files {
		bySum[f.ref.SHA256] = i
		if j, listed := byName[f.ref.TenTep]; listed && j != i {
			// Two files listed under one name (two scans both called
			// hop-dong.pdf): the name says neither; the part's own
			// SHA-256 does.
			byName[f.ref.TenTep] = -1
		} else {
			byName[f.ref.TenTep] = i
		}
	}
	var bad []problem.FieldError
	sent := map[string][]byte{} // the bytes a part carried, by SHA-256
	for pi, p := range sub.Files {
		n := pi + 1 // the root is part 0
		sum := attachment.Sum(p.Data)
		var i int
		if named := attachment.SumFromContentID(p.ContentID); named != "" {
			i = lookup(bySum, named)
		} else if i = lookup(byName, p.FileName); i < 0 {
			if i = lookup(byName, p.ContentID); i < 0 {
				i = lookup(bySum, sum)
			}
		}
		if i < 0 {
			bad = append(bad, problem.FieldError{Path: "/" + AttachmentList,
				Message: fmt.Sprintf("part %d (%s) is not a file the dossier lists: its SHA-256 is %s", n, partName(p), sum)})
			continue
		}
		f := &files[i]
		switch {
		case sum != f.ref.SHA256:
			bad = append(bad, problem.FieldError{Path: pointer(i) + "/sha256",
				Message: fmt.Sprintf("part %d (%s) hashes to %s, not the listed %s", n, partName(p), sum, f.ref.SHA256)})
		case int64(len(p.Data)) != f.ref.KichThuoc:
			bad = append(bad, problem.FieldError{Path: pointer(i) + "/kichThuoc",
				Message: fmt.Sprintf("part %d (%s) is %d bytes, not the listed %d", n, partName(p), len(p.Data), f.ref.KichThuoc)})
		default:
			f.data = p.Data
			sent[sum] = p.Data
		}
	}
	if len(bad) > 0 {
		return nil, mismatch(bad)
	}
	read, lookUp := s.readPlan(files, sent, send)
	var got map[string][]byte
	var sizes map[string]int64
	var err error
	switch {
	case len(read) == 0:
	case pre.answers(read):
		got = pre.got
	default:
		if got, err = s.attachments.GetCapped(ctx, read); err != nil {
			return nil, storeDown(err)
		}
	}
	if len(lookUp) > 0 {
		if sizes, err = s.attachments.Sizes(ctx, lookUp); err != nil {
			return nil, storeDown(err)
		}
	}
	var missing []problem.FieldError
	var names []string
	for i := range files {
		f := &files[i]
		if f.data != nil {
			continue
		}
		// The same file listed twice and sent once, else uploaded before.
		data, ok := sent[f.ref.SHA256]
		size := int64(len(data))
		uploaded, stored := !ok, false
		if _, wanted := read[f.ref.SHA256]; uploaded && wanted {
			data, ok = got[f.ref.SHA256]
			size = int64(len(data))
		} else if uploaded {
			size, ok = sizes[f.ref.SHA256]
			stored = true
		}
		if !ok {
			missing = append(missing, problem.FieldError{Path: pointer(i),
				Message: fmt.Sprintf("%s (sha256 %s) is neither in the request nor uploaded to PUT /v1/attachments/%s", f.ref.TenTep, f.ref.SHA256, f.ref.SHA256)})
			names = append(names, f.ref.TenTep)
			continue
		}
		if size != f.ref.KichThuoc {
			// The store holds only files that hash to their name, and a
			// part's bytes were hashed: the listing gives the wrong size.
			how := "uploaded"
			if !uploaded {
				how = "sent"
			}
			is := fmt.Sprintf("is %d bytes", size)
			if _, capped := read[f.ref.SHA256]; uploaded && capped && size > f.ref.KichThuoc {
				is = "is larger" // read no further than one byte past the largest listing
			}
			bad = append(bad, problem.FieldError{Path: pointer(i) + "/kichThuoc",
				Message: fmt.Sprintf("the %s file %s %s, not the listed %d", how, f.ref.SHA256, is, f.ref.KichThuoc)})
			continue
		}
		f.data, f.stored = data, stored
	}
	if len(bad) > 0 {
		return nil, mismatch(bad)
	}
	if len(missing) > 0 {
		e := problem.New(problem.AttachmentMissing, "Attachments missing: "+strings.Join(names, ", ")+".").
			VI("Thiếu tệp đính kèm: " + strings.Join(names, ", ") + ".")
		e.Fields = missing
		return nil, e
	}
	return files, nil
}

// readPlan says how gatherFiles finds the listed files not in the request
// (sent: the bytes the request's parts carried, by SHA-256): read lists
// those it reads at once, each up to the larger of its listed sizes (a
// submission's, while their sizes fit in FileLimits.BatchBytes together);
// lookUp those it looks up by size. A malformed hash, which the schemas
// refuse before this, is in neither: it is missing.
func (s *Service) readPlan(files []file, sent map[string][]byte, send bool) (read map[string]int64, lookUp []string) {
	listed := map[string]int64{}
	var order []string
	for i := range files {
		if f := &files[i]; f.data == nil && sent[f.ref.SHA256] == nil && attachment.ValidSum(f.ref.SHA256) {
			if n, ok := listed[f.ref.SHA256]; !ok {
				order = append(order, f.ref.SHA256)
			} else if n >= f.ref.KichThuoc {
				continue
			}
			listed[f.ref.SHA256] = f.ref.KichThuoc
		}
	}
	read = map[string]int64{}
	budget := s.fileLimits.BatchBytes
	if budget <= 0 {
		budget = defaultBatchBytes
	}
	for _, sum := range order {
		if n := listed[sum]; send && n <= budget {
			read[sum], budget = n, budget-n
		} else {
			lookUp = append(lookUp, sum)
		}
	}
	return read, lookUp
}

// foldingStart is a records store whose reservation (Start's) can fold
// into its own round trip the check of the signers' registrations
// (signers.Store.FirstMissing on reg: when want[i] is the first
// registration unit lacks it returns i and begins nothing; else -1, and -1
// with an error) and the reads of uploaded files, as
// attachment.Store.GetCapped on files would, once it holds the dossier's
// lock (got; nil when it did not read them): redisstore.Store.
type foldingStart interface {
	StartReading(ctx context.Context, files attachment.Store, read map[string]int64, reg signers.Store, unit string, want []signers.Registration,
		key, fingerprint string, lease time.Duration, dossier, owner, lockID string) (_ idempotency.Started, missing int, got map[string][]byte, _ error)
}

// prefetched are uploaded files read before gatherFiles asked for them:
// got, as GetCapped answered read.
type prefetched struct {
	read map[string]int64
	got  map[string][]byte
}

// answers reports whether p holds GetCapped's answer to read.
func (p prefetched) answers(read map[string]int64) bool {
	return p.got != nil && maps.Equal(p.read, read)
}

// maxPrefetchBytes bounds the files a reservation reads (toPrefetch): they
// travel in its script's reply, and Redis runs nothing else while the
// script copies them. A batch over it (FileLimits.BatchBytes may be set
// far higher) is read by the send, as before.
const maxPrefetchBytes = 1 << 20

// toPrefetch is what a submission's gatherFiles will read at once from the
// store, for the reservation to read in its own round trip (foldingStart):
// nil when the request carries files of its own (their hashes are
// gatherFiles' to take), the listing is one gatherFiles refuses, or the
// reads come to more than maxPrefetchBytes.
func (s *Service) toPrefetch(sub Submission, v *Verified) map[string]int64 {
	if len(sub.Files) > 0 {
		return nil
	}
	files := listedFiles(v.Value)
	if len(files) == 0 || s.fileLimits.check(files) != nil {
		return nil
	}
	read, _ := s.readPlan(files, nil, true)
	var total int64
	for _, n := range read {
		total += n
	}
	if total > maxPrefetchBytes {
		return nil
	}
	return read
}

// fileSlot lets the request hold the largest of the files gatherFiles left
// stored (read one at a time when they are sent on): sub.FileSlot's slot,
// or its error (server-busy) to answer. The func it returns gives the slot
// back; it may be called more than once.
func (s *Service) fileSlot(ctx context.Context, sub Submission, files []file) (func(), error) {
	largest := int64(-1)
	for _, f := range files {
		if f.stored {
			largest = max(largest, f.ref.KichThuoc)
		}
	}
	if largest < 0 || sub.FileSlot == nil {
		return func() {}, nil
	}
	release, err := sub.FileSlot(ctx, largest)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(release) }, nil
}

// upload stores every listed file at the treasury, in the dossier's order.
// A stored file is read from the attachment store just before it is sent on
// and let go after, so that a request holds one such file at a time (in the
// slot fileSlot took). A stored file gone since gatherFiles looked it up
// (its retention ended) is attachment-missing, as if it had been missing
// then.
func (s *Service) upload(ctx context.Context, files []file) error {
	if len(files) == 0 {
		return nil
	}
	if s.uploader == nil {
		return problem.Wrap(problem.Internal, errors.New("intake: a dossier lists attachments but no uploader is configured"), "")
	}
	for _, f := range files {
		data := f.data
		if f.stored {
			var err error
			if data, err = s.storedFile(ctx, f); err != nil {
				return err
			}
		}
		if err := s.uploader.Upload(ctx, f.ref.SHA256, f.ref.LoaiTep, data); err != nil {
			return err
		}
	}
	return nil
}

// inline puts files, when their listed sizes together fit in
// s.inlineBytes and their bytes are at hand (none of them left in the
// store to be read one at a time: stored; none empty), in the content members of
// req's attachments[] (every entry that names one by its SHA-256): the
// document carries them, in its one round trip, instead of one upload
// each. It returns the files left to upload: all of them when it put none
// there (too large together, one not at hand, or one the mapping does not
// list), none when it did.
func (s *Service) inline(req map[string]any, files []file) []file {
	if s.inlineBytes <= 0 || len(files) == 0 {
		return files
	}
	var total int64
	bySum := make(map[string][]byte, len(files))
	for _, f := range files {
		total += f.ref.KichThuoc
		if f.stored || f.ref.KichThuoc == 0 || total > s.inlineBytes {
			return files // an empty file's content would read as none: uploaded
		}
		bySum[f.ref.SHA256] = f.data
	}
	listed, _ := req["attachments"].([]any)
	var entries []map[string]any
	named := make(map[string]bool, len(bySum))
	for _, e := range listed {
		m, _ := e.(map[string]any)
		sum, _ := m["sha256"].(string)
		if _, ok := bySum[sum]; ok {
			entries = append(entries, m)
			named[sum] = true
		}
	}
	if len(named) != len(bySum) {
		return files
	}
	for _, m := range entries {
		m["content"] = base64.StdEncoding.EncodeToString(bySum[m["sha256"].(string)])
	}
	return nil
}

// storedFile reads a stored file that gatherFiles found, of its listed size.
func (s *Service) storedFile(ctx context.Context, f file) ([]byte, error) {
	data, err := s.attachments.Get(ctx, f.ref.SHA256)
	switch {
	case errors.Is(err, attachment.ErrNotFound):
		e := problem.New(problem.AttachmentMissing, "Attachments missing: "+f.ref.TenTep+" (its upload expired while the dossier was sent).").
			VI("Thiếu tệp đính kèm: " + f.ref.TenTep + " (tệp đã tải lên hết hạn lưu giữ trong khi gửi hồ sơ).")
		e.Fields = []problem.FieldError{{Path: pointer(f.index),
			Message: fmt.Sprintf("%s (sha256 %s) is no longer uploaded: upload it again to PUT /v1/attachments/%s", f.ref.TenTep, f.ref.SHA256, f.ref.SHA256)}}
		return nil, e
	case err != nil:
		return nil, storeDown(err)
	case int64(len(data)) != f.ref.KichThuoc:
		// The store holds only files that hash to their name, and its size
		// was checked: a store that answers otherwise is broken.
		return nil, problem.Wrap(problem.Internal, fmt.Errorf("intake: stored file %s is %d bytes, was %d", f.ref.SHA256, len(data), f.ref.KichThuoc), "")
	}
	return data, nil
}

func lookup(m map[string]int, k string) int {
	if i, ok := m[k]; ok {
		return i
	}
	return -1
}

func pointer(i int) string { return "/" + AttachmentList + "/" + strconv.Itoa(i) }

// partName says which part a message is about: its Content-ID or file name.
func partName(p attachment.Part) string {
	switch {
	case p.ContentID != "":
		return "Content-ID <" + p.ContentID + ">"
	case p.FileName != "":
		return "filename " + strconv.Quote(p.FileName)
	}
	return "no Content-ID"
}

func mismatch(fields []problem.FieldError) error {
	e := problem.New(problem.AttachmentMismatch, "A file sent with the dossier does not match the file it lists (SHA-256 or size).").
		VI("Tệp gửi kèm không khớp với tệp hồ sơ liệt kê (mã băm SHA-256 hoặc kích thước).")
	e.Fields = fields
	return e
}
