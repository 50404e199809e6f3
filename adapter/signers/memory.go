package signers

import (
	"context"
	"sync"
)

// Memory is the in-memory Store (one process, tests and make run).
type Memory struct {
	mu    sync.Mutex
	units map[string]map[string]Registration // unit → ID → registration
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory { return &Memory{units: map[string]map[string]Registration{}} }

// Put implements Store.
func (m *Memory) Put(_ context.Context, regs ...Registration) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range regs {
		u := m.units[r.Unit]
		if u == nil {
			u = map[string]Registration{}
			m.units[r.Unit] = u
		}
		if _, ok := u[r.ID()]; !ok {
			u[r.ID()] = r
			n++
		}
	}
	return n, nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, unit string) ([]Registration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []Registration{}
	for _, r := range m.units[unit] {
		out = append(out, r)
	}
	Sort(out)
	return out, nil
}

// Revoke implements Store.
func (m *Memory) Revoke(_ context.Context, unit, serial string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, r := range m.units[unit] {
		if r.Serial == serial {
			delete(m.units[unit], id)
			n++
		}
	}
	return n, nil
}

// FirstMissing implements Store.
func (m *Memory) FirstMissing(_ context.Context, unit string, want ...Registration) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, w := range want {
		if _, ok := m.units[unit][w.ID()]; !ok {
			return i, nil
		}
	}
	return -1, nil
}
