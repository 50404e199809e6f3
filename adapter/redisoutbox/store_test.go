package redisoutbox

import (
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/testkit/outboxtest"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestConformance(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T, now func() time.Time) outbox.Store {
		return New(redistest.Client(t), redistest.Prefix(t), now)
	})
}
