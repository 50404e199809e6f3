package redisstore

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// benchBody is the size of a typical 202 answer with a few KB of detail.
var benchT0 = time.Date(2026, 6, 9, 8, 0, 0, 0, time.UTC)

var benchBody = bytes.Repeat([]byte(`{"maHoSo":"H.01.02-260609-0001","trangThai":"DA_TIEP_NHAN"},`), 64)

// BenchmarkBeginComplete: per op one Begin (reserve), one Complete with a
// ~4 KB body and one Begin that replays it: three round trips.
func BenchmarkBeginComplete(b *testing.B) {
	ctx := context.Background()
	s := New(redistest.Client(b), redistest.Prefix(b), nil)
	resp := idempotency.Stored{Status: 202, Body: benchBody,
		Header: map[string]string{"Content-Type": "application/json", "Location": "/v1/ho-so/H.01.02-260609-0001"}}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	i := 0
	for b.Loop() {
		key := "caller|" + strconv.Itoa(i)
		i++
		r, err := s.Begin(ctx, key, "fp", 30*time.Second)
		if err != nil || r.State != idempotency.Reserved {
			b.Fatalf("%+v %v", r, err)
		}
		if err := s.Complete(ctx, key, r.Token, resp, time.Hour); err != nil {
			b.Fatal(err)
		}
		if r, err = s.Begin(ctx, key, "fp", 30*time.Second); err != nil || r.State != idempotency.Completed {
			b.Fatalf("%+v %v", r, err)
		}
	}
}

// BenchmarkClaimSettle: per op one ClaimDossier and one SettleDossier(sent).
func BenchmarkClaimSettle(b *testing.B) {
	ctx := context.Background()
	s := New(redistest.Client(b), redistest.Prefix(b), nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dossier := "H.01.02-" + strconv.Itoa(i)
		i++
		c, err := s.ClaimDossier(ctx, dossier, "caller|k", 30*time.Second)
		if err != nil || !c.Owned {
			b.Fatalf("%+v %v", c, err)
		}
		if err := s.SettleDossier(ctx, dossier, "caller|k", true, "KBNN-1", time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLockUnlock: per op one LockDossier and one UnlockDossier, the
// two round trips the dossier lock adds to every submission and withdrawal.
func BenchmarkLockUnlock(b *testing.B) {
	ctx := context.Background()
	s := New(redistest.Client(b), redistest.Prefix(b), nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := "dossier|tai-khoan|H.01.02-" + strconv.Itoa(i)
		i++
		l, err := s.LockDossier(ctx, id, 30*time.Second)
		if err != nil || !l.Held {
			b.Fatalf("%+v %v", l, err)
		}
		if err := s.UnlockDossier(ctx, id, l.Token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBeginCompleteParallel: the same cycle from 32×GOMAXPROCS
// goroutines sharing one client (its default pool), for throughput.
func BenchmarkBeginCompleteParallel(b *testing.B) {
	ctx := context.Background()
	s := New(redistest.Client(b), redistest.Prefix(b), nil)
	resp := idempotency.Stored{Status: 202, Body: benchBody, Header: map[string]string{"Content-Type": "application/json"}}
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		id := idempotency.NewToken()
		i := 0
		for pb.Next() {
			key := id + "|" + strconv.Itoa(i)
			i++
			r, err := s.Begin(ctx, key, "fp", 30*time.Second)
			if err != nil || r.State != idempotency.Reserved {
				b.Errorf("%+v %v", r, err)
				return
			}
			if err := s.Complete(ctx, key, r.Token, resp, time.Hour); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.Begin(ctx, key, "fp", 30*time.Second); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSubmissionRecords: per op the idempotency records of one
// accepted submission, as the adapter writes them (Start, Finish: two
// round trips) and in steps (Begin, ClaimAndLock, SettleDossier, then
// Complete with the unlock: four), for comparison in one run; and those
// of a procedure with registered signers, the check in Start's script
// (StartRegistered, Finish: two) and before it (FirstMissing, Start,
// Finish: three); and with the two uploaded files the chi-thuong-xuyen
// template lists (800 and 681 bytes), read in Start's round trip
// (StartReading, Finish: two) and after it (StartRegistered, GetCapped,
// Finish: three); and with those, the new dossier's record written in
// Finish's round trip (StartReading, FinishRegistering: two) and before
// it (StartReading, dossier.Register, Finish: three).
func BenchmarkSubmissionRecords(b *testing.B) {
	ctx := context.Background()
	resp := idempotency.Stored{Status: 202, Body: benchBody, Header: map[string]string{"Content-Type": "application/json"}}
	for _, way := range []string{"start-finish", "in-steps", "registered-start-finish", "check-start-finish", "reading-start-finish", "start-read-finish",
		"reading-start-register-finish", "reading-start-finish-registering"} {
		b.Run(way, func(b *testing.B) {
			c, prefix := redistest.Client(b), redistest.Prefix(b)
			s, reg := New(c, prefix, nil), NewSigners(c, prefix)
			dossiers := NewDossiers(c, prefix, time.Hour)
			registers := strings.Contains(way, "register")
			want := registrations(b, reg, "1045678")
			if _, err := reg.Put(ctx, want[1]); err != nil {
				b.Fatal(err)
			}
			att := NewAttachments(c, prefix, attachment.Limits{Retention: time.Hour}, nil)
			read := map[string]int64{}
			for _, n := range []int{800, 681} {
				data := bytes.Repeat([]byte{'%'}, n)
				if _, err := att.Put(ctx, attachment.Sum(data), data); err != nil {
					b.Fatal(err)
				}
				read[attachment.Sum(data)] = int64(n)
			}
			steps := way == "in-steps"
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				n := strconv.Itoa(i)
				i++
				key, dossierID, lockID := "caller|"+n, "tai-khoan|H.01.02-"+n+"|0", "dossier|tai-khoan|H.01.02-"+n
				owner := key + "#fp"
				var st idempotency.Started
				var err error
				switch way {
				case "in-steps":
					st, err = idempotency.StartInSteps(ctx, s, key, "fp", 30*time.Second, dossierID, owner, lockID)
				case "registered-start-finish", "start-read-finish":
					var missing int
					if st, missing, err = s.StartRegistered(ctx, reg, "1045678", want, key, "fp", 30*time.Second, dossierID, owner, lockID); missing != -1 {
						b.Fatalf("missing %d", missing)
					}
					if way == "start-read-finish" {
						if got, err := att.GetCapped(ctx, read); err != nil || len(got) != 2 {
							b.Fatalf("%d files read, %v", len(got), err)
						}
					}
				case "reading-start-finish", "reading-start-register-finish", "reading-start-finish-registering":
					var missing int
					var got map[string][]byte
					if st, missing, got, err = s.StartReading(ctx, att, read, reg, "1045678", want, key, "fp", 30*time.Second, dossierID, owner, lockID); missing != -1 || len(got) != 2 {
						b.Fatalf("missing %d, %d files read", missing, len(got))
					}
				case "check-start-finish":
					if missing, err := reg.FirstMissing(ctx, "1045678", want...); err != nil || missing != -1 {
						b.Fatalf("missing %d, %v", missing, err)
					}
					fallthrough
				default:
					st, err = s.Start(ctx, key, "fp", 30*time.Second, dossierID, owner, lockID)
				}
				if err != nil || st.ClaimErr != nil || !st.Claim.Owned || !st.Lock.Held {
					b.Fatalf("%+v %v", st, err)
				}
				f := idempotency.Final{Key: key, Token: st.Begun.Token, Response: resp, Retention: time.Hour,
					LockID: lockID, LockToken: st.Lock.Token,
					Sent: &idempotency.Settlement{Dossier: dossierID, Owner: owner, Reference: "KBNN-" + n, Retention: time.Hour}}
				var r idempotency.Finished
				if steps {
					if err := s.SettleDossier(ctx, dossierID, owner, true, f.Sent.Reference, time.Hour); err != nil {
						b.Fatal(err)
					}
					f.Sent = nil
				}
				rec := dossier.Record{Procedure: "tai-khoan", MaHoSo: "H.01.02-" + n, TrangThai: 2, Unit: "1045678",
					TreasuryReference: "KBNN-" + n, TreasuryDocumentID: "D-" + n, ReceivedAt: benchT0, UpdatedAt: benchT0,
					History: []dossier.Event{{TrangThai: 2, At: benchT0, Source: "adapter", Note: "sent to the treasury as KBNN-" + n}}}
				switch {
				case way == "reading-start-finish-registering":
					if r, err = s.FinishRegistering(ctx, f, dossiers, rec); err != nil {
						b.Fatal(err)
					}
				case registers:
					if err := dossier.Register(ctx, dossiers, rec); err != nil {
						b.Fatal(err)
					}
					fallthrough
				default:
					r = s.Finish(ctx, f)
				}
				if r != (idempotency.Finished{}) {
					b.Fatalf("%+v", r)
				}
			}
		})
	}
}
