package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const sentinelMaster = "dvc"

// Sentinel is a Sentinel set: one primary, one replica and three sentinels
// that watch the primary (quorum 2, down after 1 s) and fail over to the
// replica.
type Sentinel struct {
	data      []*Node // the primary and the replica, in start order
	sentinels []*Node
	root      string
}

// StartSentinel starts a Sentinel set of tb's own, stopped when tb ends.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	s, err := startSentinel()
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.stop(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// SharedSentinel returns the test binary's one Sentinel set, started on
// first use and stopped by Main.
func SharedSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if !inMain {
		tb.Fatal("redistest: SharedSentinel needs redistest.Main in the package's TestMain")
	}
	if err := sharedErr["sentinel"]; err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	if sharedSentinel == nil {
		s, err := startSentinel()
		if err != nil {
			sharedErr["sentinel"] = err
			tb.Fatalf("redistest: %v", err)
		}
		sharedSentinel = s
	}
	return sharedSentinel
}

func startSentinel() (s *Sentinel, err error) {
	bin, err := serverBin()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "redistest-sentinel-")
	if err != nil {
		return nil, err
	}
	s = &Sentinel{root: root}
	defer func() {
		if err != nil {
			_ = s.stop()
		}
	}()
	var primary string
	for i := range 2 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		dir := fmt.Sprintf("%s/data-%d", root, i)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
		n := &Node{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, bin: bin, dir: dir, args: []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no",
		}}
		if i == 0 {
			primary = n.Addr
		} else {
			n.args = append(n.args, "--replicaof", "127.0.0.1", strings.TrimPrefix(primary, "127.0.0.1:"))
		}
		s.data = append(s.data, n)
		if err := n.spawn(); err != nil {
			return nil, err
		}
	}
	for i := range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		dir := fmt.Sprintf("%s/sentinel-%d", root, i)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
		conf := dir + "/sentinel.conf"
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
			"sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s 1000\n"+
			"sentinel failover-timeout %s 3000\n"+
			"sentinel parallel-syncs %s 1\n",
			port, dir, sentinelMaster, s.data[0].Port, sentinelMaster, sentinelMaster, sentinelMaster)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return nil, err
		}
		n := &Node{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, bin: bin, dir: dir,
			args: []string{conf, "--sentinel"}}
		s.sentinels = append(s.sentinels, n)
		if err := n.spawn(); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterStartWait)
	defer cancel()
	if err := s.waitReady(ctx, primary); err != nil {
		return nil, fmt.Errorf("sentinel set did not settle: %w", err)
	}
	return s, nil
}

// waitReady waits until every sentinel names primary, knows a replica whose
// link is up and knows the two other sentinels: from then on a failover
// can happen.
func (s *Sentinel) waitReady(ctx context.Context, primary string) error {
	for {
		err := s.ready(ctx, primary)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond): // polling the sentinels: no event to wait on
		}
	}
}

func (s *Sentinel) ready(ctx context.Context, primary string) error {
	for _, n := range s.sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: n.Addr, DialTimeout: time.Second, ReadTimeout: time.Second})
		addr, err := sc.GetMasterAddrByName(ctx, sentinelMaster).Result()
		if err != nil {
			_ = sc.Close()
			return err
		}
		if got := strings.Join(addr, ":"); got != primary {
			_ = sc.Close()
			return fmt.Errorf("%s names %s", n.Addr, got)
		}
		reps, err := sc.Replicas(ctx, sentinelMaster).Result()
		if err != nil {
			_ = sc.Close()
			return err
		}
		up := 0
		for _, r := range reps {
			if r["master-link-status"] == "ok" && !strings.Contains(r["flags"], "down") {
				up++
			}
		}
		others, err := sc.Sentinels(ctx, sentinelMaster).Result()
		_ = sc.Close()
		if err != nil {
			return err
		}
		if up == 0 || len(others) < 2 {
			return fmt.Errorf("%s knows %d live replicas and %d other sentinels", n.Addr, up, len(others))
		}
	}
	return nil
}

func (s *Sentinel) stop() error {
	var errs []error
	for _, n := range append(append([]*Node(nil), s.sentinels...), s.data...) {
		if err := n.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.root != "" {
		_ = os.RemoveAll(s.root)
	}
	return errors.Join(errs...)
}

// MasterName returns the name the sentinels monitor the primary under.
func (s *Sentinel) MasterName() string { return sentinelMaster }

// SentinelAddrs returns the sentinels' addresses.
func (s *Sentinel) SentinelAddrs() []string {
	var a []string
	for _, n := range s.sentinels {
		a = append(a, n.Addr)
	}
	return a
}

// Client returns a failover client (redis.NewUniversalClient with
// MasterName and the sentinels' addresses), closed when tb ends.
func (s *Sentinel) Client(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: s.SentinelAddrs(), MasterName: sentinelMaster})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Prefix is the package's Prefix for the Sentinel set: the keys under it
// are deleted from the primary when tb ends.
func (s *Sentinel) Prefix(tb testing.TB) string {
	tb.Helper()
	p := newPrefix()
	tb.Cleanup(func() {
		c := redis.NewFailoverClient(&redis.FailoverOptions{SentinelAddrs: s.SentinelAddrs(), MasterName: sentinelMaster})
		defer func() { _ = c.Close() }()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := deleteKeys(ctx, c, p); err != nil {
			tb.Errorf("redistest: deleting the keys under %s: %v", p, err)
		}
	})
	return p
}

// Primary returns the node the sentinels name as primary.
func (s *Sentinel) Primary(tb testing.TB) *Node {
	tb.Helper()
	for _, n := range s.sentinels {
		if !n.Alive() {
			continue
		}
		sc := redis.NewSentinelClient(&redis.Options{Addr: n.Addr, DialTimeout: time.Second, ReadTimeout: time.Second})
		addr, err := sc.GetMasterAddrByName(context.Background(), sentinelMaster).Result()
		_ = sc.Close()
		if err != nil {
			continue
		}
		for _, d := range s.data {
			if d.Addr == strings.Join(addr, ":") {
				return d
			}
		}
	}
	tb.Fatal("redistest: no sentinel names a primary of this set")
	return nil
}

// KillPrimary ends the current primary with SIGKILL and returns it.
func (s *Sentinel) KillPrimary(tb testing.TB) *Node {
	tb.Helper()
	p := s.Primary(tb)
	p.kill()
	return p
}

// WaitPromoted waits until every sentinel names a live primary other than
// killed and that node says it is a primary; it returns the node and how
// long the wait took.
func (s *Sentinel) WaitPromoted(tb testing.TB, killed *Node) (*Node, time.Duration) {
	tb.Helper()
	start := time.Now()
	deadline := start.Add(failoverWait)
	for {
		var by *Node
		ok := true
		for _, n := range s.sentinels {
			sc := redis.NewSentinelClient(&redis.Options{Addr: n.Addr, DialTimeout: time.Second, ReadTimeout: time.Second})
			addr, err := sc.GetMasterAddrByName(context.Background(), sentinelMaster).Result()
			_ = sc.Close()
			if err != nil || strings.Join(addr, ":") == killed.Addr {
				ok = false
				break
			}
			for _, d := range s.data {
				if d.Addr == strings.Join(addr, ":") {
					by = d
				}
			}
		}
		if ok && by != nil {
			c := by.client()
			info, err := c.Info(context.Background(), "replication").Result()
			_ = c.Close()
			if err == nil && strings.Contains(info, "role:master") {
				return by, time.Since(start)
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: no primary replaced %s within %v", killed.Addr, failoverWait)
		}
		time.Sleep(50 * time.Millisecond) // polling the sentinels: no event to wait on
	}
}

// Restart starts a killed node again on its port; the sentinels make it a
// replica of the current primary.
func (s *Sentinel) Restart(tb testing.TB, n *Node) {
	tb.Helper()
	if err := n.spawn(); err != nil {
		tb.Fatalf("redistest: restarting %s: %v", n.Addr, err)
	}
}
