package redisha_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/redisha"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// In a Cluster the write and its WAIT run on the key's primary: with the
// replica of that primary stalled the write falls short, while a key of
// another primary (whose replica is live) does not. A WAIT sent anywhere
// else (a pipeline through the cluster client sends the keyless WAIT to an
// arbitrary node, on a connection that wrote nothing) would report the
// stalled primary's write acknowledged.
func TestRunWaitsOnTheKeysPrimaryInACluster(t *testing.T) {
	c := redistest.SharedCluster(t)
	client := c.Client(t)
	prefix := c.Prefix(t)
	ctx := context.Background()
	keyOn := map[string]string{} // primary's address → a key it serves
	for i := 0; len(keyOn) < 3 && i < 1000; i++ {
		k := prefix + "k:{" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "}"
		p := c.PrimaryOf(t, k)
		if _, ok := keyOn[p.Addr]; !ok {
			keyOn[p.Addr] = k
		}
	}
	if len(keyOn) < 2 {
		t.Fatalf("keys on %d primaries, want at least 2", len(keyOn))
	}
	w := redisha.New(client, 1, 300*time.Millisecond, nil)
	for _, k := range keyOn { // every primary's replica acknowledges
		if _, err := w.Run(ctx, "test", setIfAbsent, []string{k}, "v"); err != nil {
			t.Fatalf("%s with every replica live: %v", k, err)
		}
	}
	var stalled *redistest.Node
	for _, k := range keyOn {
		stalled = c.PrimaryOf(t, k)
		break
	}
	replicas := c.ReplicasOf(t, stalled)
	if len(replicas) != 1 {
		t.Fatalf("primary %s has replicas %v, want one", stalled.Addr, replicas)
	}
	replicas[0].Pause(t)
	for addr, k := range keyOn {
		_, err := w.Run(ctx, "test", setIfAbsent, []string{k}, "v2")
		if addr == stalled.Addr {
			if !errors.Is(err, redisha.ErrShortfall) {
				t.Errorf("key %s of the primary whose replica is stalled: err = %v, want a shortfall", k, err)
			}
		} else if err != nil {
			t.Errorf("key %s of primary %s (replica live): %v", k, addr, err)
		}
	}
	replicas[0].Resume(t)
	if _, err := w.Run(ctx, "test", setIfAbsent, []string{keyOn[stalled.Addr]}, "v3"); err != nil {
		t.Errorf("after the replica resumed: %v", err)
	}
}
