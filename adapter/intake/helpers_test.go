package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/jws"
	"github.com/kbnn/dvc/adapter/mapping"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/rules"
	"github.com/kbnn/dvc/adapter/schema"
	"github.com/kbnn/dvc/adapter/testkit/fixture"
	"github.com/kbnn/dvc/adapter/testkit/signing"
	"github.com/kbnn/dvc/adapter/trust"
	"github.com/kbnn/dvc/adapter/xmlsig"
	"github.com/kbnn/dvc/configs"
)

const (
	repo     = "../.."
	pkiDir   = repo + "/testdata/pki"
	fixtures = repo + "/testdata/fixtures"
	tmplDir  = repo + "/testdata/templates"
)

// receipt is a fixed receipt time inside every valid test certificate.
var receipt = time.Date(2026, 6, 9, 9, 0, 0, 0, time.FixedZone("ICT", 7*3600))

var allProcedures = []string{"chi-thuong-xuyen", "von-dau-tu", "tai-khoan", "cam-ket-chi"}

// sent is one call the fake treasury received.
type sent struct {
	key     string
	request map[string]any
	// evidence is the request's "evidence", kept apart: it describes the
	// bytes received (form, hash, signers), not a value mapped from them.
	evidence any
}

// fakeSender records what intake asked it to send and accepts everything.
type fakeSender struct {
	mu      sync.Mutex
	calls   []sent
	uploads []string // the SHA-256 of each upload, in order
	// loseAnswers makes Send keep the document, as the treasury does, and
	// then fail with a timeout, as when the answer never came back.
	loseAnswers atomic.Bool
	// loseRequests makes Send fail with a timeout before the document
	// reaches the treasury, which keeps nothing.
	loseRequests atomic.Bool
}

func (f *fakeSender) Upload(_ context.Context, sum, _ string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := attachment.Sum(data); got != sum {
		sum = "bytes of " + got + " uploaded as " + sum // no test expects it
	}
	f.uploads = append(f.uploads, sum)
	return nil
}

// uploaded returns the SHA-256 of each upload so far, in order (an upload
// whose bytes do not hash to its name, as a sentence saying so).
func (f *fakeSender) uploaded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.uploads...)
}

// templateFiles is an attachment store holding every file the templates
// list (testdata/attachments), as if uploaded before each dossier.
func templateFiles(t testing.TB) *attachment.Memory {
	t.Helper()
	m := attachment.NewMemory(attachment.Limits{Retention: time.Hour}, nil)
	paths, err := filepath.Glob(filepath.Join(repo, "testdata/attachments/*/*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("testdata/attachments: %v (%d files)", err, len(paths))
	}
	for _, p := range paths {
		data := readFile(t, p)
		if _, err := m.Put(context.Background(), attachment.Sum(data), data); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func (f *fakeSender) Send(_ context.Context, key string, req map[string]any) (Receipt, error) {
	if f.loseRequests.Load() {
		return Receipt{}, &problem.Error{Kind: problem.TreasuryTimeout, RetryAfter: 30}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	req = maps.Clone(req)
	ev := req["evidence"]
	delete(req, "evidence")
	f.calls = append(f.calls, sent{key: key, request: req, evidence: ev})
	n := len(f.calls)
	if f.loseAnswers.Load() {
		return Receipt{}, &problem.Error{Kind: problem.TreasuryTimeout, RetryAfter: 30}
	}
	return Receipt{DocumentID: fmt.Sprintf("DOC-%d", n), Reference: fmt.Sprintf("REF-%d", n)}, nil
}

// Find finds a document sent under key, as the treasury does.
func (f *fakeSender) Find(_ context.Context, key string) (Receipt, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.calls {
		if c.key == key {
			return Receipt{DocumentID: fmt.Sprintf("DOC-%d", i+1), Reference: fmt.Sprintf("REF-%d", i+1),
				EvidenceSHA256: evidenceSHA(c.evidence)}, true, nil
		}
	}
	return Receipt{}, false, nil
}

// evidenceSHA is the evidence.sha256 of a request the fake treasury keeps,
// which the treasury's answers name.
func evidenceSHA(ev any) string {
	if e, ok := ev.(Evidence); ok {
		return e.SHA256
	}
	return ""
}

// loseAnswer submits sub while the treasury's answers are lost: it keeps
// the document and the submission ends in a timeout.
func loseAnswer(t testing.TB, svc *Service, fs *fakeSender, sub Submission) {
	t.Helper()
	timeOut(t, svc, &fs.loseAnswers, sub)
}

// loseRequest submits sub while the requests to the treasury are lost:
// the submission ends in a timeout and the treasury keeps nothing.
func loseRequest(t testing.TB, svc *Service, fs *fakeSender, sub Submission) {
	t.Helper()
	timeOut(t, svc, &fs.loseRequests, sub)
}

// timeOut submits sub with fault set, and checks that it ends in a timeout.
func timeOut(t testing.TB, svc *Service, fault *atomic.Bool, sub Submission) {
	t.Helper()
	fault.Store(true)
	defer fault.Store(false)
	if _, err := svc.Submit(context.Background(), sub); codeOf(err) != problem.TreasuryTimeout.Code() {
		t.Fatalf("submission %s: %v, want a treasury timeout", sub.RequestID, err)
	}
}

func (f *fakeSender) sent() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.calls...)
}

// loaded holds what is expensive to build and immutable: the configuration,
// the trust store and the compiled procedures.
var loaded struct {
	once  sync.Once
	err   error
	cfg   *config.Config
	trust *trust.Store
	procs []*Procedure
}

func load(t testing.TB) {
	t.Helper()
	loaded.once.Do(func() {
		loaded.err = func() error {
			cfg, err := config.Load(configs.Local, nil)
			if err != nil {
				return err
			}
			roots, err := trust.LoadCertificates(filepath.Join(pkiDir, "root-ca.crt"))
			if err != nil {
				return err
			}
			inter, err := trust.LoadCertificates(filepath.Join(pkiDir, "intermediate-ca.crt"))
			if err != nil {
				return err
			}
			crls, err := trust.LoadCRLs(filepath.Join(pkiDir, "intermediate.crl"))
			if err != nil {
				return err
			}
			ts, err := trust.New(trust.Options{Roots: roots, Intermediates: inter, CRLs: crls, Roles: cfg.Signatures.Roles})
			if err != nil {
				return err
			}
			schemas := os.DirFS(repo + "/schemas")
			maps := os.DirFS(repo + "/mappings")
			reqSchema, err := os.ReadFile(repo + "/schemas/treasury/send-document-request.schema.json")
			if err != nil {
				return err
			}
			var procs []*Procedure
			for _, id := range allProcedures {
				pc, ok := cfg.Procedures[id]
				if !ok {
					return fmt.Errorf("procedure %s not configured", id)
				}
				def, err := schema.Load(schemas, id)
				if err != nil {
					return err
				}
				m, err := mapping.Load(maps, id, def.Raw, reqSchema)
				if err != nil {
					return err
				}
				rs, err := rules.Load(schemas, id, def.Raw)
				if err != nil {
					return err
				}
				procs = append(procs, &Procedure{ID: id, Code: pc.Code, Name: pc.Name,
					RequiredRoles: pc.RequiredRoles, Definition: def, Rules: rs, Mapper: m})
			}
			loaded.cfg, loaded.trust, loaded.procs = cfg, ts, procs
			return nil
		}()
	})
	if loaded.err != nil {
		t.Fatal(loaded.err)
	}
}

// svcOptions tune newService; the zero value is configs/local.yaml.
// xmlEngine is the XML verification engine of the services tests build;
// "" is the configuration's (the fast engine).
var xmlEngine xmlsig.Engine

type svcOptions struct {
	policy *xmlsig.Policy
	limits *xmlsig.Limits
	clock  func() time.Time // for the in-memory idempotency store
	// attachments is the upload store; nil means templateFiles.
	attachments attachment.Store
	fileLimits  FileLimits
	records     idempotency.Store // nil: in memory
	inlineBytes int64             // Options.InlineFileBytes
}

// newService builds an intake.Service the way adapter/app does, with a fake
// treasury sender.
func newService(t testing.TB, o svcOptions) (*Service, *fakeSender) {
	t.Helper()
	load(t)
	cfg := loaded.cfg
	p := xmlsig.Policy{AllowSHA1: cfg.Signatures.AllowSHA1, WithComments: cfg.Signatures.WithComments,
		MaxSignatures: cfg.Signatures.MaxSignatures, Engine: xmlsig.Engine(cfg.Signatures.XMLVerifier)}
	if o.policy != nil {
		p = *o.policy
	}
	if xmlEngine != "" {
		p.Engine = xmlEngine
	}
	lim := xmlsig.Limits{MaxDepth: cfg.Limits.MaxDepth, MaxElements: cfg.Limits.MaxElements}
	if o.limits != nil {
		lim = *o.limits
	}
	fs := &fakeSender{}
	svc := New(Options{
		Procedures: loaded.procs,
		XML:        xmlsig.NewVerifier(loaded.trust, p),
		JWS:        jws.NewVerifier(loaded.trust, cfg.Signatures.JWSAlgorithms, cfg.Signatures.MaxSignatures),
		Limits:     lim,
		Sender:     fs,
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock:      o.clock,

		Attachments: o.attachments, Uploader: fs, FileLimits: o.fileLimits, Records: o.records, InlineFileBytes: o.inlineBytes,
	})
	if o.attachments == nil {
		svc.attachments = templateFiles(t)
	}
	return svc, fs
}

// submission is one request to run.
type submission struct {
	procedure   string
	contentType string
	body        []byte
	jws         string
}

func xmlSub(proc string, body []byte) submission {
	return submission{procedure: proc, contentType: "application/xml", body: body}
}

func jsonSub(proc string, body []byte, sig string) submission {
	return submission{procedure: proc, contentType: "application/json", body: body, jws: sig}
}

// outcome is what one submission did: the error, and what reached the treasury.
type outcome struct {
	resp  *Response
	err   error
	calls []sent
}

func run(t testing.TB, s submission, o svcOptions) outcome {
	t.Helper()
	svc, fs := newService(t, o)
	return submitOn(t, svc, fs, s, "", receipt)
}

// submitOn runs s on an existing service (under Idempotency-Key idemKey,
// derived when empty) and returns what it did, with only the treasury calls
// this submission made.
func submitOn(t testing.TB, svc *Service, fs *fakeSender, s submission, idemKey string, at time.Time) outcome {
	t.Helper()
	before := len(fs.sent())
	resp, err := svc.Submit(context.Background(), Submission{RequestID: "attack", Procedure: s.procedure,
		IdempotencyKey: idemKey, ContentType: s.contentType, Body: s.body, JWSSignature: s.jws,
		Caller: "portal", ReceivedAt: at})
	out := outcome{resp: resp, err: err, calls: fs.sent()[before:]}
	if err != nil && len(out.calls) != 0 {
		t.Errorf("Submit failed (%v) but %d request(s) reached the treasury", err, len(out.calls))
	}
	if err == nil && len(out.calls) != 1 {
		t.Fatalf("Submit succeeded with %d treasury calls, want 1", len(out.calls))
	}
	if err == nil && (resp == nil || resp.Status != 202 || resp.Replayed) {
		t.Fatalf("Submit succeeded with response %+v, want 202", resp)
	}
	return out
}

// mustAccept runs the untouched, validly signed submission and returns what
// it sent to the treasury: the reference for "exactly what was signed".
func mustAccept(t testing.TB, s submission) sent {
	t.Helper()
	out := run(t, s, svcOptions{})
	if out.err != nil {
		t.Fatalf("the validly signed baseline is refused: %v", out.err)
	}
	return out.calls[0]
}

func codeOf(err error) string {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe.Kind.Code()
	}
	return ""
}

// wantRefused asserts that the attack was refused with one of codes and that
// nothing reached the treasury.
func wantRefused(t testing.TB, out outcome, codes ...string) {
	t.Helper()
	if out.err == nil {
		t.Errorf("HOLE: the altered submission was ACCEPTED and sent to the treasury (want %s):\n%s",
			strings.Join(codes, " or "), dump(out.calls))
		return
	}
	got := codeOf(out.err)
	for _, c := range codes {
		if got == c {
			return
		}
	}
	t.Errorf("refused with %q (%v), want %s", got, out.err, strings.Join(codes, " or "))
}

// wantSameAsSigned asserts that the harmless alteration was accepted and
// that the treasury received exactly what the untouched dossier produces.
func wantSameAsSigned(t testing.TB, out outcome, signed sent) {
	t.Helper()
	if out.err != nil {
		t.Errorf("a semantically harmless alteration was refused: %v", out.err)
		return
	}
	sameAsSigned(t, out.calls[0], signed)
}

func sameAsSigned(t testing.TB, got, signed sent) {
	t.Helper()
	if got.key != signed.key {
		t.Errorf("HOLE: downstream key %s differs from the signed dossier's %s", got.key, signed.key)
	}
	if !reflect.DeepEqual(normal(t, got.request), normal(t, signed.request)) {
		t.Errorf("HOLE: the treasury received a value that was not signed:\n got  %s\n want %s",
			dump([]sent{got}), dump([]sent{signed}))
	}
}

// wantRefusedOrSame accepts either a refusal with one of codes or an
// acceptance that sent exactly the signed value; it logs which.
func wantRefusedOrSame(t testing.TB, out outcome, signed sent, codes ...string) {
	t.Helper()
	if out.err == nil {
		t.Logf("accepted (the alteration is outside the signed content and ignored)")
		sameAsSigned(t, out.calls[0], signed)
		return
	}
	t.Logf("refused: %v", out.err)
	wantRefused(t, out, codes...)
}

// normal round-trips a request through JSON so that int64 and json.Number
// compare by value.
func normal(t testing.TB, m map[string]any) any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func dump(calls []sent) string {
	var b strings.Builder
	for _, c := range calls {
		j, _ := json.Marshal(c.request)
		fmt.Fprintf(&b, "  key=%s request=%s\n", c.key, j)
	}
	return b.String()
}

// ---- fixtures, templates and signers ----

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// xmlFixture returns the validly signed XML fixture of proc.
func xmlFixture(t testing.TB, proc string) []byte {
	t.Helper()
	return readFile(t, filepath.Join(fixtures, proc, "valid-xml", "request.xml"))
}

// jsonFixture returns the validly signed JSON fixture of proc and its
// X-JWS-Signature header.
func jsonFixture(t testing.TB, proc string) ([]byte, string) {
	t.Helper()
	c, err := fixture.Load(filepath.Join(fixtures, proc, "valid-json"))
	if err != nil {
		t.Fatal(err)
	}
	return c.Body, c.Header.Get(jws.Header)
}

func template(t testing.TB, proc, ext string) []byte {
	t.Helper()
	return readFile(t, filepath.Join(tmplDir, proc, "dossier."+ext))
}

func loadSigner(t testing.TB, name string) signing.Signer {
	t.Helper()
	inter := filepath.Join(pkiDir, "intermediate-ca.crt")
	if name == "untrusted-signer" {
		inter = filepath.Join(pkiDir, "untrusted-ca.crt")
	}
	s, err := signing.LoadSigner(filepath.Join(pkiDir, name+".crt"), filepath.Join(pkiDir, name+".key"), inter)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signXML(t testing.TB, doc []byte, opts signing.XMLOptions, names ...string) []byte {
	t.Helper()
	var ss []signing.Signer
	for _, n := range names {
		ss = append(ss, loadSigner(t, n))
	}
	out, err := signing.SignXML(doc, opts, ss...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func signJWS(t testing.TB, body []byte, names ...string) string {
	t.Helper()
	var parts []string
	for _, n := range names {
		s, err := signing.SignJWS(body, "", loadSigner(t, n))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

var both = []string{"chu-tai-khoan", "ke-toan-truong"}

// replaceOnce replaces the first old in s with new and fails when absent.
func replaceOnce(t testing.TB, s []byte, old, new string) []byte {
	t.Helper()
	if !strings.Contains(string(s), old) {
		t.Fatalf("%q not found in the document", old)
	}
	return []byte(strings.Replace(string(s), old, new, 1))
}
