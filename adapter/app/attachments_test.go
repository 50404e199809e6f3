package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/testkit/fixture"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
	"github.com/kbnn/dvc/adapter/testkit/replay"
)

// scan is a file of a test dossier: fresh random bytes (nothing else
// lists them) under a name and media type.
type scan struct {
	name, mediaType string
	data            []byte
}

func newScan(t *testing.T, name string, size int) scan {
	t.Helper()
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	copy(b, "%PDF-1.4\n")
	return scan{name: name, mediaType: "application/pdf", data: b}
}

func (s scan) sum() string { return attachment.Sum(s.data) }

// withFiles is the chi-thuong-xuyen XML template under code, listing files
// instead of the template's own, signed by both test signers.
func withFiles(t *testing.T, code string, files ...scan) []byte {
	t.Helper()
	return signedTemplateEdited(t, "chi-thuong-xuyen", func(root *etree.Element) {
		root.CreateAttr("Id", "HS-"+code)
		root.FindElement("maHoSo").SetText(code)
		for _, el := range root.SelectElements("dinhKem") {
			root.RemoveChild(el)
		}
		for _, f := range files {
			el := root.CreateElement("dinhKem")
			el.CreateElement("tenTep").SetText(f.name)
			el.CreateElement("loaiTep").SetText(f.mediaType)
			el.CreateElement("kichThuoc").SetText(strconv.Itoa(len(f.data)))
			el.CreateElement("sha256").SetText(f.sum())
		}
	})
}

// withFilesJSON is withFiles in the JSON form, with its X-JWS-Signature.
func withFilesJSON(t *testing.T, code string, files ...scan) ([]byte, string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, "testdata/templates/chi-thuong-xuyen/dossier.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	v["maHoSo"] = code
	var list []any
	for _, f := range files {
		list = append(list, map[string]any{"tenTep": f.name, "loaiTep": f.mediaType, "kichThuoc": len(f.data), "sha256": f.sum()})
	}
	v["dinhKem"] = list
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return body, signJSON(t, body)
}

// uploadedJSON is a JSON submission of withFilesJSON, its files uploaded
// beforehand (PUT /v1/attachments).
func uploadedJSON(t *testing.T, code string, files ...scan) fixture.Case {
	t.Helper()
	body, sig := withFilesJSON(t, code, files...)
	c := fixture.Case{Procedure: "chi-thuong-xuyen", Name: "uploaded", Body: body, Header: http.Header{}}
	c.Header.Set("Content-Type", "application/json")
	c.Header.Set("Authorization", "Bearer dev-portal-token")
	c.Header.Set("X-JWS-Signature", sig)
	return c
}

// related is a submission of body (application/xml) with files as
// multipart/related parts, each named by its SHA-256.
func related(body []byte, files ...scan) fixture.Case {
	c := fixture.Case{Procedure: "chi-thuong-xuyen", Name: "attachments", Body: body, Header: http.Header{}}
	c.Header.Set("Content-Type", "application/xml")
	c.Header.Set("Authorization", "Bearer dev-portal-token")
	for _, f := range files {
		c.Parts = append(c.Parts, fixture.File{ID: f.sum(), ContentType: f.mediaType, Data: f.data})
	}
	return c
}

// put uploads data to PUT /v1/attachments/{sum} and returns the status and
// problem code.
func put(t *testing.T, e *env, sum string, data []byte, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, e.adapter.URL+"/v1/attachments/"+sum, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/pdf")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, answer{body: b}.code()
}

// atTreasury checks that the treasury simulator holds each file byte for
// byte, and that the document sent for code references each by SHA-256,
// name, media type and size, in the dossier's order.
func atTreasury(t *testing.T, e *env, code string, files ...scan) {
	t.Helper()
	for _, f := range files {
		got, ok := e.sim.AttachmentData(f.sum())
		if !ok || !bytes.Equal(got, f.data) {
			t.Fatalf("%s: the treasury holds %d bytes (%v), want the %d sent", f.name, len(got), ok, len(f.data))
		}
	}
	var req struct {
		Attachments []struct {
			SHA256, FileName, MediaType string
			Size                        int
		}
	}
	if err := json.Unmarshal(e.seen.bodies[code], &req); err != nil {
		t.Fatalf("treasury request of %s: %v", code, err)
	}
	if len(req.Attachments) != len(files) {
		t.Fatalf("treasury request of %s lists %d attachments, want %d", code, len(req.Attachments), len(files))
	}
	for i, f := range files {
		a := req.Attachments[i]
		if a.SHA256 != f.sum() || a.FileName != f.name || a.MediaType != f.mediaType || a.Size != len(f.data) {
			t.Fatalf("treasury request of %s, attachment %d: %+v, want %s %s %d bytes", code, i, a, f.name, f.sum(), len(f.data))
		}
	}
}

// Several dossiers, each with two files, reach the treasury with their files
// intact: sent as multipart/related parts (XML) or uploaded first (JSON).
func TestAttachmentsReachTheTreasury(t *testing.T) {
	e := start(t)
	for i := range 3 {
		code := fmt.Sprintf("G09.20-20260609-00031%02d", i)
		a, b := newScan(t, "hop-dong-"+strconv.Itoa(i)+".pdf", 40_000+i), newScan(t, "bien-ban-"+strconv.Itoa(i)+".pdf", 25_000)
		if ans := e.send(t, related(withFiles(t, code, a, b), a, b), ""); ans.status != 202 {
			t.Fatalf("multipart %s: %d %s", code, ans.status, ans.body)
		}
		atTreasury(t, e, code, a, b)
	}
	for i := range 3 {
		code := fmt.Sprintf("G09.20-20260609-00032%02d", i)
		a, b := newScan(t, "hop-dong.pdf", 30_000), newScan(t, "bien-ban.pdf", 12_345+i)
		for _, f := range []scan{a, b} {
			if st, c := put(t, e, f.sum(), f.data, "dev-portal-token"); st != 201 {
				t.Fatalf("upload: %d %s", st, c)
			}
		}
		if ans := e.send(t, uploadedJSON(t, code, a, b), ""); ans.status != 202 {
			t.Fatalf("uploaded then submitted %s: %d %s", code, ans.status, ans.body)
		}
		atTreasury(t, e, code, a, b)
	}
	// JSON in multipart/related: X-JWS-Signature stays on the outer request.
	a, b := newScan(t, "hop-dong.pdf", 5000), newScan(t, "bien-ban.pdf", 6000)
	body, sig := withFilesJSON(t, "G09.20-20260609-0003300", a, b)
	c := related(body, a, b)
	c.Header.Set("Content-Type", "application/json")
	c.Header.Set("X-JWS-Signature", sig)
	if ans := e.send(t, c, ""); ans.status != 202 {
		t.Fatalf("JSON in multipart/related: %d %s", ans.status, ans.body)
	}
	atTreasury(t, e, "G09.20-20260609-0003300", a, b)
	rec, ok, err := e.app.Intake.Dossier(context.Background(), "chi-thuong-xuyen", "G09.20-20260609-0003300")
	if err != nil || !ok || len(rec.Attachments) != 2 || rec.Attachments[0].SHA256 != a.sum() || rec.Attachments[1].TenTep != "bien-ban.pdf" {
		t.Fatalf("dossier record attachments %+v (%v %v)", rec.Attachments, ok, err)
	}
}

// A file missing, altered, of another size than listed, or not listed is
// refused 422 naming each file; nothing reaches the treasury, files
// included.
func TestAttachmentRefusalsSendNothing(t *testing.T) {
	e := start(t)
	a, b := newScan(t, "hop-dong.pdf", 3000), newScan(t, "bien-ban.pdf", 2000)
	forged := scan{name: a.name, mediaType: a.mediaType, data: append([]byte(nil), a.data...)}
	forged.data[100] ^= 1
	tests := []struct {
		name  string
		c     fixture.Case
		code  string
		paths []string
	}{
		{"both missing", related(withFiles(t, "G09.20-20260609-0003401", a, b)), "attachment-missing", []string{"/dinhKem/0", "/dinhKem/1"}},
		{"one missing", related(withFiles(t, "G09.20-20260609-0003402", a, b), b), "attachment-missing", []string{"/dinhKem/0"}},
		{"altered under the listed hash", func() fixture.Case {
			c := related(withFiles(t, "G09.20-20260609-0003403", a, b), forged, b)
			c.Parts[0].ID = a.sum()
			return c
		}(), "attachment-mismatch", []string{"/dinhKem/0/sha256"}},
		{"altered, unnamed", func() fixture.Case {
			c := related(withFiles(t, "G09.20-20260609-0003404", a, b), forged, b)
			c.Parts[0].ID = "part-1@unit.example"
			return c
		}(), "attachment-mismatch", []string{"/dinhKem"}},
	}
	docs, files := e.documentCalls.Load(), len(e.sim.Attachments())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans := e.send(t, tt.c, "")
			if ans.status != 422 || ans.code() != tt.code {
				t.Fatalf("%d %s, want 422 %s", ans.status, ans.body, tt.code)
			}
			var p struct{ Errors []struct{ Path string } }
			_ = json.Unmarshal(ans.body, &p)
			var paths []string
			for _, f := range p.Errors {
				paths = append(paths, f.Path)
			}
			if strings.Join(paths, " ") != strings.Join(tt.paths, " ") {
				t.Fatalf("paths %v, want %v: %s", paths, tt.paths, ans.body)
			}
		})
	}
	if n := e.documentCalls.Load(); n != docs {
		t.Fatalf("%d document calls reached the treasury", n-docs)
	}
	if n := len(e.sim.Attachments()); n != files {
		t.Fatalf("%d files reached the treasury", n-files)
	}
}

// The upload route: 201 then 200 for the same file, 422 for a body that
// does not hash to the path, 404 for a path that is not a hash, 401 without
// a credential, 413 over attachments.maxFileBytes.
func TestUploadRoute(t *testing.T) {
	e := startWith(t, func(c *config.Config) { c.Attachments.MaxFileBytes = 4096 })
	f := newScan(t, "x.pdf", 4096)
	for _, tc := range []struct {
		name, sum string
		data      []byte
		token     string
		status    int
		code      string
	}{
		{"no credential", f.sum(), f.data, "", 401, "unauthorized"},
		{"new", f.sum(), f.data, "dev-portal-token", 201, ""},
		{"again", f.sum(), f.data, "dev-portal-token", 200, ""},
		{"not the body's hash", attachment.Sum([]byte("other")), f.data, "dev-portal-token", 422, "attachment-mismatch"},
		{"upper-case hash", strings.ToUpper(f.sum()), f.data, "dev-portal-token", 404, "not-found"},
		{"over the per-file limit", attachment.Sum(make([]byte, 4097)), make([]byte, 4097), "dev-portal-token", 413, "body-too-large"},
	} {
		if st, code := put(t, e, tc.sum, tc.data, tc.token); st != tc.status || code != tc.code {
			t.Errorf("%s: %d %q, want %d %q", tc.name, st, code, tc.status, tc.code)
		}
	}
}

// Multipart limits: a file over attachments.maxFileBytes or files over
// attachments.maxTotalBytes are 413, more files than attachments.maxParts
// 400 limit-exceeded; nothing reaches the treasury.
func TestMultipartLimits(t *testing.T) {
	e := startWith(t, func(c *config.Config) {
		c.Attachments.MaxFileBytes, c.Attachments.MaxTotalBytes, c.Attachments.MaxParts = 2048, 3072, 2
	})
	big, a, b, c3 := newScan(t, "big.pdf", 2049), newScan(t, "a.pdf", 1600), newScan(t, "b.pdf", 1600), newScan(t, "c.pdf", 10)
	tests := []struct {
		name   string
		c      fixture.Case
		status int
		code   string
	}{
		{"file over the per-file limit", related(withFiles(t, "G09.20-20260609-0003501", big), big), 413, "body-too-large"},
		{"files over the total", related(withFiles(t, "G09.20-20260609-0003502", a, b), a, b), 413, "body-too-large"},
		{"too many files", related(withFiles(t, "G09.20-20260609-0003503", c3, c3, c3), c3, c3, c3), 400, "limit-exceeded"},
	}
	docs := e.documentCalls.Load()
	for _, tt := range tests {
		if ans := e.send(t, tt.c, ""); ans.status != tt.status || ans.code() != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.name, ans.status, ans.body, tt.status, tt.code)
		}
	}
	if e.documentCalls.Load() != docs || len(e.sim.Attachments()) != 0 {
		t.Fatal("a refused request reached the treasury")
	}
	if ans := e.send(t, related(withFiles(t, "G09.20-20260609-0003504", a), a), ""); ans.status != 202 {
		t.Fatalf("control within the limits: %d %s", ans.status, ans.body)
	}
}

// The same submission sent again is replayed: one treasury document, each
// file uploaded once.
func TestReplayedSubmissionUploadsNothingMore(t *testing.T) {
	e := start(t)
	a, b := newScan(t, "hop-dong.pdf", 7000), newScan(t, "bien-ban.pdf", 8000)
	c := related(withFiles(t, "G09.20-20260609-0003601", a, b), a, b)
	first := e.send(t, c, "replay-attachments-1")
	again := e.send(t, c, "replay-attachments-1")
	if first.status != 202 || again.status != 202 || again.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(first.body, again.body) {
		t.Fatalf("first %d, again %d %v", first.status, again.status, again.header)
	}
	if n := e.docsFor(t, "G09.20-20260609-0003601"); n != 1 {
		t.Fatalf("%d treasury documents, want 1", n)
	}
	for _, at := range e.sim.Attachments() {
		if (at.SHA256 == a.sum() || at.SHA256 == b.sum()) && at.Uploads != 1 {
			t.Fatalf("%s uploaded %d times, want once", at.SHA256, at.Uploads)
		}
	}
}

// In production mode the uploads live in Redis beside the other stores.
func TestUploadsInRedis(t *testing.T) {
	u, err := url.Parse(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	prefix := redistest.Prefix(t)
	e := startWith(t, func(c *config.Config) {
		c.Store.Kind = "redis"
		c.Store.Redis.Addrs = []string{u.Host}
		c.Store.Redis.KeyPrefix = prefix
	})
	a := newScan(t, "hop-dong.pdf", 9000)
	if st, code := put(t, e, a.sum(), a.data, "dev-portal-token"); st != 201 {
		t.Fatalf("upload: %d %s", st, code)
	}
	if n, err := redistest.Client(t).Exists(context.Background(), prefix+"att:{"+a.sum()+"}").Result(); err != nil || n != 1 {
		t.Fatalf("the upload is not in Redis under its hash: %d %v", n, err)
	}
	if ans := e.send(t, related(withFiles(t, "G09.20-20260609-0003701", a)), ""); ans.status != 202 {
		t.Fatalf("submitted after the upload: %d %s", ans.status, ans.body)
	}
	atTreasury(t, e, "G09.20-20260609-0003701", a)
}

// The replay tool sends every fixture as its folder says (uploads first,
// parts as multipart/related) and finds each accepted case's files at the
// treasury.
func TestReplayToolSendsAttachments(t *testing.T) {
	e := start(t)
	var stdout, stderr strings.Builder
	args := []string{"-addr", e.adapter.URL, "-treasury", e.treasury.URL, "-fixtures", filepath.Join(repo, "testdata/fixtures")}
	if got := replay.Main(t.Context(), args, &stdout, &stderr); got != replay.ExitOK {
		t.Fatalf("dvc-replay exit %d\n%s\n%s", got, stdout.String(), stderr.String())
	}
}

// The files are uploaded (the adapter set to upload every file, however
// small), then the document call fails: the retry uploads them again
// (idempotent, nothing new at the treasury) and the dossier ends with one
// document referencing them.
func TestFailureBetweenUploadAndSendIsHarmless(t *testing.T) {
	var down *atomic.Bool
	var failAfterUpload atomic.Bool
	e := startOpts(t, func(c *config.Config) {
		c.Treasury.Resilience.Retries = -1
		c.Treasury.InlineAttachmentBytes = -1
	}, Options{Hook: func(step string) {
		if step == "uploaded" && failAfterUpload.Load() {
			down.Store(true) // the treasury goes down between the uploads and the document
		}
	}})
	down = e.treasuryDown
	a, b := newScan(t, "hop-dong.pdf", 4000), newScan(t, "bien-ban.pdf", 3000)
	c := related(withFiles(t, "G09.20-20260609-0003801", a, b), a, b)
	failAfterUpload.Store(true)
	if ans := e.send(t, c, "upload-then-fail"); ans.status != 503 || ans.code() != "treasury-unavailable" {
		t.Fatalf("document call down: %d %s", ans.status, ans.body)
	}
	if _, ok := e.sim.AttachmentData(a.sum()); !ok {
		t.Fatal("the files were not uploaded before the document call")
	}
	if n := e.docsFor(t, "G09.20-20260609-0003801"); n != 0 {
		t.Fatalf("%d treasury documents after the failed call", n)
	}
	failAfterUpload.Store(false)
	down.Store(false)
	if ans := e.send(t, c, "upload-then-fail"); ans.status != 202 {
		t.Fatalf("retry: %d %s", ans.status, ans.body)
	}
	if n := e.docsFor(t, "G09.20-20260609-0003801"); n != 1 {
		t.Fatalf("%d treasury documents, want 1", n)
	}
	for _, at := range e.sim.Attachments() {
		if at.SHA256 == a.sum() && at.Uploads != 2 {
			t.Fatalf("%s uploaded %d times, want twice (once per attempt)", at.SHA256, at.Uploads)
		}
	}
	atTreasury(t, e, "G09.20-20260609-0003801", a, b)
}

// The signature is checked before any file: a tampered dossier with wrong
// files is signature-invalid, not an attachment problem, and no file is kept.
func TestSignatureBeforeAttachments(t *testing.T) {
	e := start(t)
	a := newScan(t, "hop-dong.pdf", 3000)
	body := withFiles(t, "G09.20-20260609-0003901", a)
	body = bytes.Replace(body, []byte("<tongSoTien>187500000</tongSoTien>"), []byte("<tongSoTien>987500000</tongSoTien>"), 1)
	junk := newScan(t, "x.pdf", 2000)
	if ans := e.send(t, related(body, junk), ""); ans.status != 400 || ans.code() != "signature-invalid" {
		t.Fatalf("%d %s, want 400 signature-invalid", ans.status, ans.body)
	}
	if _, err := e.app.Intake.Attachments().Get(context.Background(), junk.sum()); err == nil {
		t.Fatal("a file of an unverified dossier was kept")
	}
	if len(e.sim.Attachments()) != 0 {
		t.Fatal("a file of an unverified dossier reached the treasury")
	}
}

// Uploads stop at attachments.maxStoredBytes: the upload that would take
// the store over it is 507 attachment-store-full, in memory and in Redis,
// and a file already kept may still be uploaded again.
func TestAttachmentStoreFull(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		file := func(i byte) []byte { return bytes.Repeat([]byte{'%', 'P', 'D', 'F', i}, 12<<10) } // 60 KiB
		for i := range byte(2) {
			if status, code := put(t, e, attachment.Sum(file(i)), file(i), "dev-portal-token"); status != http.StatusCreated {
				t.Fatalf("upload %d: %d %s", i, status, code)
			}
		}
		if status, code := put(t, e, attachment.Sum(file(2)), file(2), "dev-portal-token"); status != http.StatusInsufficientStorage || code != "attachment-store-full" {
			t.Fatalf("upload over attachments.maxStoredBytes: %d %s, want 507 attachment-store-full", status, code)
		}
		if status, code := put(t, e, attachment.Sum(file(0)), file(0), "dev-portal-token"); status != http.StatusOK {
			t.Fatalf("upload again of a kept file: %d %s", status, code)
		}
	}, func(c *config.Config) {
		// Room for two files, their per-file overhead (attachment.FileOverhead) and the files the
		// environment holds already, not for a third.
		c.Attachments.MaxFileBytes, c.Attachments.MaxTotalBytes, c.Attachments.MaxStoredBytes = 64<<10, 128<<10, 140<<10
	})
}

// A dossier listing an uploaded file over limits.largeBodyBytes sends it on
// to the treasury in a slot of limits.uploadConcurrency, as an upload that
// large is read in one (both are held whole in memory): with every slot
// held, the submission is 503 server-busy, sends nothing and keeps nothing,
// while a dossier listing only small uploads goes on; once a slot is free,
// the same request goes through.
func TestStoredFilesAreSentOnInUploadSlots(t *testing.T) {
	const threshold = 4096
	e := startWith(t, func(c *config.Config) {
		c.Limits.LargeBodyBytes, c.Limits.UploadConcurrency, c.Limits.LargeBodyWait = threshold, 1, 50*time.Millisecond
	})
	big, small := newScan(t, "hop-dong.pdf", 5*threshold), newScan(t, "bien-ban.pdf", threshold/2)
	other := newScan(t, "bien-ban-2.pdf", threshold)
	for _, f := range []scan{big, small, other} {
		if st, c := put(t, e, f.sum(), f.data, "dev-portal-token"); st != 201 {
			t.Fatalf("upload: %d %s", st, c)
		}
	}
	const code, smallCode = "G09.20-20260609-0003400", "G09.20-20260609-0003401"
	sub := uploadedJSON(t, code, big, small)

	// The only upload slot is held by an upload whose body never ends.
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPut, e.adapter.URL+"/v1/attachments/"+strings.Repeat("0", 64), pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 4 * threshold
	req.Header.Set("Authorization", "Bearer dev-portal-token")
	req.Header.Set("Content-Type", "application/pdf")
	held := make(chan struct{})
	go func() {
		defer close(held)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}()
	var once sync.Once
	release := func() { once.Do(func() { _ = pw.CloseWithError(errors.New("released")); <-held }) }
	t.Cleanup(release)
	if _, err := pw.Write([]byte("%PDF")); err != nil {
		t.Fatal(err)
	}
	// Until the holder has its slot a large upload may still pass: each
	// try sends other bytes.
	deadline := time.Now().Add(10 * time.Second)
	for try := 0; ; try++ {
		probe := newScan(t, "probe.pdf", 2*threshold)
		st, _ := put(t, e, probe.sum(), probe.data, "dev-portal-token")
		if st == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the holder never held the upload slot (last probe %d)", st)
		}
	}

	ans := e.send(t, sub, "")
	if ans.status != 503 || ans.code() != "server-busy" || ans.header.Get("Retry-After") != "1" {
		t.Fatalf("every upload slot held: %d %s (Retry-After %q), want 503 server-busy",
			ans.status, ans.body, ans.header.Get("Retry-After"))
	}
	if _, ok := e.sim.AttachmentData(big.sum()); ok {
		t.Fatal("the large file reached the treasury without a slot")
	}
	if _, ok := e.seen.bodies[code]; ok {
		t.Fatal("the document reached the treasury without its file")
	}
	if ans := e.send(t, uploadedJSON(t, smallCode, small, other), ""); ans.status != 202 {
		t.Fatalf("a dossier of small uploads, slots held: %d %s", ans.status, ans.body)
	}
	atTreasury(t, e, smallCode, small, other)
	// A request over the threshold holds a slot of the large bodies: it
	// sends its large upload on in that slot, without waiting for uploads.
	const largeCode = "G09.20-20260609-0003402"
	part := newScan(t, "phu-luc.pdf", 2*threshold)
	body, sig := withFilesJSON(t, largeCode, big, part)
	large := related(body, part)
	large.Header.Set("Content-Type", "application/json")
	large.Header.Set("X-JWS-Signature", sig)
	if ans := e.send(t, large, ""); ans.status != 202 {
		t.Fatalf("a large request listing a large upload, upload slots held: %d %s", ans.status, ans.body)
	}
	atTreasury(t, e, largeCode, big, part)

	release()
	if ans := e.send(t, sub, ""); ans.status != 202 {
		t.Fatalf("with a free slot: %d %s", ans.status, ans.body)
	}
	atTreasury(t, e, code, big, small)
}
