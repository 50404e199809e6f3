package idempotency

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// Memory is the in-process Store of the embedded default: one adapter
// process, nothing survives a restart.
type Memory struct {
	now    func() time.Time
	mu     sync.Mutex
	keys   map[string]*keyRecord
	claims map[string]*claimRecord
	locks  map[string]*lockRecord
	ops    int
}

type lockRecord struct {
	token      string
	leaseUntil time.Time
}

type keyRecord struct {
	fingerprint string
	token       string
	leaseUntil  time.Time // in progress while zero response
	response    *Stored
	expires     time.Time
}

type claimRecord struct {
	owner      string
	sender     string // the owner whose content the treasury may hold ("": not known)
	sent       bool
	reference  string
	leaseUntil time.Time
	expires    time.Time
	lease      string // the token of the claim's latest taking (Claim.Lease)
}

// NewMemory returns an empty store on clock now (nil means time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, keys: map[string]*keyRecord{}, claims: map[string]*claimRecord{}, locks: map[string]*lockRecord{}}
}

// NewToken returns a random lease token.
func NewToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// inProgressRetention bounds how long an abandoned reservation is kept to
// report Recovered on takeover.
const inProgressRetention = 24 * time.Hour

// Begin implements Store.
func (m *Memory) Begin(_ context.Context, key, fp string, lease time.Duration) (Begun, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	r := m.keys[key]
	if r != nil && !now.Before(r.expires) {
		r = nil
	}
	switch {
	case r == nil:
	case r.response != nil:
		if r.fingerprint == fp {
			resp := *r.response
			return Begun{State: Completed, Response: &resp}, nil
		}
		if !r.response.Replaceable {
			return Begun{State: Mismatch}, nil
		}
		r = nil // a refused dossier corrected under the same derived key
	case r.fingerprint != fp:
		return Begun{State: Mismatch}, nil
	case now.Before(r.leaseUntil):
		return Begun{State: InProgress, RetryAfter: r.leaseUntil.Sub(now)}, nil
	}
	recovered := r != nil
	tok := NewToken()
	m.keys[key] = &keyRecord{fingerprint: fp, token: tok, leaseUntil: now.Add(lease), expires: now.Add(inProgressRetention)}
	return Begun{State: Reserved, Token: tok, Recovered: recovered}, nil
}

// Complete implements Store.
func (m *Memory) Complete(_ context.Context, key, token string, resp Stored, retention time.Duration) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.keys[key]
	if r == nil || r.token != token || r.response != nil {
		return ErrLeaseLost
	}
	resp.Body = append([]byte(nil), resp.Body...)
	r.response, r.expires = &resp, now.Add(retention)
	return nil
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, key, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.keys[key]
	if r == nil || r.token != token || r.response != nil {
		return ErrLeaseLost
	}
	delete(m.keys, key)
	return nil
}

// ClaimDossier implements Store.
func (m *Memory) ClaimDossier(_ context.Context, dossier, owner string, lease time.Duration) (Claim, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.claims[dossier]
	if c != nil && !now.Before(c.expires) {
		c = nil
	}
	sender := owner
	if c != nil {
		if c.owner != owner {
			if c.sent {
				return Claim{Owner: c.owner, Sent: true, Reference: c.reference}, nil
			}
			if now.Before(c.leaseUntil) {
				return Claim{Owner: c.owner, RetryAfter: c.leaseUntil.Sub(now)}, nil
			}
		} else if c.sent {
			return Claim{Owned: true, Recovered: true, Sent: true, Reference: c.reference}, nil
		}
		// An earlier attempt, the key's own or another's, ended without
		// settling: it may have sent the document, its sender's content.
		sender = c.sender
	}
	tok := NewToken()
	m.claims[dossier] = &claimRecord{owner: owner, sender: sender, leaseUntil: now.Add(lease), expires: now.Add(UnsettledClaimRetention), lease: tok}
	cl := Claim{Owned: true, Recovered: c != nil, Lease: tok}
	if cl.Recovered {
		cl.Sender, cl.TakenOver = sender, sender != owner
	}
	return cl, nil
}

// MarkSender implements Store.
func (m *Memory) MarkSender(_ context.Context, dossier, owner string) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.claims[dossier]
	if c == nil || !now.Before(c.leaseUntil) || c.owner != owner || c.sent {
		return ErrLeaseLost
	}
	c.sender = owner
	return nil
}

// Finish implements Store.
func (m *Memory) Finish(ctx context.Context, f Final) Finished { return FinishInSteps(ctx, m, f) }

// Start implements Store.
func (m *Memory) Start(ctx context.Context, key, fp string, lease time.Duration, dossier, owner, lockID string) (Started, error) {
	return StartInSteps(ctx, m, key, fp, lease, dossier, owner, lockID)
}

// ClaimAndLock implements Store.
func (m *Memory) ClaimAndLock(ctx context.Context, dossier, owner, lockID string, lease time.Duration) (Claim, Lock, error) {
	return ClaimThenLock(ctx, m, dossier, owner, lockID, lease)
}

// ReleaseDossier implements Store.
func (m *Memory) ReleaseDossier(_ context.Context, dossier, owner, lease string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.claims[dossier]
	if c == nil || c.owner != owner || c.sent || c.lease != lease {
		return ErrLeaseLost
	}
	delete(m.claims, dossier)
	return nil
}

// SettleDossier implements Store.
func (m *Memory) SettleDossier(_ context.Context, dossier, owner string, sent bool, reference string, retention time.Duration) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.claims[dossier]
	if c == nil || c.owner != owner {
		return ErrLeaseLost
	}
	if !sent {
		if !c.sent {
			delete(m.claims, dossier)
		}
		return nil
	}
	// Sent, the claim is its sender's: no owner at all when the sender is
	// not known, so that every key is told the dossier was sent.
	c.owner, c.sent, c.reference, c.expires = c.sender, true, reference, now.Add(retention)
	return nil
}

// LockDossier implements Store.
func (m *Memory) LockDossier(_ context.Context, id string, lease time.Duration) (Lock, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.locks[id]; l != nil && now.Before(l.leaseUntil) {
		return Lock{RetryAfter: l.leaseUntil.Sub(now)}, nil
	}
	tok := NewToken()
	m.locks[id] = &lockRecord{token: tok, leaseUntil: now.Add(lease)}
	return Lock{Held: true, Token: tok}, nil
}

// UnlockDossier implements Store.
func (m *Memory) UnlockDossier(_ context.Context, id, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.locks[id]; l == nil || l.token != token {
		return ErrLeaseLost
	}
	delete(m.locks, id)
	return nil
}

// Ping implements Store.
func (m *Memory) Ping(context.Context) error { return nil }

// sweep drops expired records every 1,024 operations.
func (m *Memory) sweep(now time.Time) {
	m.ops++
	if m.ops%1024 != 0 {
		return
	}
	for k, r := range m.keys {
		if !now.Before(r.expires) {
			delete(m.keys, k)
		}
	}
	for k, c := range m.claims {
		if !now.Before(c.expires) {
			delete(m.claims, k)
		}
	}
	for k, l := range m.locks {
		if !now.Before(l.leaseUntil) {
			delete(m.locks, k)
		}
	}
}
