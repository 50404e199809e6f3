package redisstore

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
	"github.com/kbnn/dvc/adapter/testkit/signertest"
	"github.com/kbnn/dvc/adapter/testkit/storetest"
)

// topology is a Redis deployment the conformance suites run on besides the
// single server: a client of it and a key prefix of the test's own.
type topology struct {
	name  string
	setup func(t *testing.T) (client func(t *testing.T) redis.UniversalClient, prefix func(t *testing.T) string)
}

var topologies = []topology{
	{"Cluster", func(t *testing.T) (func(*testing.T) redis.UniversalClient, func(*testing.T) string) {
		c := redistest.SharedCluster(t)
		return func(t *testing.T) redis.UniversalClient { return c.Client(t) }, func(t *testing.T) string { return c.Prefix(t) }
	}},
	{"Sentinel", func(t *testing.T) (func(*testing.T) redis.UniversalClient, func(*testing.T) string) {
		s := redistest.SharedSentinel(t)
		return func(t *testing.T) redis.UniversalClient { return s.Client(t) }, func(t *testing.T) string { return s.Prefix(t) }
	}},
}

// TestConformanceTopologies runs the idempotency, dossier, attachment and
// signer suites on a Redis Cluster and on a Sentinel set.
func TestConformanceTopologies(t *testing.T) {
	for _, top := range topologies {
		t.Run(top.name, func(t *testing.T) {
			client, prefix := top.setup(t)
			t.Run("idempotency", func(t *testing.T) {
				storetest.Run(t, func(t *testing.T, now func() time.Time) idempotency.Store {
					return New(client(t), prefix(t), now)
				})
			})
			t.Run("dossiers", func(t *testing.T) {
				storetest.RunDossiers(t, func(t *testing.T) dossier.Store {
					return NewDossiers(client(t), prefix(t), 720*time.Hour)
				})
			})
			t.Run("attachments", func(t *testing.T) {
				storetest.RunAttachments(t, func(t *testing.T, l attachment.Limits) attachment.Store {
					return NewAttachments(client(t), prefix(t), l, nil)
				})
			})
			t.Run("signers", func(t *testing.T) {
				signertest.Run(t, func(t *testing.T) signers.Store {
					return NewSigners(client(t), prefix(t))
				})
			})
		})
	}
}
