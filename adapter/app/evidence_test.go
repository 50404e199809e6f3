package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/kbnn/dvc/adapter/auditlog"
	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/xmlsig"
)

// get is an authenticated GET on the adapter.
func (e *env) get(t *testing.T, path string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.adapter.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer dev-portal-token")
	return exchange(t, req)
}

// receiptOf reads the receipt of a 202 body.
func receiptOf(t *testing.T, body []byte) auditlog.Receipt {
	t.Helper()
	var a struct {
		Receipt *auditlog.Receipt `json:"receipt"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Receipt == nil {
		t.Fatalf("202 without a receipt: %s", body)
	}
	return *a.Receipt
}

// testVerifier is the verifier key committed beside the test log key.
func testVerifier(t *testing.T) note.Verifier {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "testdata/pki/adapter-log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// verifyProofText checks a C2SP tlog-proof for leafHash with nothing of the
// adapter's code: the text is cut here, the checkpoint opened with
// sumdb/note and the vkey, the inclusion checked with transparency-dev/merkle.
func verifyProofText(t *testing.T, text []byte, index uint64, leafHash []byte, v note.Verifier) {
	t.Helper()
	head, cp, ok := bytes.Cut(text, []byte("\n\n"))
	if !ok {
		t.Fatalf("tlog-proof without a blank line:\n%s", text)
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != "c2sp.org/tlog-proof@v1" || lines[1] != "index "+strconv.FormatUint(index, 10) {
		t.Fatalf("tlog-proof header:\n%s", head)
	}
	var hashes [][]byte
	for _, l := range lines[2:] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != 32 {
			t.Fatalf("proof hash %q", l)
		}
		hashes = append(hashes, h)
	}
	n, err := note.Open(cp, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint signature: %v\n%s", err, cp)
	}
	var c log.Checkpoint
	if _, err := c.Unmarshal([]byte(n.Text)); err != nil {
		t.Fatal(err)
	}
	if c.Origin != v.Name() {
		t.Fatalf("checkpoint origin %q, want %q", c.Origin, v.Name())
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, c.Size, leafHash, hashes, c.Hash); err != nil {
		t.Fatalf("inclusion of %d in %d: %v", index, c.Size, err)
	}
}

// A 202's receipt is checked offline: the entry's bytes hash to the leaf
// hash, the proof verifies against a checkpoint signed by the committed test
// key. A replay is byte-identical (the first receipt) and has its own leaf.
// The treasury got the exact bytes, which still verify.
func TestReceiptVerifiesOffline(t *testing.T) {
	e := startWith(t, func(c *config.Config) { c.Evidence.CheckpointInterval = time.Hour })
	c := fx(t, "chi-thuong-xuyen/valid-xml")
	a := e.send(t, c, "")
	if a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.body)
	}
	rc := receiptOf(t, a.body)
	if sum := sha256.Sum256(c.Body); rc.BodySHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("receipt bodySha256 %s is not the SHA-256 of the body sent", rc.BodySHA256)
	}
	if len(c.Parts) == 0 {
		t.Fatal("valid-xml no longer sends its files as parts: the original below must be the dossier part of a multipart/related body")
	}
	v := testVerifier(t)
	if rc.LogOrigin != v.Name() {
		t.Errorf("receipt origin %q, want %q", rc.LogOrigin, v.Name())
	}
	idx := strconv.FormatUint(rc.LogIndex, 10)
	left, err := os.ReadFile(filepath.Join(e.app.Audit.Dir(), auditlog.VerifierFile))
	committed, _ := os.ReadFile(filepath.Join(repo, "testdata/pki/adapter-log.vkey"))
	if err != nil || !bytes.Equal(left, committed) {
		t.Errorf("the log directory's %s is %q, want the committed verifier key %q (%v)", auditlog.VerifierFile, left, committed, err)
	}

	if p := e.get(t, "/v1/audit/proof/"+idx); p.status != http.StatusNotFound || p.code() != "not-found" {
		t.Fatalf("proof before any checkpoint: %d %s", p.status, p.body)
	}
	entry := e.get(t, "/v1/audit/entries/"+idx)
	if entry.status != http.StatusOK {
		t.Fatalf("entry: %d %s", entry.status, entry.body)
	}
	lh := rfc6962.DefaultHasher.HashLeaf(entry.body)
	if hex.EncodeToString(lh) != rc.LeafHash {
		t.Fatalf("entry hashes to %x, receipt says %s", lh, rc.LeafHash)
	}
	var rec map[string]any
	if err := json.Unmarshal(entry.body, &rec); err != nil {
		t.Fatal(err)
	}
	code, _ := c.DossierCode()
	if rec["status"] != 202.0 || rec["maHoSo"] != code || rec["bodySha256"] != rc.BodySHA256 || rec["treasuryReference"] == "" ||
		rec["caller"] != "portal" || rec["instance"] != "test" {
		t.Errorf("leaf %s", entry.body)
	}

	if err := e.app.Audit.PublishCheckpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	cp := e.get(t, "/v1/audit/checkpoint")
	if cp.status != http.StatusOK || !strings.HasPrefix(cp.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("checkpoint: %d %s", cp.status, cp.header.Get("Content-Type"))
	}
	if _, err := note.Open(cp.body, note.VerifierList(v)); err != nil {
		t.Fatalf("checkpoint does not verify with adapter-log.vkey: %v", err)
	}
	p := e.get(t, "/v1/audit/proof/"+idx)
	if p.status != http.StatusOK {
		t.Fatalf("proof: %d %s", p.status, p.body)
	}
	verifyProofText(t, p.body, rc.LogIndex, lh, v)

	before := e.app.Audit.Size()
	again := e.send(t, c, "")
	if again.status != http.StatusAccepted || !bytes.Equal(again.body, a.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s", again.status, again.body)
	}
	if after := e.app.Audit.Size(); after != before+1 {
		t.Fatalf("the replay appended %d leaves, want 1", after-before)
	}
	replayLeaf, err := e.app.Audit.Entry(before)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(replayLeaf, []byte(`"replayed":true`)) {
		t.Errorf("replay's leaf %s", replayLeaf)
	}

	// The treasury holds the original: the same bytes, which verify.
	var id string
	for _, d := range docsWithID(t, e) {
		if d.DossierCode == code {
			id = d.DocumentID
		}
	}
	if id == "" {
		t.Fatal("no treasury document")
	}
	resp, err := http.Get(e.treasury.URL + "/sim/documents/" + id + "/original")
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(orig, c.Body) || resp.Header.Get("Content-Type") != "application/xml" {
		t.Fatalf("original: %d %q, %d bytes (sent %d)", resp.StatusCode, resp.Header.Get("Content-Type"), len(orig), len(c.Body))
	}
	cfg := testConfig(t, "http://unused")
	ts, err := loadTrust(cfg.Signatures, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := xmlsig.Parse(orig, xmlsig.Limits{MaxDepth: 32, MaxElements: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := xmlsig.NewVerifier(ts, xmlsig.Policy{}).Verify(doc, receipt); err != nil || len(res.Signers) != 2 {
		t.Fatalf("the original the treasury holds does not verify: %v", err)
	}
}

type simDocumentID struct {
	DocumentID  string `json:"documentId"`
	DossierCode string `json:"dossierCode"`
}

func docsWithID(t *testing.T, e *env) []simDocumentID {
	t.Helper()
	resp, err := http.Get(e.treasury.URL + "/sim/documents")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var docs []simDocumentID
	if err := json.NewDecoder(resp.Body).Decode(&docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

// failingDisk makes the evidence log's writes and fsyncs fail once broken.
type failingDisk struct {
	auditlog.File
	broken *atomic.Bool
}

var errDisk = errors.New("disk gone")

func (f failingDisk) Write(b []byte) (int, error) {
	if f.broken.Load() {
		return 0, errDisk
	}
	return f.File.Write(b)
}

func (f failingDisk) Sync() error {
	if f.broken.Load() {
		return errDisk
	}
	return f.File.Sync()
}

func breakableDisk(broken *atomic.Bool) func(string, int, os.FileMode) (auditlog.File, error) {
	return func(name string, flag int, perm os.FileMode) (auditlog.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return failingDisk{File: f, broken: broken}, nil
	}
}

// When the log cannot be written, a submission is answered 503
// audit-unavailable with Retry-After and nothing reaches the treasury; a
// refusal that cannot be logged is 503 too.
func TestEvidenceFailsClosed(t *testing.T) {
	broken := &atomic.Bool{}
	e := startOpts(t, nil, Options{AuditOpenFile: breakableDisk(broken)})
	broken.Store(true)
	for _, name := range []string{"chi-thuong-xuyen/valid-xml", "chi-thuong-xuyen/valid-json", "chi-thuong-xuyen/no-signature"} {
		a := e.send(t, fx(t, name), "")
		if a.status != http.StatusServiceUnavailable || a.code() != "audit-unavailable" || a.header.Get("Retry-After") == "" {
			t.Errorf("%s with the log down: %d %s (Retry-After %q)", name, a.status, a.body, a.header.Get("Retry-After"))
		}
	}
	if n := e.documentCalls.Load(); n != 0 {
		t.Errorf("the treasury got %d document calls while the log was down", n)
	}
}

// A log in the failed state makes /readyz answer 503 naming it, on both
// listeners, so that a load balancer sends submissions elsewhere.
func TestReadyzFailsWithEvidenceLog(t *testing.T) {
	broken := &atomic.Bool{}
	e := startOpts(t, nil, Options{AuditOpenFile: breakableDisk(broken)})
	for _, base := range []string{e.adapter.URL, e.adminSrv.URL} {
		if a := e.getURL(t, base+"/readyz"); a.status != http.StatusOK {
			t.Fatalf("readyz with a healthy log: %d %s", a.status, a.body)
		}
	}
	broken.Store(true)
	if a := e.send(t, fx(t, "chi-thuong-xuyen/valid-xml"), ""); a.status != http.StatusServiceUnavailable {
		t.Fatalf("submission with the log down: %d %s", a.status, a.body)
	}
	broken.Store(false) // the disk recovers; the log stays failed until reopened
	for _, base := range []string{e.adapter.URL, e.adminSrv.URL} {
		a := e.getURL(t, base+"/readyz")
		var r struct{ Status, Reason string }
		_ = json.Unmarshal(a.body, &r)
		if a.status != http.StatusServiceUnavailable || r.Reason != "evidence log unavailable" {
			t.Errorf("readyz with the log failed: %d %s", a.status, a.body)
		}
	}
}

// A multipart/related submission's leaves, whatever its outcome (accepted,
// replayed, refused), name its signed dossier part and archive it: the
// bytes whose SHA-256 the receipt gives and a verifier re-checks.
func TestMultipartEvidenceIsTheDossierPart(t *testing.T) {
	e := startWith(t, func(c *config.Config) { c.Evidence.ArchiveBodies = true })
	ok, bad := fx(t, "chi-thuong-xuyen/valid-xml"), fx(t, "chi-thuong-xuyen/attachment-mismatch")
	if len(ok.Parts) == 0 || len(bad.Parts) == 0 {
		t.Fatal("the cases no longer send parts")
	}
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	check := func(what string, index uint64, body []byte) {
		t.Helper()
		leaf, err := e.app.Audit.Entry(index)
		if err != nil {
			t.Fatal(err)
		}
		r, err := auditlog.ParseLeaf(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if r.BodySHA256 != sum(body) {
			t.Errorf("%s: leaf %d names body %s, want the dossier part's %s", what, index, r.BodySHA256, sum(body))
		}
		got, err := archived(e.app.Audit.Dir(), r.BodySHA256)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("%s: archived body %d bytes (%v), want the dossier part's %d", what, len(got), err, len(body))
		}
	}
	a := e.send(t, ok, "")
	if a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.body)
	}
	rc := receiptOf(t, a.body)
	if rc.BodySHA256 != sum(ok.Body) {
		t.Errorf("receipt bodySha256 %s, want the dossier part's %s", rc.BodySHA256, sum(ok.Body))
	}
	check("accepted", rc.LogIndex, ok.Body)
	n := e.app.Audit.Size()
	if a := e.send(t, ok, ""); a.status != http.StatusAccepted || a.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s", a.status, a.body)
	}
	check("replayed", n, ok.Body)
	n = e.app.Audit.Size()
	if a := e.send(t, bad, ""); a.status != http.StatusUnprocessableEntity || a.code() != "attachment-mismatch" {
		t.Fatalf("attachment-mismatch: %d %s", a.status, a.body)
	}
	check("refused", n, bad.Body)
}

// A delivery the portal took stays delivered when its leaf cannot be
// written: it is not retried (the portal would get it again), and the lost
// leaf is counted in dvc_evidence_failures_total{kind="delivery"}.
func TestDeliveredStaysDeliveredWithoutItsLeaf(t *testing.T) {
	broken := &atomic.Bool{}
	e := startStatusOpts(t, Options{AuditOpenFile: breakableDisk(broken)})
	procedure, code := e.submit(t, "chi-thuong-xuyen/valid-xml")
	e.clock.Advance(time.Minute)
	ev := e.sendStatus(t, code, "ACCEPTED")
	broken.Store(true)
	e.drain(t)
	w := writes(e.received(t, code))
	if len(w) != 2 {
		t.Fatalf("portal writes %v, want the full dossier and the progress once each", w)
	}
	checkNoRepeat(t, e.received(t, code))
	if h := historyOf(t, e.view(t, procedure, code), ev.EventID); h.Delivery != dossier.DeliveryDelivered {
		t.Errorf("the event is %q, want %q", h.Delivery, dossier.DeliveryDelivered)
	}
	m := e.getURL(t, e.adminSrv.URL+"/metrics")
	if !bytes.Contains(m.body, []byte(`dvc_evidence_failures_total{kind="delivery"} 1`+"\n")) {
		t.Errorf("metrics do not count the lost leaf once:\n%s", grepLines(m.body, "dvc_evidence_failures_total"))
	}
}

// grepLines returns the lines of b that contain s.
func grepLines(b []byte, s string) string {
	var out []string
	for _, ln := range strings.Split(string(b), "\n") {
		if strings.Contains(ln, s) {
			out = append(out, ln)
		}
	}
	return strings.Join(out, "\n")
}

// getURL is a GET without credentials.
func (e *env) getURL(t *testing.T, url string) answer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

// A status callback whose leaf cannot be written is answered 503, so the
// treasury sends it again.
func TestCallbackFailsClosed(t *testing.T) {
	broken := &atomic.Bool{}
	e := startStatusOpts(t, Options{AuditOpenFile: breakableDisk(broken)})
	_, code := e.submit(t, "chi-thuong-xuyen/valid-xml")
	broken.Store(true)
	r, err := e.sim.SendEvent(t.Context(), treasurysim.CallbackRequest{DossierCode: code, Status: "ACCEPTED"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Delivered || r.LastResponse != http.StatusServiceUnavailable {
		t.Fatalf("callback with the log down: delivered %v, %d %s", r.Delivered, r.LastResponse, r.LastError)
	}
}

// Every event of a dossier's life has its leaf: the submission (received,
// then accepted), the callback, each delivery attempt, the withdrawal
// (received, then accepted), and a refused request.
func TestEveryEventLogged(t *testing.T) {
	e := startStatus(t)
	_, code := e.submit(t, "chi-thuong-xuyen/valid-xml")
	e.clock.Advance(time.Minute)
	ev := e.sendStatus(t, code, "ACCEPTED")
	e.drain(t)
	if a := e.withdraw(t, wfx(t, "chi-thuong-xuyen/withdrawal-xml"), "", ""); a.status != http.StatusAccepted {
		t.Fatalf("withdrawal: %d %s", a.status, a.body)
	}
	if a := e.send(t, fx(t, "chi-thuong-xuyen/tampered-amount"), ""); a.status != http.StatusBadRequest {
		t.Fatalf("tampered: %d %s", a.status, a.body)
	}
	type kind struct {
		route, code string
		status      int
	}
	got := map[kind]int{}
	if err := auditlog.Scan(e.app.Audit.Dir(), func(ln auditlog.Line) error {
		r, err := auditlog.ParseLeaf(ln.Leaf)
		if err != nil {
			return err
		}
		if r.Route == "POST /v1/callbacks/treasury/status" || r.Route == DeliveryRoute {
			if r.EventID != ev.EventID {
				return nil
			}
		} else if r.MaHoSo != code && r.Status != 400 {
			return nil
		}
		got[kind{r.Route, r.Code, r.Status}]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[kind]int{
		{"POST /v1/procedures/{procedure}/dossiers", "received", 0}:                     1,
		{"POST /v1/procedures/{procedure}/dossiers", "", 202}:                           1,
		{"POST /v1/callbacks/treasury/status", "", 202}:                                 1,
		{DeliveryRoute, "", 200}:                                                        1,
		{"POST /v1/procedures/{procedure}/dossiers/{maHoSo}/withdrawal", "received", 0}: 1,
		{"POST /v1/procedures/{procedure}/dossiers/{maHoSo}/withdrawal", "", 202}:       1,
		{"POST /v1/procedures/{procedure}/dossiers", "signature-invalid", 400}:          1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%+v: %d leaves, want %d (all: %v)", k, got[k], n, got)
		}
	}
}

// archived reads a body from the archive of the log in dir.
func archived(dir, sha string) ([]byte, error) {
	loc, ok, err := auditlog.FindBody(dir, sha)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("body %s not archived", sha)
	}
	return auditlog.ReadBody(loc, sha)
}
