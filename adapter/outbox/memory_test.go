package outbox_test

import (
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/testkit/outboxtest"
)

func TestMemoryConformance(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T, now func() time.Time) outbox.Store {
		return outbox.NewMemory(now)
	})
}
