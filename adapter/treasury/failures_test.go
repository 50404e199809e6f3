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
			_, err := c.SendDocument(context.Background(), req.Key(), req)
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

func TestUnreachable(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t)
	e.srv.Close() // connection refused from now on
	req := document("D-1")
	_, err := e.client.SendDocument(context.Background(), req.Key(), req)
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
			_, err = c.SendDocument(ctx, req.Key(), req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == context.Canceled && (errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnavailable)) {
				t.Errorf("cancellation reported as %v", err)
			}
		})
	}
}
