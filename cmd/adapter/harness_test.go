package main

// Process-level test harness: TestMain builds the adapter (with the
// crashtest hook) and the treasury simulator once, starts the simulator, and
// the tests start, kill and restart adapter processes that share the test
// Redis.
//
// Nothing outlives the test binary: every child runs in its own process
// group, gets SIGKILL when the test binary dies (Pdeathsig, Linux), and a
// small reaper process (this test binary re-executed) kills the groups still
// registered and removes the build directory once the test binary is gone,
// whether it exited, failed, panicked or was killed by -timeout.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/sumdb/note"

	"github.com/kbnn/dvc/adapter/auditlog"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

const (
	// reaperEnv makes the test binary act as the reaper of dir (see reap).
	reaperEnv = "DVC_CRASHTEST_REAPER_DIR"
	// readyTimeout bounds the wait for a started process to answer.
	readyTimeout = 20 * time.Second
	// pollEvery is the readiness polling interval: a process we started has
	// no event to wait on.
	pollEvery = 20 * time.Millisecond
)

// harness is what TestMain prepares for every test.
type harness struct {
	repo       string // repository root, absolute
	dir        string // build directory (binaries, simulator log)
	adapterBin string
	simBin     string
	simURL     string
	sim        *proc

	reaperMu sync.Mutex
	reaper   io.WriteCloser // "+pgid"/"-pgid" lines; closing it ends the reaper
}

var h *harness

func TestMain(m *testing.M) {
	if dir := os.Getenv(reaperEnv); dir != "" {
		reap(dir)
		os.Exit(0)
	}
	var err error
	if h, err = setup(); err != nil {
		fmt.Fprintln(os.Stderr, "cmd/adapter tests:", err)
		if h != nil {
			h.release()
		}
		os.Exit(1)
	}
	redistest.Main(m) // does not return; the reaper stops the simulator and removes h.dir
}

// setup builds both binaries, starts the reaper and the simulator.
func setup() (*harness, error) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(repo, "go.mod")); err != nil {
		return nil, fmt.Errorf("repository root not found from %s: %w", repo, err)
	}
	dir, err := os.MkdirTemp("", "dvc-crashtest-")
	if err != nil {
		return nil, err
	}
	hs := &harness{repo: repo, dir: dir,
		adapterBin: filepath.Join(dir, "adapter"), simBin: filepath.Join(dir, "treasury-sim")}
	if err := hs.startReaper(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := hs.build(); err != nil {
		return hs, err
	}
	port, err := freePort()
	if err != nil {
		return hs, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	hs.simURL = "http://" + addr
	hs.sim, err = hs.start(procSpec{name: "treasury-sim", bin: hs.simBin,
		args: []string{"-addr", addr}, log: filepath.Join(dir, "treasury-sim.log")})
	if err != nil {
		return hs, err
	}
	if err := waitReady(context.Background(), hs.simURL+"/sim/documents", hs.sim); err != nil {
		return hs, fmt.Errorf("treasury simulator: %w\n%s", err, tail(hs.sim.logPath, 20))
	}
	return hs, nil
}

// release ends the reaper's input: it kills what is left and removes h.dir.
func (hs *harness) release() {
	hs.reaperMu.Lock()
	defer hs.reaperMu.Unlock()
	if hs.reaper != nil {
		_ = hs.reaper.Close()
		hs.reaper = nil
	}
}

// build compiles the crashtest adapter and the simulator, in parallel.
func (hs *harness) build() error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is needed to build the binaries under test: %w", err)
	}
	builds := [][]string{
		{"build", "-tags", "crashtest", "-o", hs.adapterBin, "./cmd/adapter"},
		{"build", "-o", hs.simBin, "./cmd/treasury-sim"},
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, args := range builds {
		wg.Go(func() {
			cmd := exec.Command(goBin, args...)
			cmd.Dir = hs.repo
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startReaper re-executes this test binary as the reaper of hs.dir, fed
// through a pipe that closes when this process ends, however it ends.
func (hs *harness) startReaper() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), reaperEnv+"="+hs.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a Ctrl-C to our group must not stop it
	w, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the reaper: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	hs.reaper = w
	return nil
}

func (hs *harness) register(sign byte, pgid int) {
	hs.reaperMu.Lock()
	defer hs.reaperMu.Unlock()
	if hs.reaper != nil {
		_, _ = fmt.Fprintf(hs.reaper, "%c%d\n", sign, pgid)
	}
}

// reap is the reaper's body: it tracks the live process groups until its
// input ends (the test binary is gone), kills those left and removes dir.
func reap(dir string) {
	live := map[int]bool{}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		line := sc.Text()
		if len(line) < 2 {
			continue
		}
		n, err := strconv.Atoi(line[1:])
		if err != nil || n <= 1 {
			continue
		}
		live[n] = line[0] == '+'
	}
	for pgid, alive := range live {
		if alive {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
	_ = os.RemoveAll(dir)
}

// procSpec describes one child process.
type procSpec struct {
	name string
	bin  string
	args []string
	env  []string // added to the environment (which has no DVC_ variable)
	log  string   // stdout and stderr go here
}

// proc is one started child process, leader of its own process group.
type proc struct {
	name    string
	pid     int
	logPath string
	done    chan struct{} // closed once the process has been reaped
	mu      sync.Mutex
	exited  bool
	state   *os.ProcessState
}

// start starts a child in its own process group. Start and Wait run on one
// locked OS thread that ends only with the child, so Pdeathsig kills the
// child if this test binary dies.
func (hs *harness) start(s procSpec) (*proc, error) {
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Env = append(cleanEnv(), s.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{name: s.name, logPath: s.log, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		defer func() { _ = logf.Close() }()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		hs.register('+', p.pid)
		started <- nil
		_ = cmd.Wait()
		p.mu.Lock()
		p.exited, p.state = true, cmd.ProcessState
		p.mu.Unlock()
		hs.register('-', p.pid)
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s: %w", s.name, err)
	}
	return p, nil
}

// kill sends SIGKILL to the process group unless the process is already
// reaped, and waits for it to end.
func (p *proc) kill() {
	p.mu.Lock()
	if !p.exited {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	}
	p.mu.Unlock()
	<-p.done
}

// killedBySIGKILL reports whether the (ended) process died of SIGKILL.
func (p *proc) killedBySIGKILL() bool {
	<-p.done
	ws, ok := p.state.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func (p *proc) exitState() string {
	<-p.done
	return p.state.String()
}

// testDir returns a directory of t's own inside the build directory, so
// that the reaper removes it even when the test binary is killed.
func testDir(t testing.TB) string {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	dir, err := os.MkdirTemp(h.dir, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// cleanEnv is this process's environment without DVC_ variables, so that
// nothing from the developer's shell overrides the test configuration.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DVC_") {
			env = append(env, kv)
		}
	}
	return env
}

// waitReady polls url until it answers 200, p exits or readyTimeout passes.
func waitReady(ctx context.Context, url string, p *proc) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	cl := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := cl.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%s)", p.name, p.exitState())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w", p.name, url, ctx.Err())
		case <-tick.C:
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last n lines of a log file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// countInLogs counts the lines containing s in the files.
func countInLogs(paths []string, s string) int {
	n := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil {
			n += bytes.Count(b, []byte(s))
		}
	}
	return n
}

// writeConfig writes the test configuration of one adapter instance:
// configs/local.yaml with absolute PKI paths, the test Redis under keyPrefix,
// the listen address, the treasury at treasuryURL, every procedure's
// deadline 2s and the idempotency lease 3s.
func writeConfig(t testing.TB, path, listen, treasuryURL, keyPrefix string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(h.repo, "configs", "local.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	sect := func(name string) map[string]any {
		m, ok := c[name].(map[string]any)
		if !ok {
			m = map[string]any{}
			c[name] = m
		}
		return m
	}
	sig := sect("signatures")
	for _, k := range []string{"trustRoots", "intermediates", "crls"} {
		list, _ := sig[k].([]any)
		for i, p := range list {
			list[i] = filepath.Join(h.repo, p.(string))
		}
	}
	opts, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	rc := map[string]any{"addrs": []string{opts.Addr}, "db": opts.DB, "keyPrefix": keyPrefix}
	if opts.Username != "" {
		rc["username"] = opts.Username
	}
	if opts.Password != "" {
		rc["password"] = opts.Password
	}
	c["store"] = map[string]any{"kind": "redis", "redis": rc}
	sect("server")["addr"] = listen
	sect("server")["adminAddr"] = "127.0.0.1:0" // several instances run at once
	sect("treasury")["baseURL"] = treasuryURL
	for id, p := range sect("procedures") {
		pm, ok := p.(map[string]any)
		if !ok {
			t.Fatalf("configs/local.yaml: procedures.%s is not a map", id)
		}
		pm["deadline"] = "2s"
	}
	sect("idempotency")["lease"] = "3s"
	sect("log")["level"] = "info"
	// Each instance its own evidence log, named after its file, with its
	// own key: <path without .yaml>.evidence, .logkey and .vkey.
	base := strings.TrimSuffix(path, ".yaml")
	instance := filepath.Base(base)
	skey, vkey, err := note.GenerateKey(rand.Reader, auditlog.OriginFor(instance))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".logkey", []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".vkey", []byte(vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ev := sect("evidence")
	ev["dir"], ev["instance"], ev["keyFile"] = base+".evidence", instance, base+".logkey"
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
