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

// A unit's account registration registers its signers; its payment is then
// accepted, while one of a unit without registrations is refused and never
// reaches the treasury. An operator's revocation refuses the unit's next one.
// Without the seed no unit has registrations; both units are ones the
// treasury simulator knows.
func TestRegisteredSignersEndToEnd(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		const unit, stranger = "1045678", "1012345"
		pay := signedForUnit(t, "chi-thuong-xuyen", "G09.20-20260609-0000881", unit)
		if a := e.post(t, "chi-thuong-xuyen", "application/xml", pay, ""); a.status != 400 || problemCode(t, a) != "signer-not-registered" {
			t.Fatalf("payment before registration: %d %s", a.status, a.body)
		}
		if a := e.post(t, "tai-khoan", "application/xml", accountRegistration(t, "G09.20-20260612-0000881", unit), ""); a.status != 202 {
			t.Fatalf("account registration: %d %s", a.status, a.body)
		}
		list := e.admin(t, http.MethodGet, "/v1/admin/signers?unit="+unit, nil)
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
		if a := e.admin(t, http.MethodDelete, "/v1/admin/signers/"+unit+"/"+strings.ToUpper(serial), nil); a.status != 200 {
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
