// Package redistest finds a Redis for tests: the server at REDIS_URL if set,
// else one answering on 127.0.0.1:6379, else a throwaway redis-server (the
// Debian package redis-server) that it starts on a free port and stops when
// the package's tests end. A test that needs Redis fails, never skips, when
// none of these works.
//
// Packages that use it call Main from TestMain, so a server it started is
// stopped after the last test:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
// Set DVC_TEST_REDIS_FORCE_START=1 to ignore REDIS_URL and 127.0.0.1:6379 and
// always start a throwaway server (how the start path itself is tested).
//
// Each test takes its own key prefix from Prefix; the keys under it are
// deleted when the test ends.
package redistest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ForceStartEnv names the variable that forces a throwaway server.
const ForceStartEnv = "DVC_TEST_REDIS_FORCE_START"

const (
	localAddr    = "127.0.0.1:6379"
	probeTimeout = 300 * time.Millisecond
	startTimeout = 5 * time.Second
	stopTimeout  = 5 * time.Second
)

var (
	mu      sync.Mutex
	looked  bool
	url     string
	findErr error
	started *server
	inMain  bool // set by Main before any test runs
)

// Main runs the package's tests and stops the throwaway server, if one was
// started. Call it from TestMain; it does not return.
func Main(m *testing.M) {
	inMain = true
	code := m.Run()
	mu.Lock()
	if started != nil {
		if err := started.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "redistest:", err)
		}
		started = nil
	}
	stopShared()
	mu.Unlock()
	os.Exit(code)
}

// URL returns the address of a Redis that answers, as a redis:// URL. It
// looks once per test binary; when nothing works it fails tb.
func URL(tb testing.TB) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if !looked {
		url, findErr = find()
		looked = true
	}
	if findErr != nil {
		tb.Fatalf("redistest: no Redis for the tests: %v", findErr)
	}
	return url
}

// Client returns a client of the test Redis, closed when tb ends.
func Client(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	c, err := newClient(URL(tb))
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Prefix returns a key prefix of its own for tb ("test:<random>:", without
// braces so that the keys' own hash tags stay in force) and deletes every
// key under it when tb ends.
func Prefix(tb testing.TB) string {
	tb.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	p := "test:" + hex.EncodeToString(b[:]) + ":"
	c, err := newClient(URL(tb))
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(func() {
		defer func() { _ = c.Close() }()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := deleteKeys(ctx, c, p); err != nil {
			tb.Errorf("redistest: deleting the keys under %s: %v", p, err)
		}
	})
	return p
}

// deleteKeys deletes every key that starts with prefix on a single server
// (SCAN MATCH, then one UNLINK per key so no command spans hash slots).
func deleteKeys(ctx context.Context, c redis.UniversalClient, prefix string) error {
	it := c.Scan(ctx, 0, globEscape(prefix)+"*", 1000).Iterator()
	var keys []string
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Unlink(ctx, k)
			}
			return nil
		})
		keys = keys[:0]
		return err
	}
	for it.Next(ctx) {
		if keys = append(keys, it.Val()); len(keys) == 1000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	return flush()
}

// globEscape quotes the characters SCAN MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func newClient(u string) (redis.UniversalClient, error) {
	opts, err := redis.ParseURL(u)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", u, err)
	}
	return redis.NewClient(opts), nil
}

// find picks the Redis for this test binary (called with mu held).
func find() (string, error) {
	if os.Getenv(ForceStartEnv) == "" {
		if u := os.Getenv("REDIS_URL"); u != "" {
			if err := ping(u, 2*time.Second); err != nil {
				return "", fmt.Errorf("REDIS_URL=%s does not answer PING: %w", u, err)
			}
			return u, nil
		}
		local := "redis://" + localAddr + "/0"
		if ping(local, probeTimeout) == nil {
			return local, nil
		}
	}
	why := "none at REDIS_URL or " + localAddr
	if os.Getenv(ForceStartEnv) != "" {
		why = ForceStartEnv + " is set"
	}
	if !inMain {
		return "", errors.New(why + ", and starting redis-server needs redistest.Main in the package's TestMain")
	}
	s, err := start()
	if err != nil {
		return "", fmt.Errorf("%s: %w", why, err)
	}
	started = s
	return s.url, nil
}

// ping reports whether the server at u answers PING within timeout.
func ping(u string, timeout time.Duration) error {
	opts, err := redis.ParseURL(u)
	if err != nil {
		return err
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = timeout, timeout, timeout
	opts.MaxRetries, opts.DialerRetries = -1, 1
	c := redis.NewClient(opts)
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Ping(ctx).Err()
}

// server is a redis-server this package started.
type server struct {
	cmd    *exec.Cmd
	exited chan struct{}
	out    *bytes.Buffer // stdout and stderr; read only after exited
	dir    string
	url    string
	port   int
}

// serverBin finds redis-server on PATH.
func serverBin() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("no redis-server on PATH (install the Debian package redis-server): %w", err)
	}
	return bin, nil
}

// start runs a throwaway redis-server on a free port, trying a few ports in
// case another process takes the one chosen between probe and start.
func start() (*server, error) {
	bin, err := serverBin()
	if err != nil {
		return nil, fmt.Errorf("%w (or set REDIS_URL)", err)
	}
	var errs []error
	for range 3 {
		s, err := startOn(bin)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("starting redis-server (Debian package redis-server): %w", errors.Join(errs...))
}

func startOn(bin string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, err
	}
	s, err := spawn(bin, serverArgs(port, dir), dir, "redis://127.0.0.1:"+strconv.Itoa(port)+"/0")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s.port = port
	return s, nil
}

// serverArgs is the command line of a throwaway server: no persistence,
// loopback only, its files in dir.
func serverArgs(port int, dir string, more ...string) []string {
	return append([]string{"--save", "", "--appendonly", "no", "--port", strconv.Itoa(port),
		"--bind", "127.0.0.1", "--dir", dir}, more...)
}

// spawn runs redis-server bin with args in dir and returns once it answers
// at url. A server that exits first, or does not answer within
// startTimeout, is ended and the error says why; dir is the caller's to
// remove.
func spawn(bin string, args []string, dir, url string) (*server, error) {
	s := &server{exited: make(chan struct{}), out: new(bytes.Buffer), dir: dir, url: url}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	dieWithParent(s.cmd)
	started := make(chan error, 1)
	go func() {
		// Start and Wait on one locked thread that ends only with the
		// server (see dieWithParent); the lock is deliberately never undone.
		runtime.LockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	where := strings.TrimSuffix(strings.TrimPrefix(url, "redis://"), "/0")
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("redis-server on %s exited: %s", where, lastLine(s.out.String()))
		default:
		}
		if ping(url, probeTimeout) == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			_ = s.cmd.Process.Kill()
			<-s.exited
			return nil, fmt.Errorf("redis-server on %s did not answer within %v", where, startTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling a process we started: there is no event to wait on
	}
}

// stop ends the server (SIGTERM, then SIGKILL) and removes its directory.
func (s *server) stop() error {
	defer func() { _ = os.RemoveAll(s.dir) }()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	return fmt.Errorf("redis-server (pid %d) ignored SIGTERM for %v and was killed", s.cmd.Process.Pid, stopTimeout)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// ForProgram finds a Redis by the same rules as URL, for a test tool that is
// not a test binary (cmd/dvc-bench): REDIS_URL, else 127.0.0.1:6379, else a
// throwaway redis-server on a free port. stop ends a server it started (a
// no-op otherwise) and must be called before the program exits.
func ForProgram() (u string, stop func() error, err error) {
	mu.Lock()
	defer mu.Unlock()
	inMain = true
	if !looked {
		url, findErr = find()
		looked = true
	}
	if findErr != nil {
		return "", nil, fmt.Errorf("redistest: %w", findErr)
	}
	return url, func() error {
		mu.Lock()
		defer mu.Unlock()
		if started == nil {
			return nil
		}
		err := started.stop()
		started = nil
		return err
	}, nil
}

// DeletePrefix deletes every key under prefix on the Redis at u.
func DeletePrefix(ctx context.Context, u, prefix string) error {
	c, err := newClient(u)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	return deleteKeys(ctx, c, prefix)
}
