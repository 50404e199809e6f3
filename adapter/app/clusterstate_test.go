package app

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// TestClusterStateFollowsFailover: with the periodic reload, a Cluster
// client that only ever asks for one key reaches the replica that took over
// the key's slot. Without it, go-redis keeps the dead primary's address for
// its reload interval (a minute); the deadline below is half of that.
func TestClusterStateFollowsFailover(t *testing.T) {
	c := redistest.StartCluster(t)
	ctx := context.Background()
	cl := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: c.Addrs(), MaxRetries: 1, DialerRetries: 1})
	t.Cleanup(func() { _ = cl.Close() })
	stop := reloadClusterState(cl, 100*time.Millisecond)
	defer stop()
	k := c.Prefix(t) + "{failover}"
	if err := cl.Set(ctx, k, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old := c.PrimaryOf(t, k)
	if n, err := old.Client(t).Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT: %d replicas, %v", n, err)
	}
	c.Kill(t, old)
	promoted, took := c.WaitPromoted(t, old)
	t.Logf("%s promoted %v after the kill", promoted.Addr, took)
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := cl.(*redis.ClusterClient).MasterForKey(ctx, k)
		if err == nil && m.Options().Addr == promoted.Addr {
			break
		}
		_ = cl.Get(ctx, k).Err() // the traffic of a client that only knows this key
		if time.Now().After(deadline) {
			t.Fatalf("the client still does not send %s to %s 30 s after the failover", k, promoted.Addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v, err := cl.Get(ctx, k).Result(); err != nil || v != "v" {
		t.Fatalf("after the failover: %q, %v", v, err)
	}
	c.Restart(t, old)
}

func TestReloadClusterStateLeavesOtherClientsAlone(t *testing.T) {
	stop := reloadClusterState(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), time.Millisecond)
	stop()
	stop() // twice is harmless
}
