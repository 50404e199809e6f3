package redisoutbox

import (
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/testkit/outboxtest"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// TestConformanceCluster runs the outbox suite on a Redis Cluster, with the
// default shards spread over its primaries.
func TestConformanceCluster(t *testing.T) {
	c := redistest.SharedCluster(t)
	outboxtest.Run(t, func(t *testing.T, now func() time.Time) outbox.Store {
		return New(c.Client(t), c.Prefix(t), now)
	})
}

// TestConformanceSentinel runs the outbox suite on a Sentinel set.
func TestConformanceSentinel(t *testing.T) {
	s := redistest.SharedSentinel(t)
	outboxtest.Run(t, func(t *testing.T, now func() time.Time) outbox.Store {
		return New(s.Client(t), s.Prefix(t), now)
	})
}
