package app

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/testkit/wirecount"
)

// Under a full bulkhead the upstream client reuses its connections: rounds of
// bulkhead concurrent calls dial about bulkhead connections in all, where
// net/http's default transport (two idle connections per host) dials nearly
// bulkhead-2 new ones every round.
func TestUpstreamClientKeepsBulkheadConnections(t *testing.T) {
	const bulkhead, rounds = 16, 6
	var dials atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	run := func(hc *http.Client) int64 {
		dials.Store(0)
		for range rounds {
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range bulkhead {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					resp, err := hc.Get(srv.URL)
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}()
			}
			close(start)
			wg.Wait()
		}
		return dials.Load()
	}

	hc, err := upstreamClient(nil, config.ClientTLS{}, bulkhead, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	got := run(hc)
	hc.CloseIdleConnections()
	// Each round may race a few returns to the idle pool; the bound leaves
	// room for that and still fails a two-per-host pool (about
	// bulkhead + (rounds-1)*(bulkhead-2) = 86 dials).
	if limit := int64(2 * bulkhead); got > limit {
		t.Errorf("upstream client dialled %d connections over %d rounds of %d calls; want at most %d", got, rounds, bulkhead, limit)
	}

	def := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Logf("net/http's default transport dialled %d, the adapter's %d", run(def), got)

	if same, _ := upstreamClient(def, config.ClientTLS{}, bulkhead, nil); same != def {
		t.Error("a client passed in must be used as it is")
	}
}

// A request with a document of some KB leaves in one write, head and body
// together.
func TestUpstreamClientWritesARequestAtOnce(t *testing.T) {
	hc, err := upstreamClient(nil, config.ClientTLS{}, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte(`{"line":"0123456789abcdef"},`), 20<<10/28)
	if n := wirecount.Post(t, hc, "application/json", body); n != 1 {
		t.Errorf("a request of %d bytes took %d writes, want 1", len(body), n)
	}
}
