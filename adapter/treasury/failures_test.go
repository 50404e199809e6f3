package treasury

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/upstream"
)

func TestServerFailures(t *testing.T) {
	t.Parallel()
	answer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"500", answer(500, `oops`), ErrUnavailable},
		{"502", answer(502, ``), ErrUnavailable},
		{"503", answer(503, `{"reasonCode":"MAINTENANCE"}`), ErrUnavailable},
		{"429", answer(429, ``), ErrUnavailable},
		{"504 from a gateway", answer(504, ``), ErrTimeout},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, ErrProtocol},
		{"404 on send", answer(404, `{"reasonCode":"NOT_FOUND"}`), ErrProtocol},
		{"201 with garbage", answer(201, `<html>`), ErrProtocol},
		{"201 without id", answer(201, `{"status":"RECEIVED"}`), ErrProtocol},
		{"422 without reason", answer(422, `{}`), ErrProtocol},
		{"oversized answer", answer(201, `{"documentId":"`+strings.Repeat("x", 2<<20)+`"}`), ErrProtocol},
		{"409", answer(409, ``), ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := stubServer(t, tt.handler)
			c := newTestClient(t, srv.URL, newFakeClock())
			req := document("D-1")
			_, err := c.SendDocument(context.Background(), req.Key(), req.Map())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, other := range []error{ErrUnavailable, ErrTimeout, ErrProtocol} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("err = %v is also %v", err, other)
				}
			}
		})
	}
}

// A look-up's 404 is "no such document" only when the treasury says so
// (reasonCode NOT_FOUND); a 404 from a proxy or a gateway being redeployed
// is the treasury unavailable, or a supplement could go after a withdrawal
// the treasury holds.
func TestLookupNotFoundIsTheTreasurys(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		body string
		want error
	}{
		{`{"reasonCode":"NOT_FOUND","message":"no such document"}`, ErrNotFound},
		{`<html><body>404 Not Found</body></html>`, ErrUnavailable},
		{`{"reasonCode":"SOMETHING_ELSE"}`, ErrUnavailable},
	} {
		srv := stubServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(tt.body))
		})
		c := newTestClient(t, srv.URL, newFakeClock())
		_, err := c.FindByKey(context.Background(), document("D-1").Key())
		if !errors.Is(err, tt.want) || (tt.want != ErrNotFound && errors.Is(err, ErrNotFound)) {
			t.Errorf("404 %s: %v, want %v", tt.body, err, tt.want)
		}
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t)
	e.srv.Close() // connection refused from now on
	req := document("D-1")
	_, err := e.client.SendDocument(context.Background(), req.Key(), req.Map())
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if _, err := e.client.FindByKey(context.Background(), req.Key()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("FindByKey err = %v, want ErrUnavailable", err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	// hang answers nothing until the client goes away or the test ends. It reads the body
	// first: the server notices a client leaving only once the body is consumed.
	hang := func(release chan struct{}) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	}
	tests := []struct {
		name    string
		hangAll bool // login hangs too
		timeout time.Duration
		ctx     func() (context.Context, context.CancelFunc)
		want    error
	}{
		{"config timeout", false, 50 * time.Millisecond, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, ErrTimeout},
		{"config timeout during login", true, 50 * time.Millisecond, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, ErrTimeout},
		{"caller deadline", false, time.Minute, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, ErrTimeout},
		{"caller deadline already past", false, time.Minute, func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Unix(0, 0))
		}, ErrTimeout},
		{"caller cancels", false, time.Minute, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			var srv *httptest.Server
			if tt.hangAll {
				srv = httptestServer(t, hang(release))
			} else {
				srv = stubServer(t, hang(release))
			}
			t.Cleanup(func() { close(release) }) // runs before the server's Close
			c, err := New(Config{BaseURL: srv.URL, ClientID: "a", ClientSecret: "b", Timeout: tt.timeout}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := tt.ctx()
			defer cancel()
			req := document("D-1")
			_, err = c.SendDocument(ctx, req.Key(), req.Map())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == context.Canceled && (errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnavailable)) {
				t.Errorf("cancellation reported as %v", err)
			}
		})
	}
}

// Classify reads what each kind of treasury answer says about the treasury's health.
func TestClassify(t *testing.T) {
	t.Parallel()
	answer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
	}
	send := func(c *Client, ctx context.Context) error {
		req := document("D-1")
		_, err := c.SendDocument(ctx, req.Key(), req.Map())
		return err
	}
	lookup := func(c *Client, ctx context.Context) error {
		_, err := c.FindByKey(ctx, document("D-1").Key())
		return err
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		call    func(*Client, context.Context) error
		cancel  bool // the caller gives up before calling
		want    upstream.Outcome
	}{
		{"business refusal", answer(422, `{"reasonCode":"VUOT_DU_TOAN","message":"x"}`), send, false, upstream.Success},
		{"no such document", answer(404, `{"reasonCode":"NOT_FOUND"}`), lookup, false, upstream.Success},
		{"contract violation", answer(400, `{"reasonCode":"INVALID_REQUEST"}`), send, false, upstream.Excluded},
		{"credentials refused", answer(401, `{"reasonCode":"INVALID_TOKEN"}`), send, false, upstream.Excluded},
		{"refused before sending", answer(201, ``), func(c *Client, ctx context.Context) error {
			_, err := c.SendDocument(ctx, "not-a-key", document("D-1").Map())
			return err
		}, false, upstream.Excluded},
		{"caller gone", answer(201, ``), send, true, upstream.Excluded},
		{"a size the gateway refuses", answer(413, `<html>too large</html>`), send, false, upstream.Excluded},
		{"forbidden", answer(403, ``), send, false, upstream.Excluded},
		{"a 422 without its reasonCode", answer(422, `{}`), send, false, upstream.Excluded},
		{"a look-up's 404 that is not the treasury's", answer(404, `<html>not found</html>`), lookup, false, upstream.Failure},
		{"request timeout", answer(408, ``), send, false, upstream.Failure},
		{"unavailable", answer(503, ``), send, false, upstream.Failure},
		{"gateway timeout", answer(504, ``), lookup, false, upstream.Failure},
		{"unexpected answer", answer(201, `<html>`), send, false, upstream.Failure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, stubServer(t, tt.handler).URL, newFakeClock())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			err := tt.call(c, ctx)
			if err == nil {
				t.Fatal("no error")
			}
			if got := Classify(err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", err, got, tt.want)
			}
		})
	}
}
