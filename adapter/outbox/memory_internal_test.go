package outbox

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestMemoryForgetsIdleDossiers: an idle dossier past retention is
// dropped by the periodic sweep, so the embedded store does not grow
// without bound.
func TestMemoryForgetsIdleDossiers(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 6, 9, 2, 0, 0, 0, time.UTC)
	m := NewMemoryRetention(func() time.Time { return now }, time.Hour)
	_, _ = m.Append(ctx, "idle", "e1", nil)
	_, _ = m.Append(ctx, "busy", "b1", nil)
	ds, _ := m.Claim(ctx, "w", time.Minute, 10)
	for _, d := range ds {
		if d.Dossier == "idle" {
			_ = m.Ack(ctx, d)
		}
	}
	now = now.Add(time.Hour)
	for i := range 1024 {
		_, _ = m.Append(ctx, "other", strconv.Itoa(i), nil)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dossiers["idle"] != nil || m.dossiers["busy"] == nil {
		t.Fatalf("idle kept %v, busy kept %v", m.dossiers["idle"] != nil, m.dossiers["busy"] != nil)
	}
}
