package redistest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// syncTimeout bounds how long StartReplicated waits for its replicas.
const syncTimeout = 10 * time.Second

// Replicated is a primary and its replicas, each a redis-server of the
// test's own on a free port, stopped when the test ends.
type Replicated struct {
	// Primary is a client of the primary; Addr its host:port.
	Primary redis.UniversalClient
	Addr    string

	primary  *server
	replicas []*server
	clients  []redis.UniversalClient
	paused   []bool
}

// StartReplicated starts a primary and n replicas of it and returns once
// every replica is attached, online and has acknowledged the primary's
// offset (WAIT n), so a test starts from replicas in sync.
func StartReplicated(tb testing.TB, n int) *Replicated {
	tb.Helper()
	// No delay before the full sync (the default waits 5s for more replicas).
	p, pc := startServer(tb, "--repl-diskless-sync-delay", "0")
	r := &Replicated{Primary: pc, Addr: "127.0.0.1:" + strconv.Itoa(p.port), primary: p}
	for range n {
		s, c := startServer(tb, "--replicaof", "127.0.0.1", strconv.Itoa(p.port))
		r.replicas = append(r.replicas, s)
		r.clients = append(r.clients, c)
		r.paused = append(r.paused, false)
	}
	// Registered after the servers' own cleanups, so it runs before them:
	// a stopped process would ignore the SIGTERM that ends it.
	tb.Cleanup(func() {
		for i := range r.replicas {
			r.Resume(tb, i)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), syncTimeout)
	defer cancel()
	deadline := time.Now().Add(syncTimeout)
	for {
		info, err := pc.Info(ctx, "replication").Result()
		if err != nil {
			tb.Fatalf("redistest: INFO replication on the primary: %v", err)
		}
		if online(info) == n {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: %d of %d replicas online after %v:\n%s", online(info), n, syncTimeout, info)
		}
		time.Sleep(20 * time.Millisecond) // polling processes we started: there is no event to wait on
	}
	if err := pc.Set(ctx, "redistest:sync", "1", time.Second).Err(); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	if got, err := pc.Do(ctx, "wait", n, syncTimeout.Milliseconds()).Int64(); err != nil || got < int64(n) {
		tb.Fatalf("redistest: WAIT %d on the primary: %d, %v", n, got, err)
	}
	return r
}

// online counts the replicas INFO replication lists as online.
func online(info string) int {
	k := 0
	for _, l := range strings.Split(info, "\n") {
		if strings.HasPrefix(l, "slave") && strings.Contains(l, "state=online") {
			k++
		}
	}
	return k
}

// Replica returns a client of replica i (reads only).
func (r *Replicated) Replica(i int) redis.UniversalClient { return r.clients[i] }

// Pause stops replica i's process (SIGSTOP): it neither reads the
// replication stream nor acknowledges offsets, while the primary still
// counts it as connected, which is how a replica stalled by the machine or
// the network looks. Resume continues it; the test's end always does.
func (r *Replicated) Pause(tb testing.TB, i int) {
	tb.Helper()
	if err := r.replicas[i].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		tb.Fatalf("redistest: pausing replica %d: %v", i, err)
	}
	r.paused[i] = true
}

// Resume continues replica i after Pause (SIGCONT).
func (r *Replicated) Resume(tb testing.TB, i int) {
	tb.Helper()
	if !r.paused[i] {
		return
	}
	if err := r.replicas[i].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		tb.Errorf("redistest: resuming replica %d: %v", i, err)
	}
	r.paused[i] = false
}

// String names the servers, for messages.
func (r *Replicated) String() string {
	ports := make([]string, len(r.replicas))
	for i, s := range r.replicas {
		ports[i] = strconv.Itoa(s.port)
	}
	return fmt.Sprintf("primary %s, replicas on ports %s", r.Addr, strings.Join(ports, ","))
}
