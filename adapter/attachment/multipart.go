package attachment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strings"
)

// Part is one part of a multipart/related request: the signed dossier (the
// root) or one file.
type Part struct {
	ContentType string // the part's Content-Type, as sent ("" when absent)
	// ContentID is the part's Content-ID without its angle brackets.
	ContentID string
	// FileName is the filename parameter of its Content-Disposition.
	FileName string
	Data     []byte
}

// PartLimits bound what ReadRelated reads. Zero means no limit.
type PartLimits struct {
	MaxParts      int   // files, the root not counted
	MaxRootBytes  int64 // the signed dossier
	MaxFileBytes  int64 // each file
	MaxTotalBytes int64 // all files together
}

// Errors of ReadRelated, so that the caller can answer each one.
var (
	// ErrMalformed: not a multipart/related body this reader accepts.
	ErrMalformed = errors.New("attachment: malformed multipart/related body")
	// ErrTooManyParts: more files than PartLimits.MaxParts.
	ErrTooManyParts = errors.New("attachment: too many parts")
	// ErrRootTooLarge: the signed dossier exceeds PartLimits.MaxRootBytes.
	ErrRootTooLarge = errors.New("attachment: the signed dossier part is larger than the body limit")
	// ErrTotalTooLarge: the files together exceed PartLimits.MaxTotalBytes.
	ErrTotalTooLarge = errors.New("attachment: the files together are larger than the total limit")
)

// IsRelated reports whether contentType is multipart/related.
func IsRelated(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "multipart/related"
}

// ReadRelated reads a multipart/related body (RFC 2387) whose Content-Type is
// contentType: the first part is the root, the signed dossier with its own
// Content-Type (else the type parameter's); every other part is a file. When the start parameter is
// given it must name the first part's Content-ID. Parts are read as sent
// (Content-Transfer-Encoding binary, 8bit or 7bit, or none); anything else
// is malformed. The limits are checked while reading, so an oversized part
// is never held whole.
func ReadRelated(r io.Reader, contentType string, l PartLimits) (root Part, files []Part, err error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/related" {
		return root, nil, fmt.Errorf("%w: content type %q", ErrMalformed, contentType)
	}
	boundary := params["boundary"]
	if boundary == "" {
		return root, nil, fmt.Errorf("%w: no boundary parameter", ErrMalformed)
	}
	mr := multipart.NewReader(r, boundary)
	var total int64
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return root, nil, fmt.Errorf("%w: part %d: %w", ErrMalformed, i, err)
		}
		part, err := readHeader(p)
		if err != nil {
			return root, nil, fmt.Errorf("%w: part %d: %w", ErrMalformed, i, err)
		}
		if i > 0 && l.MaxParts > 0 && len(files) >= l.MaxParts {
			return root, nil, fmt.Errorf("%w (limit %d files)", ErrTooManyParts, l.MaxParts)
		}
		limit, over := bound(l.MaxFileBytes), ErrTooLarge
		if i == 0 {
			limit, over = bound(l.MaxRootBytes), ErrRootTooLarge
		} else if rest := l.MaxTotalBytes - total; l.MaxTotalBytes > 0 && (limit < 0 || rest < limit) {
			limit, over = rest, ErrTotalTooLarge
		}
		if part.Data, err = readLimited(p, limit); err != nil {
			if errors.Is(err, errOver) {
				return root, nil, fmt.Errorf("%w (part %d)", over, i)
			}
			return root, nil, fmt.Errorf("%w: part %d: %w", ErrMalformed, i, err)
		}
		if i == 0 {
			if start := strings.Trim(params["start"], "<>"); start != "" && start != part.ContentID {
				return root, nil, fmt.Errorf("%w: the first part is not the start part %q", ErrMalformed, start)
			}
			if part.ContentType == "" {
				part.ContentType = params["type"] // RFC 2387: the root's type
			}
			root = part
			continue
		}
		total += int64(len(part.Data))
		files = append(files, part)
	}
	if root.Data == nil {
		return root, nil, fmt.Errorf("%w: no parts", ErrMalformed)
	}
	return root, files, nil
}

// readHeader reads what a part's header says of it.
func readHeader(p *multipart.Part) (Part, error) {
	var part Part
	h := p.Header
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "", "binary", "8bit", "7bit":
	default:
		return part, fmt.Errorf("Content-Transfer-Encoding %q is not accepted; send the bytes as they are", h.Get("Content-Transfer-Encoding"))
	}
	part.ContentType = h.Get("Content-Type")
	part.ContentID = strings.TrimSpace(h.Get("Content-ID"))
	if strings.HasPrefix(part.ContentID, "<") && strings.HasSuffix(part.ContentID, ">") {
		part.ContentID = part.ContentID[1 : len(part.ContentID)-1]
	}
	if cd := h.Get("Content-Disposition"); cd != "" {
		if _, dp, err := mime.ParseMediaType(cd); err == nil {
			part.FileName = dp["filename"]
		}
	}
	return part, nil
}

var errOver = errors.New("over the limit")

// bound is a configured limit as readLimited takes it: zero (none) is -1.
func bound(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// readLimited reads r whole, or fails with errOver once it holds more than
// limit bytes (a negative limit: none).
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	if limit < 0 {
		b, err := io.ReadAll(r)
		if b == nil {
			b = []byte{}
		}
		return b, err
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errOver
	}
	if buf.Len() == 0 {
		return []byte{}, nil
	}
	return buf.Bytes(), nil
}

// SumFromContentID is the SHA-256 a part names by its Content-ID, either the
// bare hex digest or "<digest>@<anything>" (RFC 2392 form); empty when the
// Content-ID names none.
func SumFromContentID(id string) string {
	local, _, _ := strings.Cut(id, "@")
	local = strings.TrimPrefix(strings.ToLower(local), "sha256:")
	if ValidSum(local) {
		return local
	}
	return ""
}
