package outbox

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DeadKey is a dead letter's place in the dead-letter list, shared by the
// stores so that both list in the same order: the dead-letter time in
// milliseconds (13 digits), "|", the dossier's length, "|", the dossier, the
// event id. Keys compare byte by byte in list order (oldest first).
func DeadKey(at time.Time, dossier, eventID string) string {
	return fmt.Sprintf("%013d|%d|%s%s", at.UnixMilli(), len(dossier), dossier, eventID)
}

// ParseDeadKey is the inverse of DeadKey.
func ParseDeadKey(k string) (at time.Time, dossier, eventID string, ok bool) {
	msPart, rest, ok1 := strings.Cut(k, "|")
	lenPart, rest, ok2 := strings.Cut(rest, "|")
	ms, err1 := strconv.ParseInt(msPart, 10, 64)
	n, err2 := strconv.Atoi(lenPart)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || n < 0 || n > len(rest) {
		return time.Time{}, "", "", false
	}
	return time.UnixMilli(ms), rest[:n], rest[n:], true
}

// EncodeCursor turns the DeadKey of the last letter of a page into the
// opaque cursor of the next page.
func EncodeCursor(key string) string {
	if key == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

// DecodeCursor is the inverse of EncodeCursor ("" is the start).
func DecodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", fmt.Errorf("%w: cursor", ErrInvalid)
	}
	if _, _, _, ok := ParseDeadKey(string(b)); !ok {
		return "", fmt.Errorf("%w: cursor", ErrInvalid)
	}
	return string(b), nil
}

// Check validates a dossier and event id as every store does.
func Check(dossier, eventID string) error {
	if dossier == "" || eventID == "" {
		return fmt.Errorf("%w: empty dossier or event id", ErrInvalid)
	}
	return nil
}
