package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func TestClientAnswers(t *testing.T) {
	t.Logf("using %s", URL(t))
	if err := Client(t).Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestPrefixIsUniqueAndCleanedUp(t *testing.T) {
	ctx := context.Background()
	c := Client(t)
	var keys []string
	var prefixes [2]string
	t.Run("writes", func(t *testing.T) {
		prefixes[0], prefixes[1] = Prefix(t), Prefix(t)
		for _, p := range prefixes {
			for _, k := range []string{"plain", "idem:{abc}", "dossier:{x*y?[z]}"} {
				keys = append(keys, p+k)
				if err := c.Set(ctx, p+k, "v", time.Hour).Err(); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	if prefixes[0] == prefixes[1] {
		t.Fatalf("two tests got prefix %q", prefixes[0])
	}
	n, err := c.Exists(ctx, keys...).Result()
	if err != nil || n != 0 {
		t.Fatalf("%d of %d keys left after the test ended (%v)", n, len(keys), err)
	}
}

func TestGlobEscape(t *testing.T) {
	if got := globEscape(`a*b?c[d]e\f`); got != `a\*b\?c\[d\]e\\f` {
		t.Fatalf("got %s", got)
	}
}

// TestStartAndStop exercises the throwaway-server path whatever Redis the
// other tests use. It needs redis-server on PATH.
func TestStartAndStop(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not on PATH (Debian package redis-server); the other tests use an existing Redis")
	}
	s, err := start()
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(s.url, time.Second); err != nil {
		_ = s.stop()
		t.Fatalf("started server does not answer: %v", err)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if ping(s.url, probeTimeout) == nil {
		t.Fatal("server still answers after stop")
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Fatalf("server directory left behind: %v", err)
	}
}

// TestCluster: a Cluster starts with three primaries and three replicas,
// serves keys in every primary's slot range, and a killed primary is
// replaced by its replica, then rejoins as a replica.
func TestCluster(t *testing.T) {
	c := SharedCluster(t)
	ps, rs := c.Primaries(t), c.Replicas(t)
	if len(ps) != 3 || len(rs) != 3 {
		t.Fatalf("%d primaries and %d replicas, want 3 and 3", len(ps), len(rs))
	}
	ctx := context.Background()
	cl, prefix := c.Client(t), c.Prefix(t)
	served := map[*Node]string{}
	for i := 0; len(served) < 3 && i < 1000; i++ {
		k := fmt.Sprintf("%s{k%d}", prefix, i)
		if err := cl.Set(ctx, k, "v", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		served[c.PrimaryOf(t, k)] = k
	}
	if len(served) != 3 {
		t.Fatalf("keys landed on %d primaries, want 3", len(served))
	}
	for n, k := range served {
		direct := n.client()
		v, err := direct.Get(ctx, k).Result()
		_ = direct.Close()
		if err != nil || v != "v" {
			t.Fatalf("%s does not hold %s: %q, %v", n.Addr, k, v, err)
		}
	}

	t.Run("failover", func(t *testing.T) {
		c := StartCluster(t) // its own: the shared one stays whole
		cl, prefix := c.Client(t), c.Prefix(t)
		k := prefix + "{failover}"
		if err := cl.Set(ctx, k, "before", 0).Err(); err != nil {
			t.Fatal(err)
		}
		old := c.PrimaryOf(t, k)
		// The write must reach the replica before the primary dies.
		direct := old.client()
		if n, err := direct.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
			t.Fatalf("WAIT: %d replicas, %v", n, err)
		}
		_ = direct.Close()
		c.Kill(t, old)
		promoted, took := c.WaitPromoted(t, old)
		t.Logf("%s replaced %s after %v", promoted.Addr, old.Addr, took)
		if promoted == old {
			t.Fatal("the killed node is still the primary")
		}
		if got := c.PrimaryOf(t, k); got != promoted {
			t.Fatalf("%s serves the key, want %s", got.Addr, promoted.Addr)
		}
		c.Restart(t, old)
		if slices.Contains(c.Primaries(t), old) {
			t.Fatalf("%s came back as a primary", old.Addr)
		}
		fresh := c.Client(t)
		if v, err := fresh.Get(ctx, k).Result(); err != nil || v != "before" {
			t.Fatalf("after failover: %q, %v", v, err)
		}
	})
}

// TestSentinel: a Sentinel set serves through its failover client and
// replaces a killed primary with its replica.
func TestSentinel(t *testing.T) {
	s := StartSentinel(t)
	ctx := context.Background()
	cl, prefix := s.Client(t), s.Prefix(t)
	k := prefix + "k"
	if err := cl.Set(ctx, k, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old := s.Primary(t)
	direct := old.client()
	if n, err := direct.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT: %d replicas, %v", n, err)
	}
	_ = direct.Close()
	s.KillPrimary(t)
	promoted, took := s.WaitPromoted(t, old)
	t.Logf("%s replaced %s after %v", promoted.Addr, old.Addr, took)
	if promoted == old {
		t.Fatal("the killed node is still the primary")
	}
	var v string
	var err error
	for range 50 { // the client finds the new primary on its next dial
		if v, err = cl.Get(ctx, k).Result(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || v != "v" {
		t.Fatalf("after failover: %q, %v", v, err)
	}
	s.Restart(t, old)
}
