package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
)

// Record is what one leaf of the log says about one request the adapter
// received or one delivery it attempted. Its JSON keys come in the order of
// the fields, so the leaf bytes of a record are always the same.
type Record struct {
	// Time is when the adapter received the request (kept in UTC).
	Time time.Time `json:"time"`
	// Instance names the adapter instance that received it.
	Instance string `json:"instance"`
	// Caller is the authenticated caller.
	Caller string `json:"caller"`
	// Route is the route template, e.g. "POST /v1/procedures/{procedure}/dossiers".
	Route string `json:"route"`
	// Procedure, MaHoSo and SoBoSung identify the dossier (empty when unknown).
	Procedure string `json:"procedure"`
	MaHoSo    string `json:"maHoSo"`
	SoBoSung  int    `json:"soBoSung"`
	// BodySHA256 is the lower-case hex SHA-256 of the exact body received.
	BodySHA256 string `json:"bodySha256"`
	// Status and Code are the outcome: the HTTP status answered and the
	// problem code (empty on success).
	Status int    `json:"status"`
	Code   string `json:"code"`
	// TreasuryReference is the treasury's reference of an accepted document;
	// EventID the status event's id for callbacks and deliveries.
	TreasuryReference string `json:"treasuryReference"`
	EventID           string `json:"eventId"`
	// Replayed: the answer was the stored answer of an earlier request
	// with the same Idempotency-Key (absent when false).
	Replayed bool `json:"replayed,omitempty"`
	// HeldSHA256 is the lower-case hex SHA-256 of the signed original the
	// treasury holds for the accepted document, as the treasury names it,
	// when it is not this request's body: the document came from an earlier
	// request (found at the treasury, or the treasury's replay of its key),
	// usually an earlier attempt of this one in other bytes (absent
	// otherwise).
	HeldSHA256 string `json:"heldSha256,omitempty"`
}

// Receipt tells a caller where its request sits in the log. LeafHash,
// BodySHA256 and HeldSHA256 are lower-case hex; HeldSHA256 is the leaf's
// (absent unless set).
type Receipt struct {
	LogOrigin  string `json:"logOrigin"`
	LogIndex   uint64 `json:"logIndex"`
	LeafHash   string `json:"leafHash"`
	BodySHA256 string `json:"bodySha256"`
	HeldSHA256 string `json:"heldSha256,omitempty"`
}

// BodyHash returns the lower-case hex SHA-256 of body, the form
// Record.BodySHA256 takes.
func BodyHash(body []byte) string { return HashBody(body).Hex() }

// HashedBody is a body with its SHA-256 (HashBody): the records of one
// request (its leaves, its archived body, the evidence it carries) name
// the body from one hashing of it. The bytes must not change after
// HashBody. The zero value is the empty body, hashed when asked.
type HashedBody struct {
	body   []byte
	sum    [sha256.Size]byte
	hashed bool
}

// HashBody hashes body.
func HashBody(body []byte) HashedBody {
	return HashedBody{body: body, sum: sha256.Sum256(body), hashed: true}
}

// Sum is the body's SHA-256.
func (h HashedBody) Sum() [sha256.Size]byte {
	if !h.hashed {
		return sha256.Sum256(h.body)
	}
	return h.sum
}

// Hex is the body's SHA-256 in lower-case hex, the form Record.BodySHA256
// takes.
func (h HashedBody) Hex() string {
	sum := h.Sum()
	return hex.EncodeToString(sum[:])
}

// Of reports whether h was made from b: the same bytes in the same place
// (a body replaced since has to be hashed again).
func (h HashedBody) Of(b []byte) bool {
	return len(b) == len(h.body) && (len(b) == 0 || &b[0] == &h.body[0])
}

// MarshalLeaf returns the leaf bytes of r: compact JSON, keys in field order,
// the time in UTC with nanoseconds. It refuses a BodySHA256 that is not 64
// lower-case hex digits.
func MarshalLeaf(r Record) ([]byte, error) {
	if !isHexSHA256(r.BodySHA256) {
		return nil, fmt.Errorf("auditlog: bodySha256 %q is not a lower-case hex SHA-256", r.BodySHA256)
	}
	if r.HeldSHA256 != "" && !isHexSHA256(r.HeldSHA256) {
		return nil, fmt.Errorf("auditlog: heldSha256 %q is not a lower-case hex SHA-256", r.HeldSHA256)
	}
	r.Time = r.Time.UTC()
	return json.Marshal(r)
}

// ParseLeaf decodes leaf bytes into a Record, refusing unknown keys.
func ParseLeaf(leaf []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(leaf))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("leaf is not a record: %w", err)
	}
	if dec.More() {
		return Record{}, errors.New("leaf is not a record: data after the object")
	}
	return r, nil
}

// LeafHash is the RFC 6962 leaf hash of leaf bytes.
func LeafHash(leaf []byte) []byte { return rfc6962.DefaultHasher.HashLeaf(leaf) }

func isHexSHA256(s string) bool {
	if len(s) != 64 {
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

// A record line of a segment file is
//
//	<index> SP <leaf hash, 64 lower-case hex> SP <leaf bytes> LF
//
// The leaf bytes are compact JSON and hold no LF.

// appendLine appends the record line of leaf at index to dst.
func appendLine(dst []byte, index uint64, leafHash, leaf []byte) []byte {
	dst = strconv.AppendUint(dst, index, 10)
	dst = append(dst, ' ')
	dst = hex.AppendEncode(dst, leafHash)
	dst = append(dst, ' ')
	dst = append(dst, leaf...)
	return append(dst, '\n')
}

// Line is one parsed record line.
type Line struct {
	Index    uint64
	LeafHash []byte // as stored in the line, not recomputed
	Leaf     []byte
}

// ParseLine parses one record line, without its LF. It checks the shape
// only: the stored leaf hash is not compared with the leaf.
func ParseLine(line []byte) (Line, error) {
	idx, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok || len(idx) == 0 || len(idx) > 20 || (len(idx) > 1 && idx[0] == '0') {
		return Line{}, errors.New("malformed index")
	}
	n, err := strconv.ParseUint(string(idx), 10, 64)
	if err != nil {
		return Line{}, errors.New("malformed index")
	}
	h, leaf, ok := bytes.Cut(rest, []byte{' '})
	if !ok || len(h) != 64 || !isHexSHA256(string(h)) {
		return Line{}, errors.New("malformed leaf hash")
	}
	if len(leaf) == 0 || leaf[0] != '{' || bytes.IndexByte(leaf, '\n') >= 0 || !json.Valid(leaf) {
		return Line{}, errors.New("leaf is not a JSON object")
	}
	lh, _ := hex.DecodeString(string(h))
	return Line{Index: n, LeafHash: lh, Leaf: leaf}, nil
}
