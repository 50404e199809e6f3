package dossier

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseQuery: any query string either parses into a query that the
// stores accept as it is, or fails with a QueryError; nothing panics.
func FuzzParseQuery(f *testing.F) {
	good := encodeCursor(Position{At: 1781000000000, Member: "tai-khoan|G09.20-20260609-0000101"}, Query{Limit: DefaultLimit}.filterKey())
	for _, s := range []string{
		"", "unit=1012345&procedure=tai-khoan&status=1,4&from=2026-06-01&to=2026-06-30&limit=20",
		"status=5&status=10", "from=2026-06-09T08:30:00+07:00", "to=2026-06-09T01:30:00.25Z",
		"cursor=" + good, "cursor=" + good + "&limit=3", "limit=201", "unit=1", "x=1", "cursor=%ff", "=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v)
		if err != nil {
			var qe *QueryError
			if !errors.As(err, &qe) || !errors.Is(err, ErrInvalidQuery) || qe.Param == "" {
				t.Fatalf("%q: error %v is not a QueryError", raw, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > MaxLimit {
			t.Fatalf("%q: limit %d", raw, q.Limit)
		}
		for i, st := range q.Statuses {
			if st < 1 || st > 10 || (i > 0 && st <= q.Statuses[i-1]) {
				t.Fatalf("%q: statuses %v", raw, q.Statuses)
			}
		}
		if lo, hi := q.bounds(); lo > hi {
			t.Fatalf("%q: from after to", raw)
		}
		if _, err := q.check(); err != nil {
			t.Fatalf("%q: parsed, then refused: %v", raw, err)
		}
		if q.Cursor != "" {
			if _, err := decodeCursor(q.Cursor, q.filterKey()); err != nil {
				t.Fatalf("%q: cursor accepted, then refused: %v", raw, err)
			}
		}
	})
}

// FuzzCursor: decoding never panics; a cursor that decodes is the one
// encoding of its position (nothing else is accepted for it), and it is
// refused under other filters. Any position whose member is well formed
// survives the round trip.
func FuzzCursor(f *testing.F) {
	key := Query{Unit: "1012345", Limit: DefaultLimit}.filterKey()
	seed := Position{At: 1781000000000, Member: "tai-khoan|G09.20-20260609-0000101"}
	f.Add(encodeCursor(seed, key), seed.At, seed.Member)
	f.Add(encodeCursor(Position{At: -1, Member: "a|b"}, key), int64(-1), "a|b")
	f.Add("", int64(0), "")
	f.Add("AQ", int64(1), "a|b|c")
	f.Add("not a cursor", int64(1), "Tai|x")
	f.Add("AQAAAZ6r31IAdGFpLWtob2FufEcwOS4yMC0yMDI2MDYwOS0wMD\rAwMTAxA3GoPO5euIrqEre0", int64(2), "a|\r")
	f.Fuzz(func(t *testing.T, s string, at int64, member string) {
		p, err := decodeCursor(s, key)
		if err != nil {
			if !errors.Is(err, ErrInvalidQuery) {
				t.Fatalf("%q: error %v is not ErrInvalidQuery", s, err)
			}
		} else {
			if again := encodeCursor(p, key); again != s {
				t.Fatalf("%q decodes to %+v, which encodes as %q", s, p, again)
			}
			if _, err := decodeCursor(s, Query{Limit: DefaultLimit}.filterKey()); err == nil {
				t.Fatalf("%q accepted under other filters", s)
			}
		}
		want := Position{At: at, Member: member}
		procedure, code, ok := strings.Cut(member, "|")
		wellFormed := ok && len(member) <= maxMemberLen && validProcedure(procedure) && validCode(code)
		got, err := decodeCursor(encodeCursor(want, key), key)
		switch {
		case wellFormed && (err != nil || got != want):
			t.Fatalf("%+v: round trip gives %+v, %v", want, got, err)
		case !wellFormed && err == nil:
			t.Fatalf("%+v: malformed member accepted", want)
		}
	})
}
