package redistest

import (
	"os"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// StartServer starts a redis-server of tb's own on a free port, with args
// added to its command line (e.g. "--maxmemory", "2mb"), for a test that
// needs a server configured otherwise than the shared one. It returns a
// client of it; the client is closed and the server stopped when tb ends.
func StartServer(tb testing.TB, args ...string) redis.UniversalClient {
	tb.Helper()
	_, c := startServer(tb, args...)
	return c
}

// startServer is StartServer, also returning the server (its process).
func startServer(tb testing.TB, args ...string) (*server, redis.UniversalClient) {
	tb.Helper()
	bin, err := serverBin()
	if err != nil {
		tb.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	s, err := spawn(bin, serverArgs(port, dir, args...), dir, "redis://127.0.0.1:"+strconv.Itoa(port)+"/0")
	if err != nil {
		tb.Fatal(err)
	}
	s.port = port
	tb.Cleanup(func() {
		if err := s.stop(); err != nil {
			tb.Error(err)
		}
		_ = os.RemoveAll(dir)
	})
	c, err := newClient(s.url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return s, c
}
