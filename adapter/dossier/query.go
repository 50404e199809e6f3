package dossier

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ict is Asia/Ho_Chi_Minh: UTC+7 all year (no daylight saving time since
// 1975), fixed so that no time zone database is needed.
var ict = time.FixedZone("ICT", 7*3600)

var (
	unitPattern      = regexp.MustCompile(`^[0-9]{7}$`)
	procedurePattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	datePattern      = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

func validUnit(s string) bool      { return unitPattern.MatchString(s) }
func validProcedure(s string) bool { return len(s) <= 64 && procedurePattern.MatchString(s) }

// queryParams are the parameters ParseQuery knows; status may be repeated.
var queryParams = []string{"unit", "procedure", "status", "from", "to", "cursor", "limit"}

// ParseQuery reads the query of GET /v1/dossiers: unit (7 digits),
// procedure (an id; whether it is configured is the caller's check),
// status (national codes 1–10, comma separated or repeated), from and to
// (RFC 3339, or yyyy-mm-dd in Asia/Ho_Chi_Minh: from the start of that day,
// to its end), cursor and limit (1 to MaxLimit). An empty value is an
// absent parameter. Errors are *QueryError (ErrInvalidQuery) naming the
// parameter: an unknown or repeated one, a malformed value, from after
// to, or a cursor that is malformed or was made for other filters.
func ParseQuery(v url.Values) (Query, error) { return ParseQueryNarrowed(v, nil) }

// ParseQueryNarrowed is ParseQuery with narrow (when not nil) applied to
// the parsed filters before the cursor is checked against them: a caller
// restricted to units lists with its units added to the filters, and the
// cursor its listing gave it is bound to those.
func ParseQueryNarrowed(v url.Values, narrow func(*Query)) (Query, error) {
	var q Query
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if !slices.Contains(queryParams, k) {
			return q, invalid(strconv.Quote(k), "unknown parameter (known: %s)", strings.Join(queryParams, ", "))
		}
		if k != "status" && len(v[k]) > 1 {
			return q, invalid(k, "given more than once")
		}
	}
	q.Unit = v.Get("unit")
	if q.Unit != "" && !validUnit(q.Unit) {
		return q, invalid("unit", "must be a budget unit code (maDVQHNS) of 7 digits")
	}
	q.Procedure = v.Get("procedure")
	if q.Procedure != "" && !validProcedure(q.Procedure) {
		return q, invalid("procedure", "must be a procedure id (lower-case words joined by '-')")
	}
	for _, list := range v["status"] {
		if list == "" {
			continue
		}
		for s := range strings.SplitSeq(list, ",") {
			s = strings.TrimSpace(s)
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 10 || s != strconv.Itoa(n) {
				return q, invalid("status", "%q is not a national status code (1 to 10)", s)
			}
			q.Statuses = append(q.Statuses, n)
		}
	}
	var err error
	if q.From, err = parseTime("from", v.Get("from"), false); err != nil {
		return q, err
	}
	if q.To, err = parseTime("to", v.Get("to"), true); err != nil {
		return q, err
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit || s != strconv.Itoa(n) {
			return q, invalid("limit", "must be a whole number between 1 and %d", MaxLimit)
		}
		q.Limit = n
	}
	q.Cursor = v.Get("cursor")
	if narrow != nil {
		narrow(&q)
	}
	checked, err := q.check()
	if err != nil {
		return q, err
	}
	if q.Cursor != "" {
		if _, err := decodeCursor(q.Cursor, checked.filterKey()); err != nil {
			return q, err
		}
	}
	return checked, nil
}

// parseTime reads an RFC 3339 time or a date, which stands for its first
// millisecond (from) or its last (to) in Asia/Ho_Chi_Minh. A "+" of the
// offset that reached the query unescaped, and so reads as a space, is
// taken as "+".
func parseTime(param, s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if datePattern.MatchString(s) {
		d, err := time.ParseInLocation(time.DateOnly, s, ict)
		if err != nil {
			return time.Time{}, invalid(param, "%q is not a valid date", s)
		}
		if end {
			d = d.AddDate(0, 0, 1).Add(-time.Millisecond)
		}
		return d, nil
	}
	if len(s) > 64 {
		return time.Time{}, invalid(param, "must be an RFC 3339 time or a date (yyyy-mm-dd)")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil && strings.Count(s, " ") == 1 {
		t, err = time.Parse(time.RFC3339Nano, strings.Replace(s, " ", "+", 1))
	}
	if err != nil {
		return time.Time{}, invalid(param, "%q is not an RFC 3339 time (2026-06-09T08:30:00+07:00) or a date (2026-06-09)", s)
	}
	return t, nil
}

// A cursor is the unpadded base64url of: version byte, the position's time
// (8 bytes, big-endian), its member, then a tag: the first tagSize bytes
// of SHA-256 over a domain string, the query's filters and all that
// precedes. The tag makes an edited, truncated or mistyped cursor, or one
// passed with other filters than those it was made for, a malformed
// cursor rather than a silently different page. It is not a secret: a
// caller who forges a cursor only starts a listing where it chooses, which
// from and to already allow.
const (
	cursorVersion = 1
	tagSize       = 12
	maxMemberLen  = 200
	// MaxCursorLen bounds an encoded cursor.
	MaxCursorLen = (1 + 8 + maxMemberLen + tagSize + 2) * 4 / 3
)

func cursorTag(payload []byte, filterKey string) []byte {
	h := sha256.New()
	h.Write([]byte("dvc dossier cursor\x00"))
	h.Write([]byte(filterKey))
	h.Write([]byte{0})
	h.Write(payload)
	return h.Sum(nil)[:tagSize]
}

func encodeCursor(p Position, filterKey string) string {
	b := make([]byte, 0, 1+8+len(p.Member)+tagSize)
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(p.At))
	b = append(b, p.Member...)
	b = append(b, cursorTag(b, filterKey)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, filterKey string) (Position, error) {
	bad := invalid("cursor", "malformed, or made for other filters: pass the next of the previous page with the same filters")
	if len(s) > MaxCursorLen || strings.IndexFunc(s, notBase64URL) >= 0 {
		return Position{}, bad // the decoder would skip CR and LF
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) < 1+8+3+tagSize || b[0] != cursorVersion {
		return Position{}, bad
	}
	payload, tag := b[:len(b)-tagSize], b[len(b)-tagSize:]
	if !bytes.Equal(tag, cursorTag(payload, filterKey)) {
		return Position{}, bad
	}
	p := Position{At: int64(binary.BigEndian.Uint64(payload[1:9])), Member: string(payload[9:])}
	procedure, code, ok := strings.Cut(p.Member, "|")
	if !ok || len(p.Member) > maxMemberLen || !validProcedure(procedure) || !validCode(code) {
		return Position{}, bad
	}
	return p, nil
}

func notBase64URL(r rune) bool {
	return (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_'
}

// validCode accepts a dossier code as a member may carry it: printable
// ASCII without '|' or space.
func validCode(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' || s[i] == '|' {
			return false
		}
	}
	return true
}
