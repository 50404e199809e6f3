package app

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
)

func testCert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, "testdata/pki", name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// accountRegistration is the tai-khoan template for unit under code, its
// specimen listing the test PKI's account holder and chief accountant, signed
// by both.
func accountRegistration(t *testing.T, code, unit string) []byte {
	t.Helper()
	return signedTemplateEdited(t, "tai-khoan", func(root *etree.Element) {
		root.CreateAttr("Id", "HS-"+code)
		root.FindElement("maHoSo").SetText(code)
		root.FindElement("maDVQHNS").SetText(unit)
		for _, e := range root.FindElements("taiLieu/mauChuKy") {
			e.FindElement("soSerialChungThu").SetText(testCert(t, e.FindElement("vaiTro").Text()).SerialNumber.Text(16))
		}
	})
}

func (e *env) admin(t *testing.T, method, path string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, e.adminSrv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer dev-operator-token")
	req.Header.Set("Content-Type", "application/json")
	return exchange(t, req)
}

func problemCode(t *testing.T, a answer) string {
	t.Helper()
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(a.body, &p)
	return p.Code
}

// A unit's account registration registers its signers once the treasury
// reports the account opened, not on its 202 (a receipt, not an approval);
// the unit's payment is then accepted, while one of a unit without
// registrations is refused and never reaches the treasury. An operator's
// revocation refuses the unit's next one. Without the seed no unit has
// registrations; both units are ones the treasury simulator knows.
func TestRegisteredSignersEndToEnd(t *testing.T) {
	forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
		const unit, stranger = "1045678", "1012345"
		pay := signedForUnit(t, "chi-thuong-xuyen", "G09.20-20260609-0000881", unit)
		if a := e.post(t, "chi-thuong-xuyen", "application/xml", pay, ""); a.status != 400 || problemCode(t, a) != "signer-not-registered" {
			t.Fatalf("payment before registration: %d %s", a.status, a.body)
		}
		const acct = "G09.20-20260612-0000881"
		if a := e.post(t, "tai-khoan", "application/xml", accountRegistration(t, acct, unit), ""); a.status != 202 {
			t.Fatalf("account registration: %d %s", a.status, a.body)
		}
		for _, status := range []string{"", "PROCESSING"} {
			if status != "" {
				ev := e.build(t, treasurysim.EventRequest{DossierCode: acct, Status: status})
				if a := e.postCallback(t, ev.Header, ev.Body); a.status != 202 {
					t.Fatalf("callback %s: %d %s", status, a.status, a.body)
				}
			}
			if list := e.env.admin(t, http.MethodGet, "/v1/admin/signers?unit="+unit, nil); list.status != 200 || !strings.Contains(string(list.body), `"signers":[]`) {
				t.Fatalf("registrations before the account is opened (after %q): %d %s", status, list.status, list.body)
			}
			if a := e.post(t, "chi-thuong-xuyen", "application/xml", pay, ""); a.status != 400 || problemCode(t, a) != "signer-not-registered" {
				t.Fatalf("payment before the account is opened (after %q): %d %s", status, a.status, a.body)
			}
		}
		if rec := e.view(t, "tai-khoan", acct); len(rec.Specimen) != 2 || !rec.SpecimenRegisteredAt.IsZero() {
			t.Fatalf("the specimen waiting in the record: %+v at %v", rec.Specimen, rec.SpecimenRegisteredAt)
		}
		ev := e.build(t, treasurysim.EventRequest{DossierCode: acct, Status: "ACCOUNT_OPENED"})
		if a := e.postCallback(t, ev.Header, ev.Body); a.status != 202 {
			t.Fatalf("callback ACCOUNT_OPENED: %d %s", a.status, a.body)
		}
		if rec := e.view(t, "tai-khoan", acct); rec.SpecimenRegisteredAt.IsZero() {
			t.Errorf("the record does not say when the specimen was registered")
		}
		list := e.env.admin(t, http.MethodGet, "/v1/admin/signers?unit="+unit, nil)
		var got struct {
			Signers []struct{ Role, Serial, Source string }
		}
		if err := json.Unmarshal(list.body, &got); err != nil || list.status != 200 || len(got.Signers) != 2 ||
			got.Signers[0].Source != "G09.20-20260612-0000881" {
			t.Fatalf("registrations: %d %s", list.status, list.body)
		}
		if a := e.post(t, "chi-thuong-xuyen", "application/xml", pay, ""); a.status != 202 {
			t.Fatalf("payment of the registered unit: %d %s", a.status, a.body)
		}
		other := signedForUnit(t, "chi-thuong-xuyen", "G09.20-20260609-0000882", stranger)
		if a := e.post(t, "chi-thuong-xuyen", "application/xml", other, ""); a.status != 400 || problemCode(t, a) != "signer-not-registered" {
			t.Fatalf("payment of an unregistered unit: %d %s", a.status, a.body)
		}
		if n := e.docsFor(t, "G09.20-20260609-0000882"); n != 0 {
			t.Fatalf("the refused dossier reached the treasury %d times", n)
		}
		if n := e.docsFor(t, "G09.20-20260609-0000881"); n != 1 {
			t.Fatalf("the accepted dossier reached the treasury %d times, want 1", n)
		}
		serial := testCert(t, "ke-toan-truong").SerialNumber.Text(16)
		if a := e.env.admin(t, http.MethodDelete, "/v1/admin/signers/"+unit+"/"+strings.ToUpper(serial), nil); a.status != 200 {
			t.Fatalf("revoke: %d %s", a.status, a.body)
		}
		next := signedForUnit(t, "chi-thuong-xuyen", "G09.20-20260609-0000883", unit)
		if a := e.post(t, "chi-thuong-xuyen", "application/xml", next, ""); a.status != 400 || problemCode(t, a) != "signer-not-registered" {
			t.Fatalf("payment after revocation: %d %s", a.status, a.body)
		}
		if n := e.docsFor(t, "G09.20-20260609-0000883"); n != 0 {
			t.Fatalf("the refused dossier reached the treasury %d times", n)
		}
	}, func(c *config.Config) { c.Signatures.RegisteredSeed = "" })
}

// The seed registers the fixtures' signers at start-up; without
// requireRegistered an unregistered unit's payment is accepted.
func TestRequireRegisteredOff(t *testing.T) {
	e := startWith(t, func(c *config.Config) { c.Signatures.RegisteredSeed, c.Signatures.RequireRegistered = "", false })
	pay := signedForUnit(t, "chi-thuong-xuyen", "G09.20-20260609-0000884", "1045678")
	if a := e.post(t, "chi-thuong-xuyen", "application/xml", pay, ""); a.status != 202 {
		t.Fatalf("requireRegistered off: %d %s", a.status, a.body)
	}
}
