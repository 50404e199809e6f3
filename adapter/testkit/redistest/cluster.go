package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	clusterNodeTimeout = 1000 // ms: a primary unreachable this long is failed over
	clusterStartWait   = 30 * time.Second
	failoverWait       = 30 * time.Second
)

// Node is one redis-server of a Cluster or a Sentinel set.
type Node struct {
	Addr string // 127.0.0.1:port
	Port int

	bin  string
	args []string
	dir  string

	mu    sync.Mutex
	proc  *server // nil while killed
	slots [][2]int
}

// spawn starts the node's process (same port, same directory, same
// arguments each time) and waits until it answers PING.
func (n *Node) spawn() error {
	s, err := spawn(n.bin, n.args, n.dir, "redis://"+n.Addr)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.proc = s
	n.mu.Unlock()
	return nil
}

// kill ends the node's process with SIGKILL and waits for it.
func (n *Node) kill() {
	n.mu.Lock()
	s := n.proc
	n.proc = nil
	n.mu.Unlock()
	if s == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// stop ends the node's process (SIGTERM, then SIGKILL) without removing its
// directory.
func (n *Node) stop() error {
	n.mu.Lock()
	s := n.proc
	n.proc = nil
	n.mu.Unlock()
	if s == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	return fmt.Errorf("redis-server on %s ignored SIGTERM for %v and was killed", n.Addr, stopTimeout)
}

// Alive reports whether the node's process runs.
func (n *Node) Alive() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil
}

func (n *Node) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: n.Addr, DialTimeout: time.Second, ReadTimeout: time.Second,
		WriteTimeout: time.Second, MaxRetries: -1})
}

// Cluster is a Redis Cluster of three primaries with one replica each, every
// node a redis-server of its own on 127.0.0.1.
type Cluster struct {
	nodes []*Node
	root  string
}

// StartCluster starts a Cluster of tb's own, stopped when tb ends.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := startCluster()
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.stop(); err != nil {
			tb.Error(err)
		}
	})
	return c
}

var (
	sharedCluster  *Cluster
	sharedSentinel *Sentinel
	sharedErr      = map[string]error{}
)

// SharedCluster returns the test binary's one Cluster, started on first use
// and stopped by Main; tests that share it take their own key prefix from
// the Cluster's Prefix. Packages that use it call Main from TestMain.
func SharedCluster(tb testing.TB) *Cluster {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if !inMain {
		tb.Fatal("redistest: SharedCluster needs redistest.Main in the package's TestMain")
	}
	if err := sharedErr["cluster"]; err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	if sharedCluster == nil {
		c, err := startCluster()
		if err != nil {
			sharedErr["cluster"] = err
			tb.Fatalf("redistest: %v", err)
		}
		sharedCluster = c
	}
	return sharedCluster
}

// stopShared stops the shared Cluster and Sentinel set (called by Main with
// mu held).
func stopShared() {
	if sharedCluster != nil {
		if err := sharedCluster.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "redistest:", err)
		}
		sharedCluster = nil
	}
	if sharedSentinel != nil {
		if err := sharedSentinel.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "redistest:", err)
		}
		sharedSentinel = nil
	}
}

func startCluster() (c *Cluster, err error) {
	bin, err := serverBin()
	if err != nil {
		return nil, err
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("no redis-cli on PATH (install the Debian package redis-tools): %w", err)
	}
	root, err := os.MkdirTemp("", "redistest-cluster-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{root: root}
	defer func() {
		if err != nil {
			_ = c.stop()
		}
	}()
	for i := range 6 {
		port, err := freeClusterPort()
		if err != nil {
			return nil, err
		}
		dir := fmt.Sprintf("%s/node-%d", root, i)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
		n := clusterNode(bin, dir, port,
			"--cluster-node-timeout", strconv.Itoa(clusterNodeTimeout),
			// A replica may take over however long its link was down.
			"--cluster-replica-validity-factor", "0")
		c.nodes = append(c.nodes, n)
		if err := n.spawn(); err != nil {
			return nil, err
		}
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %v: %s", err, lastLine(string(out)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterStartWait)
	defer cancel()
	if err := c.waitSettled(ctx, 3); err != nil {
		return nil, fmt.Errorf("cluster did not settle: %w", err)
	}
	return c, nil
}

// freeClusterPort returns a free port whose cluster bus port (+10000) is
// free as well.
func freeClusterPort() (int, error) {
	for range 50 {
		p, err := freePort()
		if err != nil {
			return 0, err
		}
		if p+10000 > 65535 {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p, nil
	}
	return 0, errors.New("no free port pair for a cluster node")
}

func (c *Cluster) stop() error {
	var errs []error
	for _, n := range c.nodes {
		if err := n.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.root != "" {
		_ = os.RemoveAll(c.root)
	}
	return errors.Join(errs...)
}

// Nodes returns every node, primaries and replicas, killed or not.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Addrs returns every node's address.
func (c *Cluster) Addrs() []string {
	var a []string
	for _, n := range c.nodes {
		a = append(a, n.Addr)
	}
	return a
}

// Client returns a Cluster client (redis.NewUniversalClient with every
// node's address), closed when tb ends.
func (c *Cluster) Client(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	cl := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: c.Addrs()})
	tb.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Prefix is the package's Prefix for the Cluster: the keys under it are
// deleted from every primary when tb ends.
func (c *Cluster) Prefix(tb testing.TB) string {
	tb.Helper()
	p := newPrefix()
	tb.Cleanup(func() {
		cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
		defer func() { _ = cl.Close() }()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := cl.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			return deleteKeys(ctx, m, p)
		})
		if err != nil {
			tb.Errorf("redistest: deleting the keys under %s: %v", p, err)
		}
	})
	return p
}

func newPrefix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "test:" + hex.EncodeToString(b[:]) + ":"
}

// shard is one slot range and the address of the primary serving it.
type shard struct {
	from, to int
	primary  string
	replicas []string
}

// slotMap asks n for the Cluster's slot map (CLUSTER SHARDS), one entry
// per slot range, sorted; replicas are the live ones.
func slotMap(ctx context.Context, n *Node) ([]shard, error) {
	cl := n.client()
	defer func() { _ = cl.Close() }()
	shards, err := cl.ClusterShards(ctx).Result()
	if err != nil {
		return nil, err
	}
	var m []shard
	for _, s := range shards {
		var primary string
		var replicas []string
		for _, nd := range s.Nodes {
			addr := net.JoinHostPort(nd.IP, strconv.FormatInt(nd.Port, 10))
			switch {
			case nd.Role == "master":
				primary = addr
			case nd.Health == "online":
				replicas = append(replicas, addr)
			}
		}
		slices.Sort(replicas)
		for _, r := range s.Slots {
			m = append(m, shard{from: int(r.Start), to: int(r.End), primary: primary, replicas: replicas})
		}
	}
	slices.SortFunc(m, func(a, b shard) int { return a.from - b.from })
	return m, nil
}

func sameSlotMap(a, b []shard) bool {
	return slices.EqualFunc(a, b, func(x, y shard) bool {
		return x.from == y.from && x.to == y.to && x.primary == y.primary && slices.Equal(x.replicas, y.replicas)
	})
}

// waitSettled waits until every live node says cluster_state:ok, all agree
// on a slot map that covers the 16384 slots with `primaries` primaries, and
// each primary has at least one replica (when wantReplicas).
func (c *Cluster) waitSettled(ctx context.Context, primaries int) error {
	var last error
	for {
		last = c.settled(ctx, primaries)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(50 * time.Millisecond): // polling the nodes: they publish no event for this
		}
	}
}

func (c *Cluster) settled(ctx context.Context, primaries int) error {
	var ref []shard
	for _, n := range c.nodes {
		if !n.Alive() {
			continue
		}
		cl := n.client()
		info, err := cl.ClusterInfo(ctx).Result()
		_ = cl.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", n.Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster_state is not ok", n.Addr)
		}
		m, err := slotMap(ctx, n)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Addr, err)
		}
		if ref == nil {
			ref = m
		} else if !sameSlotMap(ref, m) {
			return fmt.Errorf("%s disagrees on the slot map", n.Addr)
		}
	}
	covered, seen := 0, map[string]bool{}
	for _, s := range ref {
		covered += s.to - s.from + 1
		seen[s.primary] = true
		if len(s.replicas) == 0 {
			return fmt.Errorf("slots %d-%d have no replica", s.from, s.to)
		}
	}
	if covered != 16384 || len(seen) != primaries {
		return fmt.Errorf("%d slots covered by %d primaries", covered, len(seen))
	}
	return nil
}

func (c *Cluster) anyLive() (*Node, error) {
	for _, n := range c.nodes {
		if n.Alive() {
			return n, nil
		}
	}
	return nil, errors.New("no live node")
}

func (c *Cluster) node(addr string) *Node {
	for _, n := range c.nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// Slot returns the hash slot of key (CLUSTER KEYSLOT).
func (c *Cluster) Slot(tb testing.TB, key string) int {
	tb.Helper()
	n, err := c.anyLive()
	if err != nil {
		tb.Fatal(err)
	}
	cl := n.client()
	defer func() { _ = cl.Close() }()
	s, err := cl.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		tb.Fatalf("redistest: CLUSTER KEYSLOT: %v", err)
	}
	return int(s)
}

// PrimaryOf returns the node serving key's slot, as a live node sees the
// slot map.
func (c *Cluster) PrimaryOf(tb testing.TB, key string) *Node {
	tb.Helper()
	slot := c.Slot(tb, key)
	for _, s := range c.shards(tb) {
		if slot >= s.from && slot <= s.to {
			if n := c.node(s.primary); n != nil {
				return n
			}
			tb.Fatalf("redistest: slot %d is served by %s, not a node of this cluster", slot, s.primary)
		}
	}
	tb.Fatalf("redistest: slot %d is not served", slot)
	return nil
}

// Primaries returns the nodes serving slots.
func (c *Cluster) Primaries(tb testing.TB) []*Node {
	tb.Helper()
	var ps []*Node
	for _, s := range c.shards(tb) {
		if n := c.node(s.primary); n != nil && !slices.Contains(ps, n) {
			ps = append(ps, n)
		}
	}
	return ps
}

// Replicas returns the nodes that serve no slot.
func (c *Cluster) Replicas(tb testing.TB) []*Node {
	tb.Helper()
	ps := c.Primaries(tb)
	var rs []*Node
	for _, n := range c.nodes {
		if !slices.Contains(ps, n) {
			rs = append(rs, n)
		}
	}
	return rs
}

func (c *Cluster) shards(tb testing.TB) []shard {
	tb.Helper()
	n, err := c.anyLive()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := slotMap(ctx, n)
	if err != nil {
		tb.Fatalf("redistest: CLUSTER SLOTS on %s: %v", n.Addr, err)
	}
	return m
}

// Kill ends node with SIGKILL, remembering the slots it served.
func (c *Cluster) Kill(tb testing.TB, n *Node) {
	tb.Helper()
	var slots [][2]int
	for _, s := range c.shards(tb) {
		if s.primary == n.Addr {
			slots = append(slots, [2]int{s.from, s.to})
		}
	}
	n.mu.Lock()
	n.slots = slots
	n.mu.Unlock()
	n.kill()
}

// Restart starts a killed node again on its port with its node
// configuration; a primary that was failed over rejoins as a replica of the
// node that replaced it. Restart waits until the node is part of the
// Cluster again.
func (c *Cluster) Restart(tb testing.TB, n *Node) {
	tb.Helper()
	if n.Alive() {
		tb.Fatalf("redistest: %s is running", n.Addr)
	}
	if err := n.spawn(); err != nil {
		tb.Fatalf("redistest: restarting %s: %v", n.Addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), failoverWait)
	defer cancel()
	if err := c.waitSettled(ctx, 3); err != nil {
		tb.Fatalf("redistest: cluster did not settle after %s rejoined: %v", n.Addr, err)
	}
}

// WaitPromoted waits until the slots the killed node served are served by
// another node and every live node agrees, and returns that node and how
// long the wait took.
func (c *Cluster) WaitPromoted(tb testing.TB, killed *Node) (*Node, time.Duration) {
	tb.Helper()
	killed.mu.Lock()
	slots := killed.slots
	killed.mu.Unlock()
	if len(slots) == 0 {
		tb.Fatalf("redistest: %s served no slot when it was killed", killed.Addr)
	}
	start := time.Now()
	deadline := start.Add(failoverWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		promoted, err := c.promoted(ctx, killed, slots[0][0])
		cancel()
		if err == nil {
			return promoted, time.Since(start)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: no node took over from %s within %v: %v", killed.Addr, failoverWait, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the nodes: they publish no event for this
	}
}

func (c *Cluster) promoted(ctx context.Context, killed *Node, slot int) (*Node, error) {
	var by string
	for _, n := range c.nodes {
		if !n.Alive() {
			continue
		}
		cl := n.client()
		info, err := cl.ClusterInfo(ctx).Result()
		_ = cl.Close()
		if err != nil {
			return nil, err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return nil, fmt.Errorf("%s: cluster_state is not ok", n.Addr)
		}
		m, err := slotMap(ctx, n)
		if err != nil {
			return nil, err
		}
		for _, s := range m {
			if slot >= s.from && slot <= s.to {
				if s.primary == killed.Addr {
					return nil, fmt.Errorf("%s still names %s", n.Addr, killed.Addr)
				}
				if by != "" && by != s.primary {
					return nil, errors.New("the nodes disagree on the new primary")
				}
				by = s.primary
			}
		}
	}
	if n := c.node(by); n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("slot %d is not served", slot)
}

// Client returns a client of this node alone, closed when tb ends.
func (n *Node) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := n.client()
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// ReplicasOf returns the live replicas of primary p.
func (c *Cluster) ReplicasOf(tb testing.TB, p *Node) []*Node {
	tb.Helper()
	var rs []*Node
	for _, s := range c.shards(tb) {
		if s.primary != p.Addr {
			continue
		}
		for _, a := range s.replicas {
			if n := c.node(a); n != nil && !slices.Contains(rs, n) {
				rs = append(rs, n)
			}
		}
	}
	return rs
}

// Pause stops the node's process (SIGSTOP) until Resume or the end of tb:
// as a replica it neither reads the replication stream nor acknowledges
// offsets, while its primary still counts it as connected. Keep it shorter
// than the cluster's node timeout (1 s), or the cluster marks it failing.
func (n *Node) Pause(tb testing.TB) {
	tb.Helper()
	n.mu.Lock()
	s := n.proc
	n.mu.Unlock()
	if s == nil {
		tb.Fatalf("redistest: pausing %s: not running", n.Addr)
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		tb.Fatalf("redistest: pausing %s: %v", n.Addr, err)
	}
	tb.Cleanup(func() { _ = s.cmd.Process.Signal(syscall.SIGCONT) })
}

// Resume continues the node after Pause (SIGCONT).
func (n *Node) Resume(tb testing.TB) {
	tb.Helper()
	n.mu.Lock()
	s := n.proc
	n.mu.Unlock()
	if s == nil {
		return
	}
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		tb.Errorf("redistest: resuming %s: %v", n.Addr, err)
	}
}

// clusterNode is a cluster-enabled node on port, not started, with its
// files in dir (no persistence) and extra arguments.
func clusterNode(bin, dir string, port int, extra ...string) *Node {
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no",
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}
	return &Node{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, bin: bin, dir: dir, args: append(args, extra...)}
}

// StartOneNodeCluster starts a Cluster of one primary holding every slot,
// of tb's own, and returns its address: a server that a client given one
// address sees as a single server, which refuses a command whose keys are
// in several slots (CROSSSLOT), as a managed service's cluster endpoint
// does.
func StartOneNodeCluster(tb testing.TB) string {
	tb.Helper()
	bin, err := serverBin()
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	port, err := freeClusterPort()
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	n := clusterNode(bin, tb.TempDir(), port)
	if err := n.spawn(); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(func() { _ = n.stop() })
	cl := n.client()
	defer func() { _ = cl.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), clusterStartWait)
	defer cancel()
	if err := cl.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
		tb.Fatalf("redistest: cluster addslotsrange: %v", err)
	}
	for {
		if info, err := cl.ClusterInfo(ctx).Result(); err == nil && strings.Contains(info, "cluster_state:ok") {
			return n.Addr
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("redistest: the one-node cluster on %s did not reach cluster_state:ok", n.Addr)
		case <-time.After(50 * time.Millisecond): // the node publishes no event for this
		}
	}
}
