package main

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

const (
	failoverSubmissions = 300 // signed dossiers submitted through the failover
	failoverCallbacks   = 150 // the status soak's dossiers (20 callbacks each)
	failoverSubmitTime  = 90 * time.Second
)

// TestFailoverUnderLoad: two adapter instances on a Redis Cluster, the
// treasury simulator and the portal; signed dossiers are submitted (every
// one retried with its key until a final answer) while the status soak's
// callbacks flow. Once both flow, the primary that serves a dossier
// claim's slot is SIGKILLed; its replica takes over and the killed node is
// restarted (it rejoins as a replica) while the load goes on. Then: no
// treasury document twice for one downstream key, every submission a 202,
// and the soak's checks (no status event answered 202 and missing at the
// portal, none repeated beyond the attempts the failover cut short).
//
// Redis replicates asynchronously: a write the killed primary acknowledged
// and had not yet passed on is lost. storeMinReplicas (redis_target_test.go)
// is where the test makes the adapter wait for a replica.
func TestFailoverUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: skipped with -short")
	}
	target := clusterRedis(t)
	cluster := target.cluster
	// Signed before the callbacks start: signing takes seconds under the
	// race detector, and the callbacks would be over before the first
	// dossier went.
	prefix := batchPrefix(t, "failover")
	ds := makeDossiers(t, prefix, failoverSubmissions)
	runStatusSoak(t, target, failoverCallbacks, soakOptions{noKills: true,
		alongside: func(ctx context.Context, f *fleet, keyPrefix string, progress func() float64) int {
			return failoverAlongside(ctx, t, cluster, f, keyPrefix, prefix, ds, progress)
		}})
}

// failoverAlongside submits the dossiers (ds, codes under prefix), kills and restarts the primary,
// checks the submissions and logs the failover figures. It returns how
// many portal writes the failover may have repeated: one attempt cut short
// per delivery worker of each instance.
func failoverAlongside(ctx context.Context, t *testing.T, cluster *redistest.Cluster, f *fleet, keyPrefix string,
	prefix string, ds []*dossier, progress func() float64) int {
	cl := newClient(f.pick)
	defer cl.close()

	var (
		mu          sync.Mutex
		killedAt    time.Time
		first202    time.Time // the first 202 after the kill
		lastFailure time.Time // the last 503 or transport error after the kill
		failures    int
	)
	cl.observe = func(a answer, err error) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if killedAt.IsZero() {
			return
		}
		switch {
		case err != nil, a.status == http.StatusServiceUnavailable, a.status == http.StatusGatewayTimeout:
			lastFailure = now
			failures++
		case a.status == http.StatusAccepted && first202.IsZero():
			first202 = now
		}
	}
	var done atomic.Int64
	subCtx, cancel := context.WithTimeoutCause(ctx, failoverSubmitTime, errDeadline)
	defer cancel()
	// The submissions start once the callbacks flow (the two flows start
	// at speeds of their own, which move with the machine), and the kill
	// comes while both go on.
	for progress() < 0.02 {
		select {
		case <-subCtx.Done():
			t.Errorf("the callbacks did not start: %.0f %% acknowledged", 100*progress())
			return 0
		case <-time.After(5 * time.Millisecond):
		}
	}
	outs := make(chan []outcome, 1)
	go func() { outs <- cl.runAll(subCtx, ds, 16, func(outcome) { done.Add(1) }) }()

	// Both flows under way: a tenth of the dossiers answered.
	for done.Load() < failoverSubmissions/10 {
		select {
		case <-subCtx.Done():
			t.Errorf("the load did not start: %d submissions, %.0f %% of the callbacks", done.Load(), 100*progress())
			return 0
		case <-time.After(10 * time.Millisecond):
		}
	}
	victim := dossierPrimary(t, cluster, keyPrefix)
	callbacksAtKill, submittedAtKill := progress(), done.Load()
	mu.Lock()
	killedAt = time.Now()
	mu.Unlock()
	cluster.Kill(t, victim)
	promoted, promotion := cluster.WaitPromoted(t, victim)
	cluster.Restart(t, victim)
	rejoined := time.Since(killedAt)

	results := <-outs
	docs := treasuryDocuments(t, h.simURL)
	mu.Lock()
	defer mu.Unlock()
	firstOK, recovered := "none", "no failure seen"
	if !first202.IsZero() {
		firstOK = first202.Sub(killedAt).Round(time.Millisecond).String()
	}
	if failures > 0 {
		recovered = lastFailure.Sub(killedAt).Round(time.Millisecond).String()
	}
	t.Logf("failover: killed primary %s (a dossier claim's slot) with %d of %d submissions answered and %.0f %% of the callbacks "+
		"acknowledged; %s promoted after %v; first 202 %s after the kill; last 503 or transport error %s after the kill (%d in all); "+
		"the killed node rejoined as a replica %v after the kill; submissions: %s",
		victim.Addr, submittedAtKill, failoverSubmissions, 100*callbacksAtKill, promoted.Addr, promotion.Round(time.Millisecond),
		firstOK, recovered, failures, rejoined.Round(time.Millisecond), cl.tallyString())
	if callbacksAtKill >= 1 || submittedAtKill >= failoverSubmissions {
		t.Errorf("the primary was killed after the load had ended: the test proved nothing")
	}
	if done.Load() == submittedAtKill {
		t.Errorf("no submission was answered after the kill")
	}
	reportProblems(t, exactlyOnceProblems(prefix, ds, results, docs))
	return 2 * soakWorkers
}

// dossierPrimary returns the primary that serves the slot of a dossier
// claim under keyPrefix.
func dossierPrimary(t *testing.T, cluster *redistest.Cluster, keyPrefix string) *redistest.Node {
	t.Helper()
	for range 100 {
		for _, p := range cluster.Primaries(t) {
			keys, _, err := p.Client(t).Scan(t.Context(), 0, keyPrefix+"dossier:*", 1000).Result()
			if err != nil {
				t.Fatalf("scanning for a dossier record: %v", err)
			}
			if len(keys) > 0 {
				return cluster.PrimaryOf(t, keys[0])
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no dossier claim under %s", keyPrefix)
	return nil
}
