package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// proc is a child process the bench started.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

// startProc runs bin with args and env (added to the bench's own) in dir,
// its output in logPath.
func startProc(name, bin string, args, env []string, dir, logPath string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: f, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop ends the process (SIGTERM, then SIGKILL after 15s).
func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = p.log.Close()
}

// waitReady polls url until it answers 200, the process exits or 30s pass.
func (p *proc) waitReady(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("bench: %s exited before it was ready (log %s)", p.name, p.log.Name())
		default:
		}
		if resp, err := http.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: %s not ready at %s within 30s (log %s)", p.name, url, p.log.Name())
		}
		time.Sleep(50 * time.Millisecond) // polling a process we started: there is no event to wait on
	}
}

// freeAddr returns a free 127.0.0.1 port as host:port.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times (100 on
// every Linux platform Go supports; sysconf(_SC_CLK_TCK) is not reachable
// without cgo).
const clockTicks = 100

// cpuTime is the user plus system CPU time of pid (proc(5), fields 14 and
// 15 of /proc/<pid>/stat).
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bench: /proc stat: no ')'")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("bench: /proc stat: short")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(u+k) * time.Second / clockTicks, nil
}

// statusKB reads a "Name: N kB" line of /proc/<pid>/status.
func statusKB(pid int, name string) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("bench: /proc status: no %s", name)
}

// rssWatch follows a process's resident set: the largest VmRSS sampled
// every 50 ms and, where the kernel allows resetting it (clear_refs 5), its
// VmHWM since the watch began.
type rssWatch struct {
	pid  int
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	max  int64 // kB
}

func watchRSS(pid int) *rssWatch {
	_ = os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0) // resets VmHWM (proc(5)); best effort
	w := &rssWatch{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if kb, err := statusKB(pid, "VmRSS"); err == nil {
				w.mu.Lock()
				w.max = max(w.max, kb)
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// peakMB ends the watch and returns the peak in MB (10^6 bytes).
func (w *rssWatch) peakMB() float64 {
	close(w.stop)
	<-w.done
	peak := w.max
	if hwm, err := statusKB(w.pid, "VmHWM"); err == nil {
		peak = max(peak, hwm)
	}
	return float64(peak) * 1024 / 1e6
}

// redisPID is the process id of the Redis server at url when it runs on
// this machine (a loopback address, and the process of that id is a
// redis-server: not one in a container), else 0.
func redisPID(ctx context.Context, url string) int {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return 0
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		return 0
	}
	info, err := redisInfo(ctx, url, "server")
	if err != nil {
		return 0
	}
	v, ok := infoFields(info)["process_id"]
	if !ok {
		return 0
	}
	pid, _ := strconv.Atoi(v)
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil || !strings.HasPrefix(string(comm), "redis-server") {
		return 0
	}
	return pid
}

// redisInfo is the text of INFO section of the Redis server at url.
func redisInfo(ctx context.Context, url, section string) (string, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return "", err
	}
	c := redis.NewClient(opts)
	defer func() { _ = c.Close() }()
	return c.Info(ctx, section).Result()
}

// infoFields are the "name:value" lines of INFO's text, by name.
func infoFields(info string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out
}

// cpuSince measures a process's CPU time over a span.
type cpuSince struct {
	pid   int
	start time.Duration
	err   error
}

func measureCPU(pid int) *cpuSince {
	t, err := cpuTime(pid)
	return &cpuSince{pid: pid, start: t, err: err}
}

func (c *cpuSince) elapsed() (time.Duration, error) {
	if c.err != nil {
		return 0, c.err
	}
	t, err := cpuTime(c.pid)
	return t - c.start, err
}

// loadAverage is the first three fields of /proc/loadavg, or "?".
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// withTimeout is context.WithTimeout from Background.
func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// redisWork are the Redis server's counters of work done (INFO stats):
// commands processed (a script's own calls included) and reads from its
// clients' connections (about one per round trip: a pipeline's commands
// come in one read).
type redisWork struct{ commands, reads int64 }

// redisStats reads the counters of the Redis server at url; false when it
// cannot (not reached, or a server that does not count reads).
func redisStats(ctx context.Context, url string) (redisWork, bool) {
	info, err := redisInfo(ctx, url, "stats")
	if err != nil {
		return redisWork{}, false
	}
	return parseRedisStats(info)
}

// parseRedisStats reads total_commands_processed and total_reads_processed
// (Redis 6 and later) from INFO's text; false when either is missing.
func parseRedisStats(info string) (redisWork, bool) {
	f := infoFields(info)
	commands, err1 := strconv.ParseInt(f["total_commands_processed"], 10, 64)
	reads, err2 := strconv.ParseInt(f["total_reads_processed"], 10, 64)
	if err1 != nil || err2 != nil {
		return redisWork{}, false
	}
	return redisWork{commands, reads}, true
}
