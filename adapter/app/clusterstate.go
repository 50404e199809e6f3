package app

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterStateReload is how often the adapter asks a Redis Cluster for its
// slot map. go-redis reloads the map by itself after a MOVED answer and
// otherwise once a minute: requests for the slots of a primary that died
// go on failing at its address (no live node is asked, so none answers
// MOVED) for up to a minute after its replica took over.
const clusterStateReload = time.Second

// reloadClusterState reloads the slot map of a Cluster client every
// interval until stop is called; for any other client it does nothing.
func reloadClusterState(client redis.UniversalClient, every time.Duration) (stop func()) {
	cc, ok := client.(*redis.ClusterClient)
	if !ok {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				cc.ReloadState(context.Background())
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
