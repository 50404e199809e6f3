package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/httpapi"
)

// holdLarge starts a submission with a declared length over the threshold
// whose body never finishes until the returned function is called: the
// handler holds its slot while it waits for the rest.
func holdLarge(t *testing.T, url string, size int64) (release func()) {
	t.Helper()
	return holdBody(t, "POST", url, size)
}

// holdBody is holdLarge with any method.
func holdBody(t *testing.T, method, url string, size int64) (release func()) {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(method, url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/xml")
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}()
	if _, err := pw.Write([]byte("<a>")); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = pw.CloseWithError(errors.New("released"))
			<-done
		})
	}
	t.Cleanup(release) // before the server's Close, which waits for the request
	return release
}

// unsized hides a reader's length, so the client sends it chunked.
type unsized struct{ io.Reader }

func TestLargeBodiesAreCapped(t *testing.T) {
	const threshold = 1024
	h := newServer(t, func(o *httpapi.Options) {
		o.LargeBodies = httpapi.LargeBodyLimits{Bytes: threshold, Concurrency: 2, Wait: 20 * time.Millisecond}
	})
	dossiers := h.url + "/v1/procedures/chi-thuong-xuyen/dossiers"
	validate := dossiers + ":validate"
	large := bytes.Repeat([]byte("x"), 4*threshold)
	post := func(url string, body io.Reader) *http.Request {
		req, err := http.NewRequest("POST", url, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "text/plain")
		return req
	}

	// Before the slots are taken, a large body is read and judged.
	resp, body := do(t, post(dossiers, bytes.NewReader(large)))
	wantProblem(t, resp, body, 415, "unsupported-media-type")

	releases := []func(){holdLarge(t, dossiers, 8*threshold), holdLarge(t, validate, 8*threshold)}
	// Both holders take their slot in their own time: poll until a third
	// large request finds none.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body = do(t, post(dossiers, bytes.NewReader(large)))
		if resp.StatusCode == http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
	}
	wantProblem(t, resp, body, 503, "server-busy")
	if ra := resp.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}

	tests := []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"large validation", post(validate, bytes.NewReader(large)), 503, "server-busy"},
		{"large withdrawal", post(dossiers+"/G09.20-20260609-0000001/withdrawal", bytes.NewReader(large)), 503, "server-busy"},
		{"large body of unknown length, refused once past the threshold", post(dossiers, unsized{bytes.NewReader(large)}), 503, "server-busy"},
		{"small body passes", post(dossiers, bytes.NewReader(large[:threshold])), 415, "unsupported-media-type"},
		{"small body of unknown length passes", post(dossiers, unsized{bytes.NewReader(large[:threshold/2])}), 415, "unsupported-media-type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.req)
			wantProblem(t, resp, body, tt.status, tt.code)
		})
	}

	for _, r := range releases {
		r()
	}
	// The slots are given back: large bodies are read again.
	resp, body = do(t, post(dossiers, unsized{bytes.NewReader(large)}))
	wantProblem(t, resp, body, 415, "unsupported-media-type")
	resp, body = do(t, post(validate, bytes.NewReader(large)))
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"code":"unsupported-media-type"`)) {
		t.Errorf("validation after release: status %d, body %s; want 200 with the unsupported-media-type report", resp.StatusCode, body)
	}
}

// TestUploadsAreCapped: attachment uploads over the threshold are read
// LargeBodyLimits.Uploads at a time, in slots of their own: a full upload
// cap answers 503 server-busy to another large upload and stores nothing,
// while small uploads and large submissions go on; a full submission cap
// does not hold uploads back.
func TestUploadsAreCapped(t *testing.T) {
	const threshold = 1024
	h := newServer(t, func(o *httpapi.Options) {
		o.LargeBodies = httpapi.LargeBodyLimits{Bytes: threshold, Concurrency: 1, Wait: 20 * time.Millisecond, Uploads: 2}
	})
	dossiers := h.url + "/v1/procedures/chi-thuong-xuyen/dossiers"
	put := func(data []byte, sized bool) *http.Request {
		var body io.Reader = bytes.NewReader(data)
		if !sized {
			body = unsized{body}
		}
		sum := sha256.Sum256(data)
		req, err := http.NewRequest("PUT", h.url+"/v1/attachments/"+hex.EncodeToString(sum[:]), body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/pdf")
		return req
	}
	file := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	wantStored := func(t *testing.T, req *http.Request, status int) {
		t.Helper()
		resp, body := do(t, req)
		if resp.StatusCode != status {
			t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
		}
	}
	largeSubmission := func() *http.Request {
		req, err := http.NewRequest("POST", dossiers, bytes.NewReader(file(4*threshold, 'x')))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "text/plain")
		return req
	}

	wantStored(t, put(file(4*threshold, 'a'), true), http.StatusCreated)

	// The submissions' only slot is taken: uploads still go.
	releaseSubmission := holdLarge(t, dossiers, 8*threshold)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := do(t, largeSubmission())
		if resp.StatusCode == http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
	}
	wantStored(t, put(file(4*threshold, 'b'), true), http.StatusCreated)
	releaseSubmission()

	holders := []func(){
		holdBody(t, "PUT", h.url+"/v1/attachments/"+strings.Repeat("0", 64), 8*threshold),
		holdBody(t, "PUT", h.url+"/v1/attachments/"+strings.Repeat("1", 64), 8*threshold),
	}
	// Until both holders hold their slots an upload may still pass: each
	// try sends other bytes, so that the one refused is known to be new.
	var resp *http.Response
	var body, refused []byte
	deadline = time.Now().Add(10 * time.Second)
	for try := 0; ; try++ {
		refused = append(file(4*threshold-8, 'c'), fmt.Sprintf("%08d", try)...)
		resp, body = do(t, put(refused, true))
		if resp.StatusCode == http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
	}
	wantProblem(t, resp, body, 503, "server-busy")
	if ra := resp.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
	t.Run("large upload of unknown length, refused once past the threshold", func(t *testing.T) {
		resp, body := do(t, put(file(4*threshold, 'd'), false))
		wantProblem(t, resp, body, 503, "server-busy")
	})
	t.Run("small upload passes", func(t *testing.T) {
		wantStored(t, put(file(threshold, 'e'), true), http.StatusCreated)
	})
	t.Run("large submission passes", func(t *testing.T) {
		resp, body := do(t, largeSubmission())
		wantProblem(t, resp, body, 415, "unsupported-media-type")
	})

	for _, r := range holders {
		r()
	}
	// The refused uploads stored nothing: each is new once the slots are back.
	wantStored(t, put(refused, true), http.StatusCreated)
	wantStored(t, put(file(4*threshold, 'd'), false), http.StatusCreated)
	wantStored(t, put(file(4*threshold, 'a'), true), http.StatusOK)
}
