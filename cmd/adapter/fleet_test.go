package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// maxStarts bounds the processes one instance may start in a test, so a
// process that keeps dying cannot loop for ever.
const maxStarts = 40

// instance is one adapter slot: a listen address and a configuration that
// successive processes take over, each after the previous one died.
type instance struct {
	name    string
	url     string
	cfg     string
	dir     string
	crashes []string // DVC_CRASH_AT of the successive starts; later starts have none

	mu       sync.Mutex
	cur      *proc
	ready    bool
	planned  bool // the test is killing the current process
	starts   int
	logs     []string
	crashed  int // deaths by the crash hook
	killed   int // deaths by the test's SIGKILL
	crashLog []string
}

// fleet supervises adapter instances that share one Redis prefix: it
// restarts each one whenever its process dies, until the test ends.
type fleet struct {
	t     *testing.T
	insts []*instance
	// work is cancelled when the fleet fails (a process that cannot start or
	// exits by itself), so clients stop early.
	work   context.Context
	fail   context.CancelCauseFunc
	stopCh chan struct{}
	halt   sync.Once
	wg     sync.WaitGroup
	rr     sync.Mutex
	next   int
}

// startFleet starts n adapter instances on keyPrefix, talking to
// treasuryURL; crashes[i] lists the DVC_CRASH_AT values of instance i's
// successive processes. It waits until every instance has been ready once
// and stops them all when t ends.
func startFleet(t *testing.T, n int, treasuryURL, keyPrefix string, crashes [][]string) *fleet {
	t.Helper()
	return launchFleet(t, n, treasuryURL, keyPrefix, crashes, nil)
}

// launchFleet is startFleet with an optional edit of each instance's
// configuration (as a YAML map) before any process starts.
func launchFleet(t *testing.T, n int, treasuryURL, keyPrefix string, crashes [][]string, edit func(cfg map[string]any)) *fleet {
	t.Helper()
	dir := testDir(t)
	work, fail := context.WithCancelCause(context.Background())
	f := &fleet{t: t, work: work, fail: fail, stopCh: make(chan struct{})}
	for i := range n {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		in := &instance{name: fmt.Sprintf("adapter-%d", i), url: "http://" + addr, dir: dir,
			cfg: filepath.Join(dir, fmt.Sprintf("adapter-%d.yaml", i))}
		if i < len(crashes) {
			in.crashes = crashes[i]
		}
		writeConfig(t, in.cfg, addr, treasuryURL, keyPrefix)
		if edit != nil {
			editConfig(t, in.cfg, edit)
		}
		f.insts = append(f.insts, in)
	}
	t.Cleanup(f.stop)
	ready := make([]chan struct{}, n)
	for i, in := range f.insts {
		ready[i] = make(chan struct{})
		f.wg.Go(func() { f.supervise(in, ready[i]) })
	}
	for i := range ready {
		select {
		case <-ready[i]:
		case <-work.Done():
			t.Fatalf("adapter did not start: %v", context.Cause(work))
		}
	}
	return f
}

// stop kills every process and waits for the supervisors; on failure it
// shows the end of each process's log.
func (f *fleet) stop() {
	f.halt.Do(f.stopOnce)
}

func (f *fleet) stopOnce() {
	close(f.stopCh)
	f.fail(nil) // ends any readiness polling at once
	f.wg.Wait()
	if f.t.Failed() {
		for _, in := range f.insts {
			for _, l := range in.logs {
				f.t.Logf("--- end of %s:\n%s", l, tail(l, 15))
			}
		}
	}
}

func (f *fleet) stopping() bool {
	select {
	case <-f.stopCh:
		return true
	default:
		return false
	}
}

// failf records a harness failure and stops the clients.
func (f *fleet) failf(format string, args ...any) {
	err := fmt.Errorf(format, args...)
	f.t.Error(err)
	f.fail(err)
}

// supervise runs in's successive processes until the fleet stops.
func (f *fleet) supervise(in *instance, firstReady chan struct{}) {
	once := sync.OnceFunc(func() { close(firstReady) })
	for !f.stopping() {
		in.mu.Lock()
		if in.starts >= maxStarts {
			in.mu.Unlock()
			f.failf("%s: %d processes started, giving up", in.name, in.starts)
			return
		}
		var env []string
		crash := ""
		if in.starts < len(in.crashes) {
			crash = in.crashes[in.starts]
			env = append(env, "DVC_CRASH_AT="+crash)
		}
		log := filepath.Join(in.dir, fmt.Sprintf("%s.%d.log", in.name, in.starts))
		in.starts++
		in.logs = append(in.logs, log)
		in.mu.Unlock()

		p, err := h.start(procSpec{name: in.name, bin: h.adapterBin, args: []string{"-config", in.cfg}, env: env, log: log})
		if err != nil {
			f.failf("%s: %v", in.name, err)
			return
		}
		in.mu.Lock()
		in.cur, in.planned = p, false
		in.mu.Unlock()
		// A crash may come before the poll sees the process ready: the
		// clients are already sending.
		if err := waitReady(f.work, in.url+"/readyz", p); err == nil {
			in.mu.Lock()
			in.ready = true
			in.mu.Unlock()
			once()
		} else if !isDone(p) && f.work.Err() == nil {
			f.failf("%s: %v\n%s", in.name, err, tail(log, 15))
		}
		select {
		case <-p.done:
		case <-f.stopCh:
			p.kill()
			return
		}
		in.mu.Lock()
		in.ready = false
		planned := in.planned
		switch {
		case planned:
			in.killed++
		case crash != "" && p.killedBySIGKILL():
			in.crashed++
			in.crashLog = append(in.crashLog, crash)
		}
		in.mu.Unlock()
		if !planned && (crash == "" || !p.killedBySIGKILL()) {
			f.failf("%s exited by itself (%s, DVC_CRASH_AT=%q):\n%s", in.name, p.exitState(), crash, tail(log, 15))
			return
		}
	}
}

// pick returns the URL of an instance for attempt seq: round robin over the
// instances that are up, or over all of them when none is.
func (f *fleet) pick() string {
	f.rr.Lock()
	defer f.rr.Unlock()
	n := len(f.insts)
	for i := range n {
		in := f.insts[(f.next+i)%n]
		in.mu.Lock()
		up := in.ready
		in.mu.Unlock()
		if up {
			f.next = (f.next + i + 1) % n
			return in.url
		}
	}
	in := f.insts[f.next]
	f.next = (f.next + 1) % n
	return in.url
}

// killRandom SIGKILLs the process of a random instance that is up and
// waits until it is gone (its supervisor restarts it). It reports false
// when no instance was up.
func (f *fleet) killRandom(rng *rand.Rand) bool {
	var up []*instance
	for _, in := range f.insts {
		in.mu.Lock()
		if in.ready && in.cur != nil {
			up = append(up, in)
		}
		in.mu.Unlock()
	}
	if len(up) == 0 {
		return false
	}
	in := up[rng.IntN(len(up))]
	in.mu.Lock()
	p := in.cur
	in.planned = true
	in.mu.Unlock()
	p.kill()
	return true
}

// logs lists every process log of the fleet.
func (f *fleet) logs() []string {
	var out []string
	for _, in := range f.insts {
		in.mu.Lock()
		out = append(out, in.logs...)
		in.mu.Unlock()
	}
	return out
}

// deaths reports the crash-hook deaths and the test's kills, all instances.
func (f *fleet) deaths() (crashed, killed int) {
	for _, in := range f.insts {
		in.mu.Lock()
		crashed += in.crashed
		killed += in.killed
		in.mu.Unlock()
	}
	return crashed, killed
}

func isDone(p *proc) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
