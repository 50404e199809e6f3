package treasurysim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
)

// ReasonAttachmentMissing refuses a document that references an attachment the treasury was
// never given (PUT /api/v1/attachments/{sha256} comes first, or the document carries it in
// the attachment's content member).
const ReasonAttachmentMissing = "TEP_DINH_KEM_KHONG_TON_TAI"

// defaultMaxAttachmentBytes bounds one uploaded file when Options.MaxAttachmentBytes is zero.
const defaultMaxAttachmentBytes = 64 << 20

var sumPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Attachment is one file the simulator holds, as GET /sim/attachments lists it.
type Attachment struct {
	SHA256    string `json:"sha256"`
	MediaType string `json:"mediaType"`
	Size      int    `json:"size"`
	// Uploads counts the PUTs of this file and the documents accepted that
	// carried it (attachments[].content; not their replays), the first
	// included.
	Uploads int `json:"uploads"`
}

// files keeps the uploaded attachments by SHA-256.
type files struct {
	mu    sync.Mutex
	data  map[string][]byte
	meta  map[string]*Attachment
	order []string
}

func newFiles() *files { return &files{data: map[string][]byte{}, meta: map[string]*Attachment{}} }

// put stores data under sum; false when it was there already.
func (f *files) put(sum, mediaType string, data []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.meta[sum]; ok {
		m.Uploads++
		return false
	}
	f.data[sum] = data
	f.meta[sum] = &Attachment{SHA256: sum, MediaType: mediaType, Size: len(data), Uploads: 1}
	f.order = append(f.order, sum)
	return true
}

func (f *files) get(sum string) ([]byte, *Attachment, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.meta[sum]
	if !ok {
		return nil, nil, false
	}
	c := *m
	return f.data[sum], &c, true
}

// missing returns the first referenced attachment the simulator does not hold with that
// size, nor the document carries, or "".
func (f *files) missing(refs []requestAttachment) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range refs {
		if r.Content != "" {
			continue
		}
		if m, ok := f.meta[r.SHA256]; !ok || int64(m.Size) != r.Size {
			return r.SHA256
		}
	}
	return ""
}

func (f *files) list() []Attachment {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Attachment, 0, len(f.order))
	for _, s := range f.order {
		out = append(out, *f.meta[s])
	}
	return out
}

// requestAttachment is one attachment a SendDocument request references.
type requestAttachment struct {
	SHA256    string `json:"sha256"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	// Content is the file itself in base64, instead of its upload.
	Content string `json:"content,omitempty"`
}

// carried is a file a document carries in its attachment's content
// member, checked.
type carried struct {
	ref  *requestAttachment
	data []byte
}

// carriedFiles decodes and checks the files a document carries in its
// attachments' content members: a file that does not decode to its size
// and hash is 422 ATTACHMENT_HASH_MISMATCH (400 when it is not base64).
// Nothing is stored here: putCarried stores them once the document is
// accepted.
func carriedFiles(refs []requestAttachment) ([]carried, *refusal) {
	var out []carried
	for i := range refs {
		r := &refs[i]
		if r.Content == "" {
			continue
		}
		data, err := base64.StdEncoding.DecodeString(r.Content)
		if err != nil {
			return nil, invalid(fmt.Sprintf("attachments[%d].content is not base64", i))
		}
		if got := sumHex(data); got != r.SHA256 || int64(len(data)) != r.Size {
			return nil, refuse422(ReasonHashMismatch, "attachments[%d].content is %d bytes hashing to %s, not %d bytes hashing to %s", i, len(data), got, r.Size, r.SHA256)
		}
		out = append(out, carried{r, data})
	}
	return out, nil
}

// putCarried stores the files a new document carried, as their uploads
// would (a file held already counts one more upload; a file the document
// lists twice, one).
func (f *files) putCarried(cs []carried) {
	seen := make(map[string]bool, len(cs))
	for _, c := range cs {
		if !seen[c.ref.SHA256] {
			seen[c.ref.SHA256] = true
			f.put(c.ref.SHA256, c.ref.MediaType, c.data)
		}
	}
}

// sumHex is data's SHA-256 in lower-case hex, as the contract names files
// and bodies.
func sumHex(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// putAttachment handles PUT /api/v1/attachments/{sha256}: 201 for a new file, 200 for one
// held already (idempotent by the hash), 422 ATTACHMENT_HASH_MISMATCH when the body does not
// hash to the path, 400 for a malformed hash or an oversized body.
func (s *Sim) putAttachment(w http.ResponseWriter, r *http.Request) {
	sum := r.PathValue("sha256")
	if !sumPattern.MatchString(sum) {
		writeRefusal(w, invalid("the path must end in the lower-case hex SHA-256 of the body"))
		return
	}
	limit := s.opts.MaxAttachmentBytes
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		msg := "cannot read body"
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			msg = fmt.Sprintf("attachment larger than %d bytes", limit)
		}
		writeRefusal(w, invalid(msg))
		return
	}
	if got := sumHex(data); got != sum {
		writeRefusal(w, refuse422(ReasonHashMismatch, "the body hashes to %s, not %s", got, sum))
		return
	}
	mt := r.Header.Get("Content-Type")
	if mt == "" {
		mt = "application/octet-stream"
	}
	code := http.StatusOK
	if s.files.put(sum, mt, data) {
		code = http.StatusCreated
		s.log.Info("treasury-sim: attachment stored", "sha256", sum, "size", len(data), "mediaType", mt)
	}
	writeJSON(w, code, map[string]any{"sha256": sum, "size": len(data)})
}

// ReasonHashMismatch refuses an upload whose body does not hash to its path.
const ReasonHashMismatch = "ATTACHMENT_HASH_MISMATCH"

// getAttachment handles GET /sim/attachments/{sha256}: the file's bytes, for testers.
func (s *Sim) getAttachment(w http.ResponseWriter, r *http.Request) {
	data, m, ok := s.files.get(r.PathValue("sha256"))
	if !ok {
		writeRefusal(w, &refusal{status: http.StatusNotFound, ReasonCode: ReasonNotFound, Message: "no such attachment"})
		return
	}
	w.Header().Set("Content-Type", m.MediaType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// Attachments returns every stored attachment in arrival order (GET /sim/attachments).
func (s *Sim) Attachments() []Attachment { return s.files.list() }

// AttachmentData returns the bytes stored under sum.
func (s *Sim) AttachmentData(sum string) ([]byte, bool) {
	data, _, ok := s.files.get(sum)
	return data, ok
}
