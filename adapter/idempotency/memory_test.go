package idempotency_test

import (
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/testkit/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) idempotency.Store {
		return idempotency.NewMemory(now)
	})
}
