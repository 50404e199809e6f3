package main

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// storeMinReplicas is store.redis.minReplicas in the configuration of the
// tests that run the adapter on a Cluster or a Sentinel set: zero leaves
// the key out. With asynchronous replication a failover can lose a write
// the primary acknowledged; a positive value makes the writes the adapter
// acknowledges to a caller wait for that many replicas.
const storeMinReplicas = 1

// redisTarget is the Redis the adapter instances of a test keep their state
// in: the package's single server, the shared Cluster or the shared
// Sentinel set.
type redisTarget struct {
	name    string
	cluster *redistest.Cluster  // set for a Cluster
	sent    *redistest.Sentinel // set for a Sentinel set
}

func singleRedis() redisTarget { return redisTarget{name: "single"} }

func clusterRedis(t testing.TB) redisTarget {
	return redisTarget{name: "Cluster", cluster: redistest.SharedCluster(t)}
}

func sentinelRedis(t testing.TB) redisTarget {
	return redisTarget{name: "Sentinel", sent: redistest.SharedSentinel(t)}
}

// prefix returns a key prefix of t's own on the target, its keys deleted
// when t ends.
func (r redisTarget) prefix(t testing.TB) string {
	switch {
	case r.cluster != nil:
		return r.cluster.Prefix(t)
	case r.sent != nil:
		return r.sent.Prefix(t)
	}
	return redistest.Prefix(t)
}

// client returns a client of the target, closed when t ends.
func (r redisTarget) client(t testing.TB) redis.UniversalClient {
	switch {
	case r.cluster != nil:
		return r.cluster.Client(t)
	case r.sent != nil:
		return r.sent.Client(t)
	}
	return redistest.Client(t)
}

// configure points an instance's configuration (as a YAML map) at the
// target: the one place the tests' store.redis section is made for a
// Cluster or a Sentinel set. The single server keeps writeConfig's.
func (r redisTarget) configure(c map[string]any, keyPrefix string) {
	var rc map[string]any
	switch {
	case r.cluster != nil:
		rc = map[string]any{"addrs": r.cluster.Addrs()}
	case r.sent != nil:
		rc = map[string]any{"addrs": r.sent.SentinelAddrs(), "masterName": r.sent.MasterName()}
	default:
		return
	}
	rc["keyPrefix"] = keyPrefix
	if storeMinReplicas > 0 {
		rc["minReplicas"] = storeMinReplicas
	}
	section(c, "store")["redis"] = rc
}
