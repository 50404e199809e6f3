package redistest

import (
	"context"
	"os"
	"os/exec"
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
