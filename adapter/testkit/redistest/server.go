package redistest

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

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
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("no redis-server on PATH (install the Debian package redis-server): %v", err)
	}
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	s := &server{exited: make(chan struct{}), out: new(bytes.Buffer), dir: dir,
		url: "redis://127.0.0.1:" + strconv.Itoa(port) + "/0", port: port}
	s.cmd = exec.Command(bin, append([]string{"--save", "", "--appendonly", "no", "--port", strconv.Itoa(port),
		"--bind", "127.0.0.1", "--dir", dir}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	dieWithParent(s.cmd)
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // see startOn
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.stop(); err != nil {
			tb.Error(err)
		}
		_ = os.RemoveAll(dir)
	})
	deadline := time.Now().Add(startTimeout)
	for ping(s.url, probeTimeout) != nil {
		select {
		case <-s.exited:
			tb.Fatalf("redis-server on port %d exited: %s", port, lastLine(s.out.String()))
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redis-server on port %d did not answer within %v", port, startTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling a process we started: there is no event to wait on
	}
	c, err := newClient(s.url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return s, c
}
