package intake

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/jws"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/testkit/signing"
	"github.com/kbnn/dvc/adapter/xmlsig"
)

// registryService is newService with the configured registered-signer
// settings: chi-thuong-xuyen needs registered signers, tai-khoan registers
// them from its specimen.
func registryService(t *testing.T, store signers.Store, require bool) (*Service, *fakeSender) {
	t.Helper()
	return registryServiceOn(t, store, require, nil)
}

// registryServiceOn is registryService on the idempotency records given
// (nil: the default, in memory).
func registryServiceOn(t *testing.T, store signers.Store, require bool, records idempotency.Store) (*Service, *fakeSender) {
	t.Helper()
	load(t)
	cfg := loaded.cfg
	var procs []*Procedure
	for _, p := range loaded.procs {
		c := *p
		pc := cfg.Procedures[p.ID]
		c.RegisteredSigners = pc.RegisteredSigners
		if sp := pc.Signers; sp.List != "" {
			c.Signers = &SignerPaths{List: sp.List, Role: sp.Role, Serial: sp.Serial, Issuer: sp.Issuer}
		}
		procs = append(procs, &c)
	}
	fs := &fakeSender{}
	svc := New(Options{
		Procedures: procs,
		XML: xmlsig.NewVerifier(loaded.trust, xmlsig.Policy{AllowSHA1: cfg.Signatures.AllowSHA1,
			WithComments: cfg.Signatures.WithComments, MaxSignatures: cfg.Signatures.MaxSignatures}),
		JWS:    jws.NewVerifier(loaded.trust, cfg.Signatures.JWSAlgorithms, cfg.Signatures.MaxSignatures),
		Limits: xmlsig.Limits{MaxDepth: cfg.Limits.MaxDepth, MaxElements: cfg.Limits.MaxElements},
		Sender: fs, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Records: records,
		Signers: store, RequireRegistered: require, Roles: []string{"chu-tai-khoan", "ke-toan-truong"},
		Attachments: templateFiles(t), Uploader: fs,
	})
	return svc, fs
}

func certOf(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(readFile(t, filepath.Join(pkiDir, name+".crt")))
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// registration of the test certificate name for unit in role.
func registration(t *testing.T, unit, role, name string) signers.Registration {
	c := certOf(t, name)
	return signers.Registration{Unit: unit, Role: role, Serial: signers.SerialOf(c.SerialNumber),
		Issuer: signers.IssuerOf(c), Source: signers.SourceOperator}
}

func TestRegisteredSigners(t *testing.T) {
	const unit = "1012345" // the chi-thuong-xuyen fixtures' maDVQHNS
	both := func(u string) []signers.Registration {
		return []signers.Registration{registration(t, u, "chu-tai-khoan", "chu-tai-khoan"),
			registration(t, u, "ke-toan-truong", "ke-toan-truong")}
	}
	otherIssuer := both(unit)
	otherIssuer[1].Issuer, _ = signers.CanonicalDN("CN=Another CA,O=Kho bac Nha nuoc - TEST ONLY,C=VN")
	swapped := []signers.Registration{registration(t, unit, "ke-toan-truong", "chu-tai-khoan"),
		registration(t, unit, "chu-tai-khoan", "ke-toan-truong")}
	body, sig := jsonFixture(t, "chi-thuong-xuyen")
	for _, form := range []submission{xmlSub("chi-thuong-xuyen", xmlFixture(t, "chi-thuong-xuyen")), jsonSub("chi-thuong-xuyen", body, sig)} {
		for _, tc := range []struct {
			name    string
			regs    []signers.Registration
			revoke  string // certificate whose registration is revoked after loading
			require bool
			want    string // "" means accepted
		}{
			{"registered", both(unit), "", true, ""},
			{"other unit", both("1099999"), "", true, "signer-not-registered"},
			{"other role", swapped, "", true, "signer-not-registered"},
			{"one role only", both(unit)[:1], "", true, "signer-not-registered"},
			{"same serial, other issuer", otherIssuer, "", true, "signer-not-registered"},
			{"revoked", both(unit), "ke-toan-truong", true, "signer-not-registered"},
			{"requireRegistered off", nil, "", false, ""},
		} {
			t.Run(form.contentType+"/"+tc.name, func(t *testing.T) {
				store := signers.NewMemory()
				if _, err := store.Put(context.Background(), tc.regs...); err != nil {
					t.Fatal(err)
				}
				if tc.revoke != "" {
					if n, err := store.Revoke(context.Background(), unit, signers.SerialOf(certOf(t, tc.revoke).SerialNumber)); err != nil || n != 1 {
						t.Fatalf("Revoke = %d, %v", n, err)
					}
				}
				svc, fs := registryService(t, store, tc.require)
				out := submitOn(t, svc, fs, form, "", receipt)
				if tc.want == "" {
					if out.err != nil {
						t.Fatalf("refused: %v", out.err)
					}
					return
				}
				wantRefused(t, out, tc.want)
			})
		}
	}
}

// An accepted tai-khoan dossier registers no signer: its 202 is the
// treasury's receipt, not its approval. Its record keeps the specimen's
// signers (each serial canonical, the issuer of the signer certificate with
// that serial), which statusflow registers when the treasury reports the
// account opened; until then the unit's payment is refused.
func TestAccountRegistrationKeepsItsSpecimen(t *testing.T) {
	const unit = "1077777"
	ctk, ktt := certOf(t, "chu-tai-khoan"), certOf(t, "ke-toan-truong")
	acct := template(t, "tai-khoan", "xml")
	acct = replaceOnce(t, acct, "<maDVQHNS>1012345</maDVQHNS>", "<maDVQHNS>"+unit+"</maDVQHNS>")
	acct = replaceOnce(t, acct, strings.ToUpper(ctk.SerialNumber.Text(16)), ctk.SerialNumber.Text(16))
	store := signers.NewMemory()
	svc, fs := registryService(t, store, true)

	pay := template(t, "chi-thuong-xuyen", "xml")
	pay = replaceOnce(t, pay, "<maDVQHNS>1012345</maDVQHNS>", "<maDVQHNS>"+unit+"</maDVQHNS>")
	paySigned := xmlSub("chi-thuong-xuyen", signXML(t, pay, signing.XMLOptions{}, "chu-tai-khoan", "ke-toan-truong"))
	wantRefused(t, submitOn(t, svc, fs, paySigned, "", receipt), "signer-not-registered")

	out := submitOn(t, svc, fs, xmlSub("tai-khoan", signXML(t, acct, signing.XMLOptions{}, "chu-tai-khoan")), "", receipt)
	if out.err != nil {
		t.Fatalf("tai-khoan refused: %v", out.err)
	}
	if got, err := store.List(context.Background(), unit); err != nil || len(got) != 0 {
		t.Fatalf("registrations on the treasury's 202 = %+v, %v; want none", got, err)
	}
	wantRefused(t, submitOn(t, svc, fs, paySigned, "", receipt), "signer-not-registered")
	rec, ok, err := svc.dossiers.Get(context.Background(), "tai-khoan", "G09.20-20260612-0000001")
	if err != nil || !ok || len(rec.Specimen) != 2 || !rec.SpecimenRegisteredAt.IsZero() {
		t.Fatalf("the record's specimen = %+v (registered %v), %v %v; want both entries, waiting", rec.Specimen, rec.SpecimenRegisteredAt, ok, err)
	}
	for _, sg := range rec.Specimen {
		want := map[string]string{"chu-tai-khoan": signers.SerialOf(ctk.SerialNumber), "ke-toan-truong": signers.SerialOf(ktt.SerialNumber)}[sg.Role]
		if sg.Serial != want || sg.Issuer != signers.IssuerOf(ctk) {
			t.Errorf("specimen entry %+v; want serial %s, the issuer of the test CA", sg, want)
		}
	}
}
