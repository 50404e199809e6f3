// Package redisstore owns the Redis-backed stores of the adapter: the
// idempotency.Store that several adapter instances share. It is the only
// package besides the cmd wiring that imports go-redis.
//
// Every read-then-write is one Lua script (EVALSHA, EVAL on a cold script
// cache), so it is atomic; each script touches exactly one key, whose name
// carries a hash tag, so the store works on a single server, Sentinel and
// Cluster alike:
//
//	<prefix>idem:{sha256hex(key)}        one idempotency key (a hash)
//	<prefix>dossier:{sha256hex(dossier)} one dossier claim (a hash)
//	<prefix>lock:{sha256hex(id)}         one dossier-wide lock (a hash)
//
// The dossier records and their listing indexes (Dossiers), whose script
// writes a record and its index entries together where the server allows
// keys of several slots, are described in dossiers.go and dossierlist.go,
// the registered signers (Signers) in signers.go.
//
// Hashing keeps the tag well formed whatever characters a caller's key has
// and bounds the key length. Time comes from the injected clock, never from
// Redis; each record also gets a Redis TTL TTLSlack beyond its logical
// expiry, so nothing is kept forever and a clock skew under TTLSlack
// between an instance and Redis cannot drop a record early.
//
// Redis errors are returned wrapped, so callers fail closed.
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/redisha"
	"github.com/kbnn/dvc/adapter/signers"
)

// InProgressRetention is how long an abandoned reservation is kept so that
// the attempt taking it over is told Recovered (as in Memory); an abandoned
// claim is kept idempotency.UnsettledClaimRetention.
const InProgressRetention = 24 * time.Hour

// TTLSlack is how long Redis keeps a record beyond its logical expiry.
const TTLSlack = 10 * time.Minute

// Store is the Redis idempotency.Store.
type Store struct {
	c      redis.UniversalClient
	prefix string
	now    func() time.Time
	ha     *redisha.Writer // nil: no wait for replicas
	slots  slots           // whether Start's script may run (one script on three slots)
}

// slots tells whether a script may take keys of several hash slots: not on
// a Cluster client, nor once a server refused such a script (CROSSSLOT,
// before it ran: a Cluster reached through one address, as a managed
// service's cluster endpoint is). A store then does the script's work with
// commands of one slot each, as on a Cluster client.
type slots struct{ refused atomic.Bool }

// several reports whether a script run through c may take keys of
// several slots.
func (sl *slots) several(c redis.UniversalClient) bool {
	_, cluster := c.(*redis.ClusterClient)
	return !cluster && !sl.refused.Load()
}

// refusedBy reports whether err is a server's refusal of a script for the
// slots of its keys, and remembers it: nothing of that script was written.
func (sl *slots) refusedBy(err error) bool {
	if !redis.HasErrorPrefix(err, "CROSSSLOT") {
		return false
	}
	sl.refused.Store(true)
	return true
}

var _ idempotency.Store = (*Store)(nil)

// New returns a store on client with every key under prefix (for example
// "dvc:"; without braces, or the prefix's tag would put every key in one
// Cluster slot) on clock now (nil means time.Now).
func New(client redis.UniversalClient, prefix string, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{c: client, prefix: prefix, now: now}
}

// WaitForReplicas makes the writes an answer stands on wait for replicas
// through w (store.redis.minReplicas) and returns s:
//
//   - Complete: the stored answer is what every retry of the key replays;
//     lost with the primary, a retry would start the request afresh.
//   - a Begin that finds the key completed: the replayed answer must be as
//     safe as the first, and its record may be one whose Complete fell short.
//   - ClaimDossier: the claim is what makes every later attempt, of this
//     key or another, ask the treasury before sending. Replicated before
//     the send, it survives a failover and no attempt sends the dossier a
//     second time (the treasury's downstream key stays the last guard).
//   - MarkSender: the sender is whose content a document found at the
//     treasury is taken to be; lost with the primary after the send, a
//     later taker-over would take another's document for its sender's.
//
// Settling the claim as sent, the dossier lock and its release need no
// wait: a settlement lost with the primary leaves the replicated claim in
// progress, whose next holder asks the treasury first; a lock lost with the
// primary lets another request of the dossier reach the treasury beside its
// holder, as when a holder's lease ends after a crash, and the treasury
// orders the two.
//
// A shortfall is an error wrapping idempotency.ErrNotReplicated; the write
// stays on the primary, where the caller's retry finds it.
func (s *Store) WaitForReplicas(w *redisha.Writer) *Store {
	s.ha = w
	return s
}

// replicated runs sc through the replica wait when there is one.
func (s *Store) replicated(ctx context.Context, op string, sc *redis.Script, keys []string, args ...any) (*redis.Cmd, error) {
	if !s.ha.Waits() {
		cmd := sc.Run(ctx, s.c, keys, args...)
		return cmd, nil
	}
	return s.ha.Run(ctx, op, sc, keys, args...)
}

// notReplicated marks an error of the wait for replicas after a write the
// primary took (a shortfall, or the marker or WAIT failing on the way) as
// idempotency.ErrNotReplicated: either way no replica is known to hold the
// write, and the caller must not acknowledge it.
func notReplicated(op string, err error) error {
	return fmt.Errorf("redisstore: %s: %w: %w", op, idempotency.ErrNotReplicated, err)
}

func (s *Store) keyName(key string) string         { return s.name("idem:{", key) }
func (s *Store) dossierName(dossier string) string { return s.name("dossier:{", dossier) }
func (s *Store) lockName(id string) string         { return s.name("lock:{", id) }

func (s *Store) name(kind, id string) string {
	sum := sha256.Sum256([]byte(id))
	var tag [2 * sha256.Size]byte
	hex.Encode(tag[:], sum[:])
	var b strings.Builder
	b.Grow(len(s.prefix) + len(kind) + len(tag) + 1)
	b.WriteString(s.prefix)
	b.WriteString(kind)
	b.Write(tag[:])
	b.WriteByte('}')
	return b.String()
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// ttl is the Redis expiry of a record logically alive for d.
func ttl(d time.Duration) int64 { return max(d+TTLSlack, time.Millisecond).Milliseconds() }

// Begin implements idempotency.Store.
func (s *Store) Begin(ctx context.Context, key, fp string, lease time.Duration) (idempotency.Begun, error) {
	now := s.now()
	tok := idempotency.NewToken()
	reply, err := beginScript.Run(ctx, s.c, []string{s.keyName(key)}, s.beginArgs(now, fp, tok, lease)...).Slice()
	if err != nil {
		return idempotency.Begun{}, fmt.Errorf("redisstore: begin: %w", err)
	}
	b, err := parseBegin(reply, now, tok)
	if err != nil {
		return idempotency.Begun{}, fmt.Errorf("redisstore: begin: %w", err)
	}
	if b.State == idempotency.Completed {
		if err := s.ha.Confirm(ctx, "idempotency_replay", s.keyName(key)); err != nil {
			return idempotency.Begun{}, notReplicated("begin", err)
		}
	}
	return b, nil
}

func parseBegin(r []any, now time.Time, tok string) (idempotency.Begun, error) {
	if len(r) == 0 {
		return idempotency.Begun{}, errReply
	}
	switch r[0] {
	case "R":
		if len(r) != 2 {
			return idempotency.Begun{}, errReply
		}
		return idempotency.Begun{State: idempotency.Reserved, Token: tok, Recovered: r[1] == int64(1)}, nil
	case "M":
		return idempotency.Begun{State: idempotency.Mismatch}, nil
	case "P":
		if len(r) != 2 {
			return idempotency.Begun{}, errReply
		}
		until, err := millis(r[1])
		if err != nil {
			return idempotency.Begun{}, err
		}
		return idempotency.Begun{State: idempotency.InProgress, RetryAfter: until.Sub(now)}, nil
	case "C":
		resp, err := parseStored(r[1:])
		if err != nil {
			return idempotency.Begun{}, err
		}
		return idempotency.Begun{State: idempotency.Completed, Response: resp}, nil
	}
	return idempotency.Begun{}, errReply
}

// parseStored reads {status, replaceable, body, name, value, ...}.
func parseStored(r []any) (*idempotency.Stored, error) {
	if len(r) < 3 || len(r)%2 != 1 {
		return nil, errReply
	}
	f := make([]string, len(r))
	for i, v := range r {
		s, ok := v.(string)
		if !ok {
			return nil, errReply
		}
		f[i] = s
	}
	st, err := strconv.Atoi(f[0])
	if err != nil {
		return nil, fmt.Errorf("%w: status %q", errReply, f[0])
	}
	resp := &idempotency.Stored{Status: st, Replaceable: f[1] == "1", Body: []byte(f[2])}
	if len(f) > 3 {
		resp.Header = make(map[string]string, (len(f)-3)/2)
		for i := 3; i < len(f); i += 2 {
			resp.Header[f[i]] = f[i+1]
		}
	}
	return resp, nil
}

// Complete implements idempotency.Store.
func (s *Store) Complete(ctx context.Context, key, token string, resp idempotency.Stored, retention time.Duration) error {
	args := s.completeArgs(token, resp, retention)
	if !s.ha.Waits() {
		return s.fenced(ctx, "complete", completeScript, s.keyName(key), args...)
	}
	cmd, err := s.ha.Run(ctx, "idempotency_complete", completeScript, []string{s.keyName(key)}, args...)
	n, cerr := cmd.Int64()
	switch {
	case cerr != nil:
		return fmt.Errorf("redisstore: complete: %w", cerr)
	case n == 0:
		return idempotency.ErrLeaseLost
	case err != nil:
		return notReplicated("complete", err)
	}
	return nil
}

func (s *Store) completeArgs(token string, resp idempotency.Stored, retention time.Duration) []any {
	now := s.now()
	rep := "0"
	if resp.Replaceable {
		rep = "1"
	}
	args := make([]any, 0, 6+2*len(resp.Header))
	args = append(args, token, ms(now.Add(retention)), ttl(retention), resp.Status, rep, resp.Body)
	for k, v := range resp.Header {
		args = append(args, k, v)
	}
	return args
}

// Finish implements idempotency.Store: the settlement, the answer and the
// unlock in one pipeline, in that order on one server (in a Cluster, one
// per primary, side by side; a script the server had lost runs again after
// the others). When the answer waits for replicas it goes through redisha
// on its own, after the settlement and before the unlock.
func (s *Store) Finish(ctx context.Context, f idempotency.Final) idempotency.Finished {
	if s.ha.Waits() {
		return idempotency.FinishInSteps(ctx, s, f)
	}
	r, _ := s.finish(ctx, f)
	return r
}

// finish is Finish's pipeline, after the calls before (their commands
// first in the reply).
func (s *Store) finish(ctx context.Context, f idempotency.Final, before ...scriptCall) (idempotency.Finished, []*redis.Cmd) {
	calls := make([]scriptCall, 0, len(before)+3)
	calls = append(calls, before...)
	if f.Sent != nil {
		calls = append(calls, s.settleCall(f.Sent.Dossier, f.Sent.Owner, true, f.Sent.Reference, f.Sent.Retention))
	}
	calls = append(calls, scriptCall{completeScript, []string{s.keyName(f.Key)}, s.completeArgs(f.Token, f.Response, f.Retention)})
	if f.LockToken != "" {
		calls = append(calls, scriptCall{unlockScript, []string{s.lockName(f.LockID)}, []any{f.LockToken}})
	}
	all := s.runAll(ctx, calls...)
	first, cmds := all[:len(before)], all[len(before):]
	var r idempotency.Finished
	if f.Sent != nil {
		r.SettleErr, cmds = fencedReply("settle dossier", cmds[0]), cmds[1:]
	}
	r.Err = fencedReply("complete", cmds[0])
	if f.LockToken != "" {
		r.UnlockErr = fencedReply("unlock dossier", cmds[1])
	}
	return r, first
}

// FinishRegistering is Finish that also records the dossier the treasury
// took (dossier.Register of r on d), in the same round trip where it can:
// a first submission's record (r.SoBoSung 0), tried as absent as
// Dossiers.Create would, written in Finish's pipeline before the claim's
// settlement and the lock's release, when d is the Dossiers of this
// store's client, on a single server or a Sentinel set, and no write waits
// for replicas. A record found stored (a callback was first, or an earlier
// attempt wrote it) is then updated from what the pipeline found, after
// the lock's release: Register's change depends only on the record it is
// given. Elsewhere the record is registered first, then Finish runs.
// regErr is the record's error; it does not change the answer's.
func (s *Store) FinishRegistering(ctx context.Context, f idempotency.Final, d dossier.Updater, r dossier.Record) (_ idempotency.Finished, regErr error) {
	fn := dossier.Registration(r)
	ds, fold := d.(*Dossiers)
	var call recordCall
	if fold = fold && ds.c == s.c && !s.ha.Waits() && r.SoBoSung == 0 && ds.slots.several(ds.c); fold {
		var err error
		call, fold, err = ds.casCall(ds.key(r.Procedure, r.MaHoSo), nil, false, fn, false)
		fold = fold && err == nil
	}
	if !fold {
		regErr = dossier.Register(ctx, d, r)
		return s.Finish(ctx, f), regErr
	}
	fin, cmds := s.finish(ctx, f, call.scriptCall)
	stored, cur, err := ds.stored(cmds[0])
	switch {
	case stored:
		return fin, nil
	case err == nil:
		// Stored already: updated from what the script found.
		return fin, ds.updateFrom(ctx, r.Procedure, r.MaHoSo, fn, false, cur, cur != nil, false)
	default:
		// Not run (a Cluster behind one address: remembered), refused, or
		// its reply lost: the record is read and written on its own (a
		// change already made is not made twice).
		ds.slots.refusedBy(err)
		return fin, ds.update(ctx, r.Procedure, r.MaHoSo, fn, false)
	}
}

// scriptCall is a script with its keys and arguments.
type scriptCall struct {
	sc   *redis.Script
	keys []string
	args []any
}

// runAll runs calls in one pipeline, in order (in a Cluster, one per
// primary, side by side), and returns their commands, each holding its own
// reply or error. A script the server did not have (NOSCRIPT: a restart, a
// new primary) did not run; it is sent again whole (EVAL, which also
// caches it), after the others.
func (s *Store) runAll(ctx context.Context, calls ...scriptCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	_, _ = s.c.Pipelined(ctx, func(p redis.Pipeliner) error { // each command's error is read by the caller
		for i, c := range calls {
			cmds[i] = c.sc.EvalSha(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	for i, c := range calls {
		if redis.HasErrorPrefix(cmds[i].Err(), "NOSCRIPT") {
			cmds[i] = c.sc.Eval(ctx, s.c, c.keys, c.args...)
		}
	}
	return cmds
}

// Release implements idempotency.Store.
func (s *Store) Release(ctx context.Context, key, token string) error {
	return s.fenced(ctx, "release", releaseScript, s.keyName(key), token)
}

// ClaimDossier implements idempotency.Store.
func (s *Store) ClaimDossier(ctx context.Context, dossier, owner string, lease time.Duration) (idempotency.Claim, error) {
	now := s.now()
	cmd, herr := s.replicated(ctx, "dossier_claim", claimScript, []string{s.dossierName(dossier)}, s.claimArgs(now, owner, lease)...)
	r, err := cmd.Slice()
	if err != nil {
		return idempotency.Claim{}, fmt.Errorf("redisstore: claim dossier: %w", err)
	}
	if herr != nil {
		// The claim (if taken) stays on the primary, unsent: the retry of
		// the same key and content takes it back as recovered and asks the
		// treasury first, which holds nothing; another key waits for its
		// lease. Nothing was sent.
		return idempotency.Claim{}, notReplicated("claim dossier", herr)
	}
	c, err := parseClaim(r, now, claimLease(now, lease))
	if err != nil {
		return idempotency.Claim{}, fmt.Errorf("redisstore: claim dossier: %w", err)
	}
	return c, nil
}

// claimLease is the token of a claim taken at now for lease: its lease's
// end as the claim script stores it ('lu'), which a later taking changes.
func claimLease(now time.Time, lease time.Duration) string {
	return strconv.FormatInt(ms(now.Add(lease)), 10)
}

// parseClaim reads the claim script's reply; lu is the lease token the
// call passed (Claim.Lease of an owned claim).
func parseClaim(r []any, now time.Time, lu string) (idempotency.Claim, error) {
	if len(r) == 3 && r[0] == int64(1) {
		if r[1] == "sent" {
			ref, ok := r[2].(string)
			if !ok {
				return idempotency.Claim{}, errReply
			}
			return idempotency.Claim{Owned: true, Recovered: true, Sent: true, Reference: ref}, nil
		}
		sender, ok := r[2].(string)
		if !ok {
			return idempotency.Claim{}, errReply
		}
		switch r[1] {
		case int64(0):
			return idempotency.Claim{Owned: true, Lease: lu}, nil
		case int64(1):
			return idempotency.Claim{Owned: true, Recovered: true, Sender: sender, Lease: lu}, nil
		case int64(2):
			return idempotency.Claim{Owned: true, Recovered: true, TakenOver: true, Sender: sender, Lease: lu}, nil
		}
		return idempotency.Claim{}, errReply
	}
	if len(r) != 5 || r[0] != int64(0) {
		return idempotency.Claim{}, errReply
	}
	owner, ok1 := r[1].(string)
	ref, ok2 := r[3].(string)
	if !ok1 || !ok2 {
		return idempotency.Claim{}, errReply
	}
	if r[2] == int64(1) {
		return idempotency.Claim{Owner: owner, Sent: true, Reference: ref}, nil
	}
	until, err := millis(r[4])
	if err != nil {
		return idempotency.Claim{}, err
	}
	return idempotency.Claim{Owner: owner, RetryAfter: until.Sub(now)}, nil
}

// MarkSender implements idempotency.Store.
func (s *Store) MarkSender(ctx context.Context, dossier, owner string) error {
	cmd, herr := s.replicated(ctx, "dossier_sender", senderScript, []string{s.dossierName(dossier)}, owner, ms(s.now()))
	if err := fencedReply("mark sender", cmd); err != nil {
		return err
	}
	if herr != nil {
		return notReplicated("mark sender", herr)
	}
	return nil
}

// ReleaseDossier implements idempotency.Store.
func (s *Store) ReleaseDossier(ctx context.Context, dossier, owner, lease string) error {
	return fencedReply("release dossier", releaseClaimScript.Run(ctx, s.c, []string{s.dossierName(dossier)}, owner, lease))
}

// SettleDossier implements idempotency.Store.
func (s *Store) SettleDossier(ctx context.Context, dossier, owner string, sent bool, reference string, retention time.Duration) error {
	c := s.settleCall(dossier, owner, sent, reference, retention)
	return fencedReply("settle dossier", c.sc.Run(ctx, s.c, c.keys, c.args...))
}

func (s *Store) settleCall(dossier, owner string, sent bool, reference string, retention time.Duration) scriptCall {
	flag := "0"
	if sent {
		flag = "1"
	}
	now := s.now()
	return scriptCall{settleScript, []string{s.dossierName(dossier)},
		[]any{owner, flag, reference, ms(now.Add(retention)), ttl(retention)}}
}

// LockDossier implements idempotency.Store.
func (s *Store) LockDossier(ctx context.Context, id string, lease time.Duration) (idempotency.Lock, error) {
	now := s.now()
	tok := idempotency.NewToken()
	return parseLock(lockScript.Run(ctx, s.c, []string{s.lockName(id)}, s.lockArgs(now, tok, lease)...), now, tok)
}

func (s *Store) beginArgs(now time.Time, fp, tok string, lease time.Duration) []any {
	return []any{ms(now), fp, tok, ms(now.Add(lease)), ms(now.Add(InProgressRetention)), ttl(InProgressRetention)}
}

func (s *Store) lockArgs(now time.Time, tok string, lease time.Duration) []any {
	return []any{ms(now), tok, ms(now.Add(lease)), ttl(lease)}
}

func (s *Store) claimArgs(now time.Time, owner string, lease time.Duration) []any {
	return []any{ms(now), owner, ms(now.Add(lease)), ms(now.Add(idempotency.UnsettledClaimRetention)), ttl(idempotency.UnsettledClaimRetention)}
}

func parseLock(cmd *redis.Cmd, now time.Time, tok string) (idempotency.Lock, error) {
	r, err := cmd.Slice()
	if err != nil {
		return idempotency.Lock{}, fmt.Errorf("redisstore: lock dossier: %w", err)
	}
	return parseLockReply(r, now, tok)
}

func parseLockReply(r []any, now time.Time, tok string) (idempotency.Lock, error) {
	switch {
	case len(r) == 1 && r[0] == int64(1):
		return idempotency.Lock{Held: true, Token: tok}, nil
	case len(r) == 2 && r[0] == int64(0):
		until, err := millis(r[1])
		if err != nil {
			return idempotency.Lock{}, fmt.Errorf("redisstore: lock dossier: %w", err)
		}
		return idempotency.Lock{RetryAfter: until.Sub(now)}, nil
	}
	return idempotency.Lock{}, fmt.Errorf("redisstore: lock dossier: %w", errReply)
}

// lockRetries are the pauses before the owner of a claim asks for a busy
// lock again (see ClaimAndLock).
var lockRetries = []time.Duration{2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond}

// ClaimAndLock implements idempotency.Store: the claim and the lock
// scripts in one pipeline (one round trip; in a Cluster, one per primary,
// side by side). A lock taken beside a claim that was not owned is given
// back at once; its failure to go back leaves it to its lease and does not
// change the answer. Two submissions of one dossier under two keys may
// then cross, one taking the claim and the other the lock for that
// moment: the claim's owner finding the lock busy asks for it again a few
// times over some milliseconds before it answers busy (a withdrawal at the
// treasury holds it for seconds). When claims wait for replicas they go
// through redisha on their own, and the lock follows.
func (s *Store) ClaimAndLock(ctx context.Context, dossier, owner, lockID string, lease time.Duration) (idempotency.Claim, idempotency.Lock, error) {
	if s.ha.Waits() {
		return idempotency.ClaimThenLock(ctx, s, dossier, owner, lockID, lease)
	}
	now := s.now()
	tok := idempotency.NewToken()
	cmds := s.runAll(ctx,
		scriptCall{claimScript, []string{s.dossierName(dossier)}, s.claimArgs(now, owner, lease)},
		scriptCall{lockScript, []string{s.lockName(lockID)}, s.lockArgs(now, tok, lease)})
	cc, lc := cmds[0], cmds[1]
	var c idempotency.Claim
	r, err := cc.Slice()
	if err == nil {
		c, err = parseClaim(r, now, claimLease(now, lease))
	}
	if err != nil {
		err = fmt.Errorf("redisstore: claim dossier: %w", err)
	}
	l, lerr := parseLock(lc, now, tok)
	if err != nil || !c.Owned {
		if l.Held {
			_ = s.UnlockDossier(context.WithoutCancel(ctx), lockID, tok) // else its lease ends it
		}
		return c, idempotency.Lock{}, err
	}
	l, lerr = s.lockAgain(ctx, lockID, lease, l, lerr)
	return c, l, lerr
}

// lockAgain asks for a busy lock again, for the owner of the dossier's
// claim, after each of lockRetries until it holds it.
func (s *Store) lockAgain(ctx context.Context, lockID string, lease time.Duration, l idempotency.Lock, lerr error) (idempotency.Lock, error) {
	for _, pause := range lockRetries {
		if lerr != nil || l.Held {
			break
		}
		select {
		case <-ctx.Done():
			return idempotency.Lock{}, ctx.Err()
		case <-time.After(pause):
		}
		l, lerr = s.LockDossier(ctx, lockID, lease)
	}
	return l, lerr
}

// Start implements idempotency.Store: on a single server or a Sentinel
// set, one script (startScript) reserves the key and, only then, claims
// the dossier and, only with the claim owned, takes its lock, each as its
// own script would. On a Cluster, whose slots the three keys span, and
// when claims wait for replicas, it takes the steps apart
// (idempotency.StartInSteps). A busy lock beside an owned claim is asked
// for again as in ClaimAndLock.
func (s *Store) Start(ctx context.Context, key, fp string, lease time.Duration, dossier, owner, lockID string) (idempotency.Started, error) {
	if !s.startsInOneScript() {
		return idempotency.StartInSteps(ctx, s, key, fp, lease, dossier, owner, lockID)
	}
	st, _, _, err := s.start(ctx, nil, nil, nil, key, fp, lease, dossier, owner, lockID)
	if s.slots.refusedBy(err) {
		return idempotency.StartInSteps(ctx, s, key, fp, lease, dossier, owner, lockID)
	}
	return st, err
}

// StartRegistered is Start behind the check that unit has every
// registration in want (signers.Store.FirstMissing): when want[i] is the
// first it lacks, it returns i and begins nothing; else Start's result and
// -1 (-1 too with an error). Where reg is a Signers on this store's
// client, on a single server or a Sentinel set, the check is
// the first step of Start's script (startFoldedScript): one round trip
// for both. Elsewhere (a Cluster, claims that wait for replicas, another
// signers store) it is FirstMissing, then Start.
func (s *Store) StartRegistered(ctx context.Context, reg signers.Store, unit string, want []signers.Registration,
	key, fp string, lease time.Duration, dossier, owner, lockID string) (idempotency.Started, int, error) {
	st, missing, _, err := s.startFolded(ctx, reg, unit, want, nil, nil, key, fp, lease, dossier, owner, lockID)
	return st, missing, err
}

// StartReading is StartRegistered (want may be empty: Start) that also
// reads the uploaded files read names (SHA-256 → listed size), as
// att.GetCapped would, in the same round trip, where att is an Attachments
// on this store's client and the start is one script (startFoldedScript):
// the script reads them only once the start holds the dossier's lock under
// a claim not already sent, when the send may upload them, so a replay, a
// key in progress or a busy dossier reads nothing. got holds the files so
// read; it is nil when they were not read there (att elsewhere, a Cluster,
// claims that wait for replicas, a start without the lock, a file that
// could not be read, a reply that did not arrive whole: the start is then
// asked again without them), for the caller to read them itself; nil too
// whenever err is set.
func (s *Store) StartReading(ctx context.Context, att attachment.Store, read map[string]int64, reg signers.Store, unit string,
	want []signers.Registration, key, fp string, lease time.Duration, dossier, owner, lockID string) (st idempotency.Started, missing int, got map[string][]byte, err error) {
	a, _ := att.(*Attachments)
	if a == nil || a.c != s.c || len(read) == 0 {
		a = nil
	}
	for sum := range read {
		if !attachment.ValidSum(sum) {
			a = nil // GetCapped refuses it, where the caller meets it
		}
	}
	return s.startFolded(ctx, reg, unit, want, a, read, key, fp, lease, dossier, owner, lockID)
}

// startFolded is StartReading with the files' store a (nil: none read).
func (s *Store) startFolded(ctx context.Context, reg signers.Store, unit string, want []signers.Registration, a *Attachments, read map[string]int64,
	key, fp string, lease time.Duration, dossier, owner, lockID string) (idempotency.Started, int, map[string][]byte, error) {
	oneScript := s.startsInOneScript()
	checked := len(want) == 0
	var req *registered
	if sg, same := reg.(*Signers); !checked && same && sg.s.c == s.c && oneScript { // its key, under its own prefix, is read by the script
		fields := make([]string, len(want))
		for i, w := range want {
			fields[i] = w.ID()
		}
		req = &registered{key: sg.key(unit), fields: fields}
	}
	firstMissing := func() (int, error) {
		checked = true
		missing, err := reg.FirstMissing(ctx, unit, want...)
		if err != nil {
			return -1, err
		}
		return missing, nil
	}
	if !checked && req == nil {
		if missing, err := firstMissing(); err != nil || missing >= 0 {
			return idempotency.Started{}, missing, nil, err
		}
	}
	if oneScript && (req != nil || a != nil) {
		st, missing, got, err := s.start(ctx, req, a, read, key, fp, lease, dossier, owner, lockID)
		if !s.slots.refusedBy(err) {
			return st, missing, got, err
		}
		if !checked {
			if missing, err := firstMissing(); err != nil || missing >= 0 {
				return idempotency.Started{}, missing, nil, err
			}
		}
	}
	st, err := s.Start(ctx, key, fp, lease, dossier, owner, lockID)
	return st, -1, nil, err
}

// startsInOneScript reports whether a submission's start may be one
// script: its keys may be in several slots, and its writes need not wait
// for replicas (redisha waits for each write on its own).
func (s *Store) startsInOneScript() bool { return s.slots.several(s.c) && !s.ha.Waits() }

// registered is the check startFoldedScript makes first: the hash key
// holds every one of fields.
type registered struct {
	key    string
	fields []string
}

// start runs startScript, or startFoldedScript when req or a is set: its
// refusal is the index in req.fields of the first field missing (else -1),
// and got the files of read it read from a once it held the lock (nil when
// it did not). A CROSSSLOT refusal is returned as it is, for the caller to
// take steps.
func (s *Store) start(ctx context.Context, req *registered, a *Attachments, read map[string]int64,
	key, fp string, lease time.Duration, dossier, owner, lockID string) (idempotency.Started, int, map[string][]byte, error) {
	now := s.now()
	tok, lockTok := idempotency.NewToken(), idempotency.NewToken()
	keys := []string{s.keyName(key), s.dossierName(dossier), s.lockName(lockID)}
	args := make([]any, 0, 15)
	args = append(args, s.beginArgs(now, fp, tok, lease)...)
	args = append(args, s.claimArgs(now, owner, lease)...)
	args = append(args, s.lockArgs(now, lockTok, lease)...)
	var reply []any
	var err error
	var sums []string // the files startFoldedScript reads, in its order
	if req == nil && a == nil {
		reply, err = startScript.Run(ctx, s.c, keys, args...).Slice()
	} else {
		if a != nil {
			sums = slices.Sorted(maps.Keys(read))
		}
		fkeys, fargs := foldedCall(keys, args, req, a, sums, read)
		reply, err = startFoldedScript.Run(ctx, s.c, fkeys, fargs...).Slice()
		if a != nil && err != nil && !isReply(err) {
			// The reply did not arrive whole (its files make it the
			// larger), though the script may have run: asked again without
			// them, with the same tokens, the script gives the caller what
			// it gave it (its claim then reads as recovered, so the
			// treasury is asked first, as after any lost reply). With the
			// signers' check it checks again: a registration removed in
			// between is refused as missing, and what the first run took
			// is held to its lease, as after a reply lost for good.
			sums = nil
			fkeys, fargs = foldedCall(keys, args, req, nil, nil, nil)
			reply, err = startFoldedScript.Run(ctx, s.c, fkeys, fargs...).Slice()
		}
	}
	if s.slots.refusedBy(err) {
		return idempotency.Started{}, -1, nil, err
	}
	if err != nil {
		return idempotency.Started{}, -1, nil, fmt.Errorf("redisstore: start: %w", err)
	}
	if req != nil {
		if i, refused, err := parseUnregistered(reply, len(req.fields)); refused || err != nil {
			if err != nil {
				return idempotency.Started{}, -1, nil, fmt.Errorf("redisstore: start: %w", err)
			}
			return idempotency.Started{}, i, nil, nil
		}
	}
	var files any
	if sums != nil && len(reply) == 4 {
		files, reply = reply[3], reply[:3]
	}
	st, err := parseStart(reply, now, tok, lockTok, lease)
	if err != nil {
		return idempotency.Started{}, -1, nil, fmt.Errorf("redisstore: start: %w", err)
	}
	var got map[string][]byte
	if files != nil && st.Lock.Held {
		// Files beside a start without the lock, or a list that does not
		// read as one, are not taken (the send reads them itself): the
		// start stands, and is the caller's.
		got = readFiles(files, sums)
	}
	if st.Claim.Owned && !st.Lock.Held {
		st.Lock, st.ClaimErr = s.lockAgain(ctx, lockID, lease, st.Lock, nil)
	}
	return st, -1, got, nil
}

// foldedCall lays out startFoldedScript's keys and arguments from
// startScript's, req's check (nil: none) and the files of read in a, in
// the order of sums (a nil: none).
func foldedCall(keys []string, args []any, req *registered, a *Attachments, sums []string, read map[string]int64) ([]string, []any) {
	fkeys := append(make([]string, 0, len(keys)+1+len(sums)), keys...)
	fargs := append(make([]any, 0, len(args)+1+len(sums)), args...)
	if req == nil {
		fargs = append(fargs, 0)
	} else {
		fkeys = append(fkeys, req.key)
		fargs = append(fargs, len(req.fields))
		for _, f := range req.fields {
			fargs = append(fargs, f)
		}
	}
	for _, sum := range sums {
		fkeys = append(fkeys, a.key(sum))
		// GETRANGE's end is inclusive, and a negative one counts from the
		// end: 0..size reads at most size+1 bytes (as GetCapped).
		fargs = append(fargs, max(read[sum], 0))
	}
	return fkeys, fargs
}

// readFiles reads startFoldedScript's files, v, those of sums in order:
// GetCapped's answer (a file absent is not in it, nor is an empty value
// under another hash than the empty file's), or nil when v is not such a
// list.
func readFiles(v any, sums []string) map[string][]byte {
	files, ok := v.([]any)
	if !ok || len(files) != len(sums) {
		return nil
	}
	empty := attachment.Sum(nil)
	out := make(map[string][]byte, len(files))
	for i, f := range files {
		switch b := f.(type) {
		case nil:
		case string:
			if b != "" || sums[i] == empty {
				out[sums[i]] = []byte(b)
			}
		default:
			return nil
		}
	}
	return out
}

// isReply reports whether err is the server's answer (an error reply, or
// Nil), not a failure to get one.
func isReply(err error) bool {
	if errors.Is(err, redis.Nil) {
		return true
	}
	_, ok := errors.AsType[redis.Error](err)
	return ok
}

// parseUnregistered reads startFoldedScript's refusal {'U', i}, i from
// 1 to n, as the index from 0; refused is false for any other reply.
func parseUnregistered(r []any, n int) (i int, refused bool, err error) {
	if len(r) == 0 {
		return 0, false, nil
	}
	if tag, ok := r[0].(string); !ok || tag != "U" {
		return 0, false, nil
	}
	at, ok := r[len(r)-1].(int64)
	if len(r) != 2 || !ok || at < 1 || at > int64(n) {
		return 0, true, errReply
	}
	return int(at - 1), true, nil
}

// parseStart reads startScript's reply: {begin} | {begin, claim} |
// {begin, claim, lock}.
func parseStart(r []any, now time.Time, tok, lockTok string, lease time.Duration) (idempotency.Started, error) {
	var st idempotency.Started
	parts := make([][]any, len(r))
	for i, p := range r {
		a, ok := p.([]any)
		if !ok {
			return st, errReply
		}
		parts[i] = a
	}
	if len(parts) == 0 || len(parts) > 3 {
		return st, errReply
	}
	var err error
	if st.Begun, err = parseBegin(parts[0], now, tok); err != nil {
		return st, err
	}
	reserved := st.Begun.State == idempotency.Reserved
	if !reserved {
		if len(parts) != 1 {
			return st, errReply
		}
		return st, nil
	}
	if len(parts) == 1 {
		return st, errReply
	}
	if st.Claim, err = parseClaim(parts[1], now, claimLease(now, lease)); err != nil {
		return st, err
	}
	if st.Claim.Owned != (len(parts) == 3) {
		return st, errReply
	}
	if len(parts) == 3 {
		if st.Lock, err = parseLockReply(parts[2], now, lockTok); err != nil {
			return st, err
		}
	}
	return st, nil
}

// UnlockDossier implements idempotency.Store.
func (s *Store) UnlockDossier(ctx context.Context, id, token string) error {
	return s.fenced(ctx, "unlock dossier", unlockScript, s.lockName(id), token)
}

// Ping implements idempotency.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// ClockSkew returns how far now is from the clock of the Redis server c
// reaches (positive: now is ahead), read with TIME against the middle of
// its round trip; the error is the round trip's.
func ClockSkew(ctx context.Context, c redis.UniversalClient, now func() time.Time) (time.Duration, error) {
	before := now()
	t, err := c.Time(ctx).Result()
	after := now()
	if err != nil {
		return 0, fmt.Errorf("redisstore: time: %w", err)
	}
	return before.Add(after.Sub(before) / 2).Sub(t), nil
}

// fenced runs a script that replies 1, or 0 when the caller lost the record.
func (s *Store) fenced(ctx context.Context, op string, sc *redis.Script, key string, args ...any) error {
	return fencedReply(op, sc.Run(ctx, s.c, []string{key}, args...))
}

// fencedReply reads the reply of such a script.
func fencedReply(op string, cmd *redis.Cmd) error {
	n, err := cmd.Int64()
	switch {
	case err != nil:
		return fmt.Errorf("redisstore: %s: %w", op, err)
	case n == 0:
		return idempotency.ErrLeaseLost
	case n == 1:
		return nil
	}
	return fmt.Errorf("redisstore: %s: %w: %d", op, errReply, n)
}

var errReply = errors.New("unexpected script reply")

// millis reads a millisecond timestamp the scripts return as a string.
func millis(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, errReply
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: time %q", errReply, s)
	}
	return time.UnixMilli(n), nil
}
