package xmlsig

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/testkit/signing"
	"github.com/kbnn/dvc/adapter/trust"
)

const pkiDir = "../../testdata/pki"

// receipt is a fixed receipt time inside every valid test certificate.
var receipt = time.Date(2026, 6, 9, 9, 0, 0, 0, time.FixedZone("ICT", 7*3600))

func signer(t testing.TB, name string) signing.Signer {
	t.Helper()
	inter := filepath.Join(pkiDir, "intermediate-ca.crt")
	if name == "untrusted-signer" {
		inter = filepath.Join(pkiDir, "untrusted-ca.crt")
	}
	s, err := signing.LoadSigner(filepath.Join(pkiDir, name+".crt"), filepath.Join(pkiDir, name+".key"), inter)
	if err != nil {
		t.Fatal(err)
	}
	if name == "untrusted-signer" {
		s.Chain = s.Chain[:1]
	}
	return s
}

func testStore(t testing.TB) *trust.Store {
	t.Helper()
	roots, err := trust.LoadCertificates(filepath.Join(pkiDir, "root-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	inter, err := trust.LoadCertificates(filepath.Join(pkiDir, "intermediate-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	crls, err := trust.LoadCRLs(filepath.Join(pkiDir, "intermediate.crl"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := trust.New(trust.Options{Roots: roots, Intermediates: inter, CRLs: crls,
		Roles: map[string]string{"Chu tai khoan": "chu-tai-khoan", "Ke toan truong": "ke-toan-truong"}})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func template(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/templates/chi-thuong-xuyen/dossier.xml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(t testing.TB, doc []byte, opts signing.XMLOptions, names ...string) []byte {
	t.Helper()
	var ss []signing.Signer
	for _, n := range names {
		ss = append(ss, signer(t, n))
	}
	out, err := signing.SignXML(doc, opts, ss...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	sharedStore sync.Once
	shared      *trust.Store
)

// engines are the verification paths every test runs on.
var engines = []Engine{EngineFast, EngineReference}

// verifyWith parses and verifies body with policy p on one engine.
func verifyWith(t testing.TB, body []byte, p Policy, e Engine) (*Result, error) {
	t.Helper()
	doc, err := Parse(body, Limits{})
	if err != nil {
		return nil, err
	}
	p.Engine = e
	sharedStore.Do(func() { shared = testStore(t) })
	return NewVerifier(shared, p).Verify(doc, receipt)
}

// verify parses and verifies body on every engine, fails unless they agree
// (same problem code, or the same signers and signed content), and returns
// the fast engine's outcome.
func verify(t testing.TB, body []byte, p Policy) (*Result, error) {
	t.Helper()
	var first *Result
	var firstErr error
	for i, e := range engines {
		res, err := verifyWith(t, body, p, e)
		if i == 0 {
			first, firstErr = res, err
			continue
		}
		if msg := disagreement(first, firstErr, res, err); msg != "" {
			t.Fatalf("%s and %s engines disagree: %s", engines[0], e, msg)
		}
	}
	return first, firstErr
}

// disagreement describes how two outcomes differ, "" when they agree.
func disagreement(a *Result, aErr error, b *Result, bErr error) string {
	if (aErr == nil) != (bErr == nil) {
		return fmt.Sprintf("%v / %v", aErr, bErr)
	}
	if aErr != nil {
		if codeOf(aErr) != codeOf(bErr) {
			return fmt.Sprintf("%s (%v) / %s (%v)", codeOf(aErr), aErr, codeOf(bErr), bErr)
		}
		return ""
	}
	if len(a.Signers) != len(b.Signers) {
		return fmt.Sprintf("%d / %d signers", len(a.Signers), len(b.Signers))
	}
	for i := range a.Signers {
		x, y := a.Signers[i], b.Signers[i]
		if !x.Cert.Equal(y.Cert) || x.Role != y.Role || x.Algorithm != y.Algorithm {
			return fmt.Sprintf("signer %d: %+v / %+v", i+1, x, y)
		}
	}
	ca, err := contentOf(a.Root)
	if err != nil {
		return "fast content: " + err.Error()
	}
	cb, err := contentOf(b.Root)
	if err != nil {
		return "reference content: " + err.Error()
	}
	if !bytes.Equal(ca, cb) {
		return fmt.Sprintf("signed content differs:\n%.400s\n%.400s", ca, cb)
	}
	return ""
}

// contentOf renders verified content for comparison: exclusive C14N with
// comments (namespace placement and attribute order normalised, comments
// kept), with the text split into nodes marked.
func contentOf(root *etree.Element) ([]byte, error) {
	c := root.Copy()
	var mark func(e *etree.Element)
	mark = func(e *etree.Element) {
		prevText := false
		for _, t := range e.Child {
			switch x := t.(type) {
			case *etree.CharData:
				if prevText {
					x.Data = "|" + x.Data
				}
				prevText = true
				continue
			case *etree.Element:
				mark(x)
			}
			prevText = false
		}
	}
	mark(c)
	return dsig.MakeC14N10ExclusiveWithCommentsCanonicalizerWithPrefixList("").Canonicalize(c)
}

func codeOf(err error) string {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe.Kind.Code()
	}
	return "not a problem: " + err.Error()
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	var pe *problem.Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want problem %s", err, code)
	}
	if pe.Kind.Code() != code {
		t.Fatalf("got %s (%v), want %s", pe.Kind.Code(), pe.Cause, code)
	}
}
