package outbox

import (
	"context"
	"slices"
	"time"
)

// DeadLetters implements Store.
func (m *Memory) DeadLetters(_ context.Context, cursor string, n int) ([]DeadLetter, string, error) {
	after, err := DecodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	n = clampMax(n)
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.dead))
	for k := range m.dead {
		if k > after {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	next := ""
	if len(keys) > n {
		keys = keys[:n]
		next = EncodeCursor(keys[n-1])
	}
	out := make([]DeadLetter, len(keys))
	for i, k := range keys {
		out[i] = m.letter(m.dead[k])
	}
	return out, next, nil
}

// Inspect implements Store.
func (m *Memory) Inspect(_ context.Context, dossier, eventID string) (DeadLetter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.blocked(dossier, eventID)
	if err != nil {
		return DeadLetter{}, err
	}
	return m.letter(d), nil
}

func (m *Memory) letter(d *mDossier) DeadLetter {
	e := d.queue[0]
	ev := e.Event
	ev.Payload = append([]byte(nil), e.Payload...)
	return DeadLetter{Event: ev, Reason: e.reason, DeadAt: e.deadAt, Attempts: e.total,
		History: slices.Clone(e.history), Held: len(d.queue) - 1}
}

// blocked returns the dossier whose dead letter is eventID, or ErrNotFound.
func (m *Memory) blocked(dossier, eventID string) (*mDossier, error) {
	d := m.dossiers[dossier]
	if d == nil || d.state != mBlocked || d.queue[0].ID != eventID {
		return nil, ErrNotFound
	}
	return d, nil
}

// Replay implements Store.
func (m *Memory) Replay(_ context.Context, dossier, eventID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.blocked(dossier, eventID)
	if err != nil {
		return err
	}
	m.replay(d)
	return nil
}

func (m *Memory) replay(d *mDossier) {
	delete(m.dead, d.deadKey)
	e := d.queue[0]
	e.round, e.expired, e.first, e.reason, e.deadAt = 0, 0, time.Time{}, "", time.Time{}
	d.deadKey = ""
	m.makeReady(d)
}

// ReplayAll implements Store.
func (m *Memory) ReplayAll(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.dead))
	for k := range m.dead {
		keys = append(keys, k)
	}
	slices.Sort(keys) // oldest first, as Redis does
	for _, k := range keys {
		m.replay(m.dead[k])
	}
	return len(keys), nil
}

// Discard implements Store.
func (m *Memory) Discard(_ context.Context, dossier, eventID string) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.blocked(dossier, eventID)
	if err != nil {
		return err
	}
	delete(m.dead, d.deadKey)
	d.deadKey = ""
	m.pop(d, now)
	return nil
}

// Stats implements Store.
func (m *Memory) Stats(context.Context) (Stats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Stats{Pending: m.pending, Dead: int64(len(m.dead))}
	for _, d := range m.dossiers {
		switch d.state {
		case mLeased:
			s.InFlight++
		case mWaiting:
			s.Waiting++
		}
	}
	return s, nil
}

// Ping implements Store.
func (m *Memory) Ping(context.Context) error { return nil }

// sweep forgets idle dossiers past retention every 1,024 appends.
func (m *Memory) sweep(now time.Time) {
	m.ops++
	if m.ops%1024 != 0 {
		return
	}
	for k, d := range m.dossiers {
		if d.state == mIdle && !now.Before(d.expires) {
			delete(m.dossiers, k)
		}
	}
}
