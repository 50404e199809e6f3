package dossier

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Listing bounds. A page holds at most Query.Limit items (DefaultLimit when
// zero, at most MaxLimit) and is built from at most ScanBudget index
// entries, each read with its record: a filter on status, on procedure
// inside a unit's index, or on index entries whose record is gone, may
// leave a page shorter than the limit, even empty, with a cursor to go on.
const (
	DefaultLimit = 50
	MaxLimit     = 200
	ScanBudget   = 1000
	// scanChunk is the fewest index entries read in one round trip.
	scanChunk = 100
)

// ErrInvalidQuery is wrapped by every error about a malformed query or
// cursor.
var ErrInvalidQuery = errors.New("invalid query")

// QueryError names the query parameter that is malformed.
type QueryError struct {
	Param  string
	Reason string
}

func (e *QueryError) Error() string { return e.Param + ": " + e.Reason }

// Is makes a QueryError match ErrInvalidQuery.
func (e *QueryError) Is(target error) bool { return target == ErrInvalidQuery }

func invalid(param, format string, args ...any) error {
	return &QueryError{Param: param, Reason: fmt.Sprintf(format, args...)}
}

// Query selects dossiers. Every filter is optional; set ones must all hold.
type Query struct {
	Unit string // budget unit code (maDVQHNS)
	// Units, when set, restrict the listing to dossiers of these units (a
	// caller's units: set by the server, never read from the query string).
	Units     []string
	Procedure string // procedure id
	Statuses  []int  // national status codes; the dossier's must be one of them
	// From and To bound the receipt time, both included, at millisecond
	// precision; zero means unbounded.
	From, To time.Time
	Limit    int    // page size; zero means DefaultLimit
	Cursor   string // the next of the previous page; empty for the first
}

// Item is one dossier of a listing: its current state without the history
// (GET /v1/procedures/{p}/dossiers/{maHoSo} has that).
type Item struct {
	Procedure         string    `json:"procedure"`
	MaHoSo            string    `json:"maHoSo"`
	SoBoSung          int       `json:"soBoSung"`
	Unit              string    `json:"unit"`
	TrangThai         int       `json:"trangThai"`
	TreasuryReference string    `json:"treasuryReference"`
	ReceivedAt        time.Time `json:"receivedAt"`
	UpdatedAt         time.Time `json:"updatedAt"`
}

func itemOf(r *Record) Item {
	return Item{Procedure: r.Procedure, MaHoSo: r.MaHoSo, SoBoSung: r.SoBoSung, Unit: r.Unit,
		TrangThai: r.TrangThai, TreasuryReference: r.TreasuryReference,
		ReceivedAt: r.ReceivedAt, UpdatedAt: r.UpdatedAt}
}

// Position is an entry of a listing index: a dossier's receipt time in Unix
// milliseconds and its member, "<procedure>|<maHoSo>". Listing order is
// time descending, then member descending byte by byte, which is the
// order of a Redis sorted set read in reverse (ZREVRANGE).
type Position struct {
	At     int64
	Member string
}

// Before reports whether p comes before q in listing order.
func (p Position) Before(q Position) bool {
	return p.At > q.At || (p.At == q.At && p.Member > q.Member)
}

// Member is a dossier's index member.
func Member(procedure, maHoSo string) string { return procedure + "|" + maHoSo }

// Index names one listing index.
type Index struct {
	Kind  string // IndexAll, IndexUnit or IndexProcedure
	Value string // the unit code or procedure id; empty for IndexAll
}

// The listing indexes: every registered dossier, those of one budget unit,
// those of one procedure.
const (
	IndexAll       = "all"
	IndexUnit      = "unit"
	IndexProcedure = "procedure"
)

// IndexesOf lists the indexes a registered record belongs to.
func IndexesOf(r Record) []Index {
	out := []Index{{Kind: IndexAll}, {Kind: IndexProcedure, Value: r.Procedure}}
	if r.Unit != "" {
		out = append(out, Index{Kind: IndexUnit, Value: r.Unit})
	}
	return out
}

// index is the index a query reads: the unit's (usually the smallest), else
// the procedure's, else every dossier's. The other filters are checked on
// each record.
func (q Query) index() Index {
	switch {
	case q.Unit != "":
		return Index{Kind: IndexUnit, Value: q.Unit}
	case q.Procedure != "":
		return Index{Kind: IndexProcedure, Value: q.Procedure}
	}
	return Index{Kind: IndexAll}
}

// bounds are the receipt time bounds in milliseconds, both included.
func (q Query) bounds() (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if !q.From.IsZero() {
		lo = q.From.UnixMilli()
	}
	if !q.To.IsZero() {
		hi = q.To.UnixMilli()
	}
	return lo, hi
}

// matches checks every filter against the record itself: an index entry
// may be stale (a unit the dossier left), and the record is the truth.
func (q Query) matches(r *Record) bool {
	if r.ReceivedAt.IsZero() || (q.Unit != "" && r.Unit != q.Unit) || (q.Procedure != "" && r.Procedure != q.Procedure) {
		return false
	}
	if len(q.Statuses) > 0 && !slices.Contains(q.Statuses, r.TrangThai) {
		return false
	}
	if len(q.Units) > 0 && !slices.Contains(q.Units, r.Unit) {
		return false
	}
	lo, hi := q.bounds()
	at := r.ReceivedAt.UnixMilli()
	return at >= lo && at <= hi
}

// check validates a query built in code as ParseQuery would and returns it
// with its limit set and statuses sorted.
func (q Query) check() (Query, error) {
	switch {
	case q.Limit == 0:
		q.Limit = DefaultLimit
	case q.Limit < 0 || q.Limit > MaxLimit:
		return q, invalid("limit", "must be between 1 and %d", MaxLimit)
	}
	if q.Unit != "" && !validUnit(q.Unit) {
		return q, invalid("unit", "must be a budget unit code (maDVQHNS) of 7 digits")
	}
	for _, u := range q.Units {
		if !validUnit(u) {
			return q, invalid("unit", "%q is not a budget unit code (maDVQHNS) of 7 digits", u)
		}
	}
	q.Units = slices.Compact(slices.Sorted(slices.Values(q.Units)))
	if q.Procedure != "" && !validProcedure(q.Procedure) {
		return q, invalid("procedure", "must be a procedure id (lower-case words joined by '-')")
	}
	for _, st := range q.Statuses {
		if st < 1 || st > 10 {
			return q, invalid("status", "%d is not a national status code (1 to 10)", st)
		}
	}
	q.Statuses = slices.Compact(slices.Sorted(slices.Values(q.Statuses)))
	if lo, hi := q.bounds(); lo > hi {
		return q, invalid("from", "is after to")
	}
	return q, nil
}

// filterKey is what a cursor is bound to: every filter, not the limit
// (which may change from page to page).
func (q Query) filterKey() string {
	lo, hi := q.bounds()
	var b strings.Builder
	fmt.Fprintf(&b, "unit=%s;procedure=%s;status=", q.Unit, q.Procedure)
	for i, st := range q.Statuses {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(st))
	}
	fmt.Fprintf(&b, ";from=%d;to=%d", lo, hi)
	if len(q.Units) > 0 {
		b.WriteString(";units=" + strings.Join(q.Units, ","))
	}
	return b.String()
}

// Source is what Paginate needs from a store's indexes.
type Source interface {
	// Scan returns up to n (at least 1) entries of index ix, in listing
	// order, with a time in [lo, hi], that come after `after` (from the
	// top when nil); done reports that no such entry is left after them.
	// An entry not after `after` may come back when `after` has left the
	// index; Paginate skips it.
	Scan(ctx context.Context, ix Index, after *Position, lo, hi int64, n int) (entries []Position, done bool, err error)
	// Load returns the record of each entry, nil where it has none.
	Load(ctx context.Context, entries []Position) ([]*Record, error)
}

// Paginate builds one page of q from src: it scans the index q selects
// from the cursor on, checks every filter on each record, and stops when
// the page is full, the index is exhausted or ScanBudget entries were read.
func Paginate(ctx context.Context, q Query, src Source) ([]Item, string, error) {
	q, err := q.check()
	if err != nil {
		return nil, "", err
	}
	key := q.filterKey()
	var floor *Position // the cursor: entries up to it were listed already
	if q.Cursor != "" {
		p, err := decodeCursor(q.Cursor, key)
		if err != nil {
			return nil, "", err
		}
		floor = &p
	}
	lo, hi := q.bounds()
	ix := q.index()
	items := []Item{}
	after, next := floor, floor
	for read := 0; read < ScanBudget; {
		n := min(max(q.Limit-len(items), scanChunk), ScanBudget-read)
		entries, done, err := src.Scan(ctx, ix, after, lo, hi, n)
		if err != nil {
			return nil, "", err
		}
		recs, err := src.Load(ctx, entries)
		if err != nil {
			return nil, "", err
		}
		read += len(entries)
		for i, e := range entries {
			after = &entries[i]
			if floor != nil && !floor.Before(e) {
				continue // listed on an earlier page
			}
			next = &entries[i]
			if r := recs[i]; r != nil && q.matches(r) {
				items = append(items, itemOf(r))
				if len(items) == q.Limit {
					if done && i == len(entries)-1 {
						return items, "", nil
					}
					return items, encodeCursor(e, key), nil
				}
			}
		}
		if done || len(entries) == 0 {
			return items, "", nil
		}
	}
	if next == nil {
		return items, "", nil
	}
	return items, encodeCursor(*next, key), nil
}
