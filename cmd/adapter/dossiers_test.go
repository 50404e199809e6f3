package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// portalToken is the bearer token of configs/local.yaml.
const portalToken = "dev-portal-token"

// procedures the generated dossiers alternate between.
var procedures = []string{"chi-thuong-xuyen", "tai-khoan"}

var maHoSoPattern = regexp.MustCompile(`^[A-Za-z0-9.]{1,20}-[0-9]{8}-[0-9]{7}$`)

// dossier is one signed JSON submission.
type dossier struct {
	procedure string
	code      string // maHoSo
	body      []byte
	jws       string // X-JWS-Signature: account holder's and chief accountant's, comma separated
}

func (d *dossier) id() string { return d.procedure + "|" + d.code }

var (
	signersOnce sync.Once
	signers     []signing.Signer
	templates   map[string]map[string]any
	signersErr  error
)

// loadSigners reads the TEST-ONLY PKI (chu-tai-khoan, ke-toan-truong) and
// the JSON templates once.
func loadSigners(t testing.TB) ([]signing.Signer, map[string]map[string]any) {
	t.Helper()
	signersOnce.Do(func() {
		pki := filepath.Join(h.repo, "testdata", "pki")
		inter := filepath.Join(pki, "intermediate-ca.crt")
		for _, role := range []string{"chu-tai-khoan", "ke-toan-truong"} {
			s, err := signing.LoadSigner(filepath.Join(pki, role+".crt"), filepath.Join(pki, role+".key"), inter)
			if err != nil {
				signersErr = err
				return
			}
			signers = append(signers, s)
		}
		templates = map[string]map[string]any{}
		for _, p := range procedures {
			raw, err := os.ReadFile(filepath.Join(h.repo, "testdata", "templates", p, "dossier.json"))
			if err != nil {
				signersErr = err
				return
			}
			var m map[string]any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber() // amounts stay as written
			if err := dec.Decode(&m); err != nil {
				signersErr = fmt.Errorf("%s template: %w", p, err)
				return
			}
			// These tests are about crashes, fleets and delivery, not
			// files: their dossiers list none (attachments are the app
			// tests' and the fixtures' concern).
			delete(m, "dinhKem")
			templates[p] = m
		}
	})
	if signersErr != nil {
		t.Fatal(signersErr)
	}
	return signers, templates
}

// batchPrefix returns a dossier-code prefix of its own for a batch:
// "<tag>.<random>", at most 20 characters of [A-Za-z0-9.].
func batchPrefix(t testing.TB, tag string) string {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	p := tag + "." + hex.EncodeToString(b[:])
	if len(p) > 20 {
		t.Fatalf("batch tag %q too long", tag)
	}
	return p
}

// makeDossiers builds and signs n distinct dossiers, alternating the
// procedures, with codes "<prefix>-20260609-<index>", signing in parallel.
func makeDossiers(t testing.TB, prefix string, n int) []*dossier {
	t.Helper()
	ss, tpl := loadSigners(t)
	out := make([]*dossier, n)
	errs := make([]error, n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range jobs {
				out[i], errs[i] = makeDossier(ss, tpl, procedures[i%len(procedures)],
					fmt.Sprintf("%s-20260609-%07d", prefix, i+1))
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func makeDossier(ss []signing.Signer, tpl map[string]map[string]any, procedure, code string) (*dossier, error) {
	if !maHoSoPattern.MatchString(code) {
		return nil, fmt.Errorf("dossier code %q does not match the schema pattern", code)
	}
	m := make(map[string]any, len(tpl[procedure]))
	for k, v := range tpl[procedure] {
		m[k] = v // shallow: only maHoSo changes
	}
	m["maHoSo"] = code
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	sigs := make([]string, len(ss))
	for i, s := range ss {
		if sigs[i], err = signing.SignJWS(body, "", s); err != nil {
			return nil, err
		}
	}
	return &dossier{procedure: procedure, code: code, body: body, jws: strings.Join(sigs, ",")}, nil
}
