package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
)

// DossierFactory returns a fresh, empty dossier store, isolated from every
// other (for Redis: its own key prefix).
type DossierFactory func(t *testing.T) dossier.Store

// t0 is the receipt time of the first dossier of each listing test.
var t0 = time.Date(2026, 6, 9, 8, 0, 0, 0, time.FixedZone("ICT", 7*3600))

// dossierSpec is a dossier a listing test registers.
type dossierSpec struct {
	procedure, code, unit string
	status                int
	at                    time.Time
}

func (d dossierSpec) member() string { return d.procedure + "|" + d.code }

func register(t *testing.T, s dossier.Store, d dossierSpec) {
	t.Helper()
	err := dossier.Register(ctx, s, dossier.Record{Procedure: d.procedure, MaHoSo: d.code, TrangThai: 1,
		Unit: d.unit, ReceivedAt: d.at, UpdatedAt: d.at, TreasuryReference: "KBNN-" + d.code, TreasuryDocumentID: "KB-" + d.code,
		History: []dossier.Event{{TrangThai: 1, At: d.at, Source: "adapter"}}})
	if err != nil {
		t.Fatal(err)
	}
	if d.status > 1 {
		setStatus(t, s, d, d.status)
	}
}

func setStatus(t *testing.T, s dossier.Store, d dossierSpec, status int) {
	t.Helper()
	err := s.Update(ctx, d.procedure, d.code, func(r *dossier.Record, exists bool) bool {
		r.TrangThai = status
		r.History = append(r.History, dossier.Event{TrangThai: status, At: d.at.Add(time.Hour), Source: "treasury"})
		return exists
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sample is a set of dossiers over three units, three procedures and
// several statuses, with receipt times out of registration order and
// three sharing one millisecond (sub-millisecond apart).
func sample() []dossierSpec {
	procs := []string{"chi-thuong-xuyen", "tai-khoan", "von-dau-tu"}
	units := []string{"1012345", "1012346", "2000001"}
	var out []dossierSpec
	for i := range 24 {
		out = append(out, dossierSpec{
			procedure: procs[i%3], unit: units[(i/3)%3], status: []int{1, 2, 4, 5, 9, 10}[i%6],
			code: fmt.Sprintf("G09.20-20260609-%07d", 100+i),
			at:   t0.Add(time.Duration((i*7)%24) * time.Minute),
		})
	}
	// Three in one millisecond: ordered by member, descending.
	for i, p := range procs {
		out = append(out, dossierSpec{procedure: p, unit: units[0], status: 4,
			code: fmt.Sprintf("G09.20-20260609-%07d", 900+i), at: t0.Add(30*time.Minute + time.Duration(i)*100*time.Microsecond)})
	}
	return out
}

// expect lists the specs that match, in listing order.
func expect(specs []dossierSpec, keep func(dossierSpec) bool) []string {
	var m []dossierSpec
	for _, d := range specs {
		if keep(d) {
			m = append(m, d)
		}
	}
	slices.SortFunc(m, func(a, b dossierSpec) int {
		if c := b.at.UnixMilli() - a.at.UnixMilli(); c != 0 {
			if c < 0 {
				return -1
			}
			return 1
		}
		return strings.Compare(b.member(), a.member())
	})
	out := make([]string, len(m))
	for i, d := range m {
		out[i] = d.member()
	}
	return out
}

// walk follows every page of q and returns the members listed, checking
// that no page exceeds the limit; between (after) is called after each page.
func walk(t *testing.T, s dossier.Store, q dossier.Query, between func(page int)) []string {
	t.Helper()
	var got []string
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatal("the listing does not end")
		}
		items, next, err := s.List(ctx, q)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		limit := q.Limit
		if limit == 0 {
			limit = dossier.DefaultLimit
		}
		if len(items) > limit {
			t.Fatalf("page %d: %d items, limit %d", page, len(items), limit)
		}
		for _, it := range items {
			got = append(got, it.Procedure+"|"+it.MaHoSo)
		}
		if next == "" {
			return got
		}
		q.Cursor = next
		if between != nil {
			between(page)
		}
	}
}

func sameList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// RunDossiers runs the listing suite on dossier stores.
func RunDossiers(t *testing.T, newStore DossierFactory) {
	t.Run("a record keeps its attachments; a supplement replaces them", func(t *testing.T) {
		s := newStore(t)
		a := dossier.Attachment{TenTep: "hop-dong.pdf", LoaiTep: "application/pdf", KichThuoc: 1342, SHA256: strings.Repeat("ab", 32)}
		b := dossier.Attachment{TenTep: "bien-ban.pdf", LoaiTep: "application/pdf", KichThuoc: 977, SHA256: strings.Repeat("cd", 32)}
		rec := dossier.Record{Procedure: "chi-thuong-xuyen", MaHoSo: "G09.20-20260609-0000001", TrangThai: 1, Unit: "1012345",
			TreasuryDocumentID: "KB-1", ReceivedAt: t0, UpdatedAt: t0, Attachments: []dossier.Attachment{a, b}}
		if err := dossier.Register(context.Background(), s, rec); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.Get(context.Background(), rec.Procedure, rec.MaHoSo)
		if err != nil || !ok || !reflect.DeepEqual(got.Attachments, rec.Attachments) {
			t.Fatalf("attachments %+v (%v %v), want %+v", got.Attachments, ok, err, rec.Attachments)
		}
		rec.SoBoSung, rec.TreasuryDocumentID, rec.Attachments = 1, "KB-2", []dossier.Attachment{b}
		if err := dossier.Register(context.Background(), s, rec); err != nil {
			t.Fatal(err)
		}
		if got, _, _ = s.Get(context.Background(), rec.Procedure, rec.MaHoSo); !reflect.DeepEqual(got.Attachments, []dossier.Attachment{b}) {
			t.Fatalf("after a supplement: %+v", got.Attachments)
		}
	})
	t.Run("newest first, every item complete", func(t *testing.T) {
		s := newStore(t)
		specs := sample()
		for _, d := range specs {
			register(t, s, d)
		}
		items, next, err := s.List(ctx, dossier.Query{})
		if err != nil || next != "" {
			t.Fatalf("next %q, err %v", next, err)
		}
		var got []string
		for _, it := range items {
			got = append(got, it.Procedure+"|"+it.MaHoSo)
		}
		sameList(t, "every dossier", got, expect(specs, func(dossierSpec) bool { return true }))
		d := specs[4]
		for _, it := range items {
			if it.MaHoSo != d.code {
				continue
			}
			want := dossier.Item{Procedure: d.procedure, MaHoSo: d.code, Unit: d.unit, TrangThai: d.status,
				TreasuryReference: "KBNN-" + d.code}
			if it.ReceivedAt.UnixMilli() != d.at.UnixMilli() || it.UpdatedAt.IsZero() {
				t.Errorf("times of %s: %+v", d.code, it)
			}
			it.ReceivedAt, it.UpdatedAt = time.Time{}, time.Time{}
			if it != want {
				t.Errorf("item %+v, want %+v", it, want)
			}
		}
	})

	t.Run("each filter", func(t *testing.T) {
		s := newStore(t)
		specs := sample()
		for _, d := range specs {
			register(t, s, d)
		}
		from, to := t0.Add(5*time.Minute), t0.Add(17*time.Minute)
		tests := []struct {
			name string
			q    dossier.Query
			keep func(dossierSpec) bool
		}{
			{"unit", dossier.Query{Unit: "1012346"}, func(d dossierSpec) bool { return d.unit == "1012346" }},
			{"procedure", dossier.Query{Procedure: "tai-khoan"}, func(d dossierSpec) bool { return d.procedure == "tai-khoan" }},
			{"unit and procedure", dossier.Query{Unit: "1012345", Procedure: "von-dau-tu"},
				func(d dossierSpec) bool { return d.unit == "1012345" && d.procedure == "von-dau-tu" }},
			{"one status", dossier.Query{Statuses: []int{4}}, func(d dossierSpec) bool { return d.status == 4 }},
			{"several statuses", dossier.Query{Statuses: []int{10, 2, 2}}, func(d dossierSpec) bool { return d.status == 2 || d.status == 10 }},
			{"status nobody has", dossier.Query{Statuses: []int{7}}, func(dossierSpec) bool { return false }},
			{"unknown unit", dossier.Query{Unit: "9999999"}, func(dossierSpec) bool { return false }},
			{"a caller's units", dossier.Query{Units: []string{"2000001", "1012346", "2000001"}},
				func(d dossierSpec) bool { return d.unit == "1012346" || d.unit == "2000001" }},
			{"a caller's units and a procedure", dossier.Query{Units: []string{"1012345", "2000001"}, Procedure: "tai-khoan"},
				func(d dossierSpec) bool {
					return (d.unit == "1012345" || d.unit == "2000001") && d.procedure == "tai-khoan"
				}},
			{"from and to, both included", dossier.Query{From: from, To: to},
				func(d dossierSpec) bool { return !d.at.Before(from) && !d.at.After(to) }},
			{"from only", dossier.Query{From: to}, func(d dossierSpec) bool { return !d.at.Before(to) }},
			{"to only", dossier.Query{To: from}, func(d dossierSpec) bool { return !d.at.After(from) }},
			{"one millisecond", dossier.Query{From: t0.Add(30 * time.Minute), To: t0.Add(30 * time.Minute)},
				func(d dossierSpec) bool { return d.at.UnixMilli() == t0.Add(30*time.Minute).UnixMilli() }},
			{"everything at once", dossier.Query{Unit: "1012345", Procedure: "chi-thuong-xuyen", Statuses: []int{1, 4}, From: t0, To: to},
				func(d dossierSpec) bool {
					return d.unit == "1012345" && d.procedure == "chi-thuong-xuyen" && (d.status == 1 || d.status == 4) &&
						!d.at.Before(t0) && !d.at.After(to)
				}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				want := expect(specs, tt.keep)
				if len(want) == 0 && tt.name != "status nobody has" && tt.name != "unknown unit" {
					t.Fatal("the sample has no dossier for this filter")
				}
				sameList(t, "one page", walk(t, s, tt.q, nil), want)
				q := tt.q
				q.Limit = 2
				sameList(t, "pages of 2", walk(t, s, q, nil), want)
			})
		}
	})

	t.Run("pages without duplicates or gaps while dossiers arrive and change", func(t *testing.T) {
		s := newStore(t)
		specs := sample()
		for _, d := range specs {
			register(t, s, d)
		}
		want := expect(specs, func(dossierSpec) bool { return true })
		n := 0
		got := walk(t, s, dossier.Query{Limit: 4}, func(page int) {
			// newer dossiers arrive, in a unit already listed and in a new one
			for _, unit := range []string{"1012345", "3000000"} {
				n++
				register(t, s, dossierSpec{procedure: "tai-khoan", unit: unit, status: 1,
					code: fmt.Sprintf("G09.20-20260610-%07d", n), at: t0.Add(time.Hour + time.Duration(n)*time.Second)})
			}
			// listed and unlisted dossiers change status; a supplement arrives
			setStatus(t, s, specs[page%len(specs)], 9)
			setStatus(t, s, specs[(page+13)%len(specs)], 10)
			sup := specs[(page+5)%len(specs)]
			if err := dossier.Register(ctx, s, dossier.Record{Procedure: sup.procedure, MaHoSo: sup.code, SoBoSung: 1,
				TrangThai: 1, Unit: sup.unit, ReceivedAt: t0.Add(2 * time.Hour), TreasuryDocumentID: "KB-S-" + sup.code}); err != nil {
				t.Fatal(err)
			}
		})
		sameList(t, "the walk", got, want)
		if n == 0 {
			t.Fatal("nothing arrived during the walk")
		}
		// A new walk sees the new dossiers first.
		all := walk(t, s, dossier.Query{Limit: 5}, nil)
		if len(all) != len(want)+n || !slices.Equal(all[n:], want) {
			t.Errorf("after the arrivals: %v", all)
		}
	})

	t.Run("a filtered walk holds under status changes", func(t *testing.T) {
		s := newStore(t)
		specs := sample()
		for _, d := range specs {
			register(t, s, d)
		}
		order := expect(specs, func(dossierSpec) bool { return true })
		matched := func(d dossierSpec) bool { return d.status == 4 || d.status == 5 }
		changed := map[string]bool{}
		var in, out []dossierSpec // dossiers that will enter and leave the filter
		for _, d := range specs {
			if matched(d) {
				out = append(out, d)
			} else {
				in = append(in, d)
			}
		}
		got := walk(t, s, dossier.Query{Statuses: []int{4, 5}, Limit: 2}, func(page int) {
			if page < len(in) && page < len(out) {
				setStatus(t, s, in[len(in)-1-page], 5)
				setStatus(t, s, out[len(out)-1-page], 9)
				changed[in[len(in)-1-page].member()], changed[out[len(out)-1-page].member()] = true, true
			}
		})
		if len(changed) == 0 {
			t.Fatal("nothing changed during the walk")
		}
		seen := map[string]bool{}
		pos := -1
		for _, m := range got {
			if seen[m] {
				t.Errorf("%s listed twice", m)
			}
			seen[m] = true
			i := slices.Index(order, m)
			if i <= pos {
				t.Errorf("%s out of order", m)
			}
			pos = i
		}
		for _, d := range specs {
			if matched(d) && !changed[d.member()] && !seen[d.member()] {
				t.Errorf("%s matched throughout and was not listed", d.member())
			}
			if !matched(d) && !changed[d.member()] && seen[d.member()] {
				t.Errorf("%s never matched and was listed", d.member())
			}
		}
	})

	t.Run("only registered dossiers are listed; a supplement keeps its place, a new unit moves it", func(t *testing.T) {
		s := newStore(t)
		// a callback made this record before any submission
		if err := s.Update(ctx, "tai-khoan", "G09.20-20260609-0000001", func(r *dossier.Record, _ bool) bool {
			r.Procedure, r.MaHoSo, r.TrangThai = "tai-khoan", "G09.20-20260609-0000001", 2
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if items, _, err := s.List(ctx, dossier.Query{}); err != nil || len(items) != 0 {
			t.Fatalf("unregistered record listed: %v %v", items, err)
		}
		a := dossierSpec{procedure: "tai-khoan", code: "G09.20-20260609-0000001", unit: "1012345", at: t0}
		b := dossierSpec{procedure: "tai-khoan", code: "G09.20-20260609-0000002", unit: "1012345", at: t0.Add(time.Minute)}
		register(t, s, a)
		register(t, s, b)
		sameList(t, "registered", walk(t, s, dossier.Query{}, nil), []string{b.member(), a.member()})
		items, _, _ := s.List(ctx, dossier.Query{Unit: "1012345"})
		if len(items) != 2 || items[1].TrangThai != 2 {
			t.Fatalf("the callback's status is kept: %+v", items)
		}
		// supplement 1 of a, from another unit, received later
		if err := dossier.Register(ctx, s, dossier.Record{Procedure: a.procedure, MaHoSo: a.code, SoBoSung: 1, TrangThai: 1,
			Unit: "2000001", ReceivedAt: t0.Add(time.Hour), TreasuryDocumentID: "KB-S"}); err != nil {
			t.Fatal(err)
		}
		sameList(t, "after the supplement", walk(t, s, dossier.Query{}, nil), []string{b.member(), a.member()})
		sameList(t, "the old unit", walk(t, s, dossier.Query{Unit: "1012345"}, nil), []string{b.member()})
		sameList(t, "the new unit", walk(t, s, dossier.Query{Unit: "2000001"}, nil), []string{a.member()})
		items, _, _ = s.List(ctx, dossier.Query{Unit: "2000001"})
		if len(items) != 1 || items[0].SoBoSung != 1 || !items[0].ReceivedAt.Equal(t0) {
			t.Fatalf("supplement item %+v: want soBoSung 1 and the first receipt time", items)
		}
	})

	t.Run("a page reads at most the scan budget", func(t *testing.T) {
		s := newStore(t)
		// the only dossier with status 9 is older than a budget of others
		register(t, s, dossierSpec{procedure: "tai-khoan", code: "G09.20-20260609-0000001", unit: "1012345", status: 9, at: t0})
		for i := range dossier.ScanBudget + 10 {
			register(t, s, dossierSpec{procedure: "tai-khoan", code: fmt.Sprintf("G09.20-20260609-%07d", 10+i), unit: "1012345",
				status: 1, at: t0.Add(time.Duration(i+1) * time.Millisecond)})
		}
		items, next, err := s.List(ctx, dossier.Query{Statuses: []int{9}})
		if err != nil || len(items) != 0 || next == "" {
			t.Fatalf("first page: %v, next %q, %v; want no item and a cursor", items, next, err)
		}
		items, next, err = s.List(ctx, dossier.Query{Statuses: []int{9}, Cursor: next})
		if err != nil || len(items) != 1 || next != "" || items[0].MaHoSo != "G09.20-20260609-0000001" {
			t.Fatalf("second page: %v, next %q, %v", items, next, err)
		}
	})

	t.Run("malformed queries and cursors", func(t *testing.T) {
		s := newStore(t)
		for i := range 5 {
			register(t, s, dossierSpec{procedure: "tai-khoan", code: fmt.Sprintf("G09.20-20260609-%07d", i), unit: "1012345", status: 1,
				at: t0.Add(time.Duration(i) * time.Minute)})
		}
		_, next, err := s.List(ctx, dossier.Query{Limit: 2})
		if err != nil || next == "" {
			t.Fatalf("first page: %q %v", next, err)
		}
		tampered := []byte(next)
		tampered[len(tampered)/2] ^= 1
		if tampered[len(tampered)/2] == '-' || tampered[len(tampered)/2] == '_' {
			tampered[len(tampered)/2] = 'A'
		}
		bad := []dossier.Query{
			{Cursor: "not a cursor"},
			{Cursor: "AAAA"},
			{Cursor: next[:len(next)-2]},
			{Cursor: string(tampered)},
			{Cursor: next, Unit: "1012345"}, // made for other filters
			{Cursor: next, Statuses: []int{1}},
			{Cursor: next, Units: []string{"1012345"}}, // a caller's units bind the cursor too
			{Units: []string{"12345"}},
			{Limit: dossier.MaxLimit + 1},
			{Limit: -1},
			{Statuses: []int{11}},
			{Statuses: []int{0}},
			{Unit: "12345"},
			{Procedure: "Tai Khoan"},
			{From: t0.Add(time.Hour), To: t0},
		}
		for _, q := range bad {
			if _, _, err := s.List(ctx, q); !errors.Is(err, dossier.ErrInvalidQuery) {
				t.Errorf("%+v: %v, want ErrInvalidQuery", q, err)
			}
		}
		// the limit may change between pages
		items, _, err := s.List(ctx, dossier.Query{Limit: 3, Cursor: next})
		if err != nil || len(items) != 3 {
			t.Fatalf("next page with another limit: %v %v", items, err)
		}
	})
}
