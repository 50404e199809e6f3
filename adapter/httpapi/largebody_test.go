package httpapi_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/httpapi"
)

// holdLarge starts a submission with a declared length over the threshold
// whose body never finishes until the returned function is called: the
// handler holds its slot while it waits for the rest.
func holdLarge(t *testing.T, url string, size int64) (release func()) {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", url, pr)
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
	return func() {
		_ = pw.CloseWithError(errors.New("released"))
		<-done
	}
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
