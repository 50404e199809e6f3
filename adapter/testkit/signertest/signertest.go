// Package signertest is the conformance suite every signers.Store passes.
package signertest

import (
	"context"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/signers"
)

// Run runs the suite; newStore returns an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) signers.Store) {
	ctx := context.Background()
	at := time.Date(2026, 6, 9, 8, 0, 0, 0, time.UTC)
	reg := func(unit, role, serial, issuer, source string) signers.Registration {
		r, err := signers.Normalize(signers.Registration{Unit: unit, Role: role, Serial: serial,
			Issuer: issuer, RegisteredAt: at, Source: source})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	const ca, other = "CN=KBNN Test Signing CA,O=KBNN,C=VN", "CN=Other CA,O=Other,C=VN"

	t.Run("RegisteredAfterPut", func(t *testing.T) {
		s := newStore(t)
		n, err := s.Put(ctx, reg("1012345", "chu-tai-khoan", "4A25", ca, "H1"), reg("1012345", "ke-toan-truong", "739F", ca, "H1"))
		if err != nil || n != 2 {
			t.Fatalf("Put = %d, %v; want 2 new", n, err)
		}
		ok, err := signers.Registered(ctx, s, "1012345", "chu-tai-khoan", "4a25", signersDN(t, ca))
		if err != nil || !ok {
			t.Fatalf("Registered = %v, %v; want true", ok, err)
		}
	})
	t.Run("OtherUnitRoleIssuerSerialAreNot", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Put(ctx, reg("1012345", "chu-tai-khoan", "4A25", ca, "H1")); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ unit, role, serial, issuer string }{
			{"1099999", "chu-tai-khoan", "4a25", signersDN(t, ca)},
			{"1012345", "ke-toan-truong", "4a25", signersDN(t, ca)},
			{"1012345", "chu-tai-khoan", "4a25", signersDN(t, other)},
			{"1012345", "chu-tai-khoan", "4a26", signersDN(t, ca)},
		} {
			ok, err := signers.Registered(ctx, s, c.unit, c.role, c.serial, c.issuer)
			if err != nil || ok {
				t.Errorf("Registered(%+v) = %v, %v; want false", c, ok, err)
			}
		}
	})
	t.Run("FirstMissing", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Put(ctx, reg("1012345", "chu-tai-khoan", "4A25", ca, "H1"), reg("1012345", "ke-toan-truong", "739F", ca, "H1")); err != nil {
			t.Fatal(err)
		}
		chief := signers.Registration{Role: "chu-tai-khoan", Serial: "4a25", Issuer: signersDN(t, ca)}
		accountant := signers.Registration{Role: "ke-toan-truong", Serial: "739f", Issuer: signersDN(t, ca)}
		otherIssuer := signers.Registration{Role: "ke-toan-truong", Serial: "739f", Issuer: signersDN(t, other)}
		otherRole := signers.Registration{Role: "ke-toan-truong", Serial: "4a25", Issuer: signersDN(t, ca)}
		for _, c := range []struct {
			unit string
			want []signers.Registration
			i    int
		}{
			{"1012345", nil, -1},
			{"1012345", []signers.Registration{chief, accountant}, -1},
			{"1012345", []signers.Registration{chief, otherIssuer}, 1},
			{"1012345", []signers.Registration{otherRole, accountant}, 0},
			{"1099999", []signers.Registration{chief}, 0},
		} {
			i, err := s.FirstMissing(ctx, c.unit, c.want...)
			if err != nil || i != c.i {
				t.Errorf("FirstMissing(%s, %+v) = %d, %v; want %d", c.unit, c.want, i, err, c.i)
			}
		}
	})
	t.Run("PutIsIdempotentAndKeepsTheFirst", func(t *testing.T) {
		s := newStore(t)
		first := reg("1012345", "chu-tai-khoan", "4A25", ca, "H1")
		if _, err := s.Put(ctx, first); err != nil {
			t.Fatal(err)
		}
		again := first
		again.Source, again.RegisteredAt = signers.SourceOperator, at.Add(time.Hour)
		n, err := s.Put(ctx, again)
		if err != nil || n != 0 {
			t.Fatalf("second Put = %d, %v; want 0 new", n, err)
		}
		got, err := s.List(ctx, "1012345")
		if err != nil || len(got) != 1 || got[0].Source != "H1" || !got[0].RegisteredAt.Equal(at) {
			t.Fatalf("List = %+v, %v; want the first registration only", got, err)
		}
	})
	t.Run("ListIsOrderedAndPerUnit", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Put(ctx, reg("1012345", "ke-toan-truong", "739F", ca, "H1"),
			reg("1012345", "chu-tai-khoan", "4A25", ca, "H1"), reg("1022222", "chu-tai-khoan", "1", ca, "op")); err != nil {
			t.Fatal(err)
		}
		got, err := s.List(ctx, "1012345")
		if err != nil || len(got) != 2 || got[0].Role != "chu-tai-khoan" || got[1].Role != "ke-toan-truong" {
			t.Fatalf("List = %+v, %v", got, err)
		}
		if got[0].Unit != "1012345" || got[0].Serial != "4a25" || got[0].Issuer != signersDN(t, ca) {
			t.Errorf("List[0] = %+v: fields not kept", got[0])
		}
		none, err := s.List(ctx, "1000000")
		if err != nil || len(none) != 0 {
			t.Fatalf("List(unknown) = %+v, %v; want empty", none, err)
		}
	})
	t.Run("RevokeRemovesTheSerialInEveryRole", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Put(ctx, reg("1012345", "chu-tai-khoan", "4A25", ca, "H1"), reg("1012345", "ke-toan-truong", "4A25", other, "op"),
			reg("1012345", "ke-toan-truong", "739F", ca, "H1"), reg("1022222", "chu-tai-khoan", "4A25", ca, "op")); err != nil {
			t.Fatal(err)
		}
		n, err := s.Revoke(ctx, "1012345", "4a25")
		if err != nil || n != 2 {
			t.Fatalf("Revoke = %d, %v; want 2", n, err)
		}
		if ok, _ := signers.Registered(ctx, s, "1012345", "chu-tai-khoan", "4a25", signersDN(t, ca)); ok {
			t.Error("revoked registration still registered")
		}
		if ok, _ := signers.Registered(ctx, s, "1012345", "ke-toan-truong", "739f", signersDN(t, ca)); !ok {
			t.Error("another serial of the unit was revoked")
		}
		if ok, _ := signers.Registered(ctx, s, "1022222", "chu-tai-khoan", "4a25", signersDN(t, ca)); !ok {
			t.Error("the serial was revoked for another unit")
		}
		if n, err := s.Revoke(ctx, "1012345", "4a25"); err != nil || n != 0 {
			t.Fatalf("second Revoke = %d, %v; want 0", n, err)
		}
	})
}

func signersDN(t *testing.T, dn string) string {
	c, err := signers.CanonicalDN(dn)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
