// Package wirecount counts the writes an HTTP client makes on its
// connections, for tests that hold a client to sending a request at once.
package wirecount

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// conn counts the writes on a connection.
type conn struct {
	net.Conn
	n *atomic.Int64
}

func (c conn) Write(b []byte) (int, error) { c.n.Add(1); return c.Conn.Write(b) }

// Post sends body with hc, whose transport must be an *http.Transport (its
// dialer is replaced), to a test server that reads the body whole, and
// returns how many writes the client made on its connection.
func Post(t testing.TB, hc *http.Client, contentType string, body []byte) int64 {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		_, _ = fmt.Fprint(w, n)
	}))
	defer srv.Close()
	tr, ok := hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("the client's transport is a %T, not an *http.Transport", hc.Transport)
	}
	var writes atomic.Int64
	dial := (&net.Dialer{}).DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return conn{c, &writes}, nil
	}
	resp, err := hc.Post(srv.URL, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(got) != fmt.Sprint(len(body)) {
		t.Fatalf("server read %s bytes, want %d", got, len(body))
	}
	return writes.Load()
}
