// Package redisha makes a Redis write wait for replicas before the adapter
// acknowledges it to a caller (store.redis.minReplicas).
//
// Redis replicates asynchronously: a write the primary has executed is lost
// if the primary dies before a replica received it and that replica is
// promoted. A Writer closes that gap for the writes behind an answer: it
// sends the write and WAIT numreplicas timeout in one pipeline (one round
// trip) on one connection to the primary that owns the write's key. WAIT
// counts the replicas that have acknowledged the connection's last write,
// so it must run on the same connection as the write, on that key's
// primary: with a Cluster client the pipeline runs on the node client of
// the key's slot (ClusterClient.MasterForKey), never through the cluster
// client itself, which would send the keyless WAIT to an arbitrary node.
// A plain client and a Sentinel failover client have one primary: the
// pipeline runs on the client.
//
// After the write the pipeline also writes a short-lived marker key in the
// same slot (the key's name + ":w", expiring after a few seconds). A
// write whose script found its work already done (a duplicate event, a
// completed record) propagates nothing, and on the Redis versions that
// move a connection's offset only after a command that propagated (newer
// than 7.0, which moves it after every command) WAIT would then count
// replicas against an older offset of the connection; the marker moves the
// connection's offset past everything the primary had executed, so the
// acknowledgement also covers the earlier write that the caller's answer
// stands on, on every version. Replication is ordered, so a replica that
// acknowledged the marker holds that write too.
//
// A shortfall (fewer replicas than required acknowledged within the
// timeout) is an error wrapping ErrShortfall: the write is on the primary
// but not known to be on a replica, and the caller must not acknowledge it
// (the adapter answers 503 store-unavailable). The write stays on the
// primary; every caller of a Writer is built so that the retry of the same
// request finds it and answers from it, with a fresh wait.
//
// This is WAIT, not WAITAOF: the replica holds the write in memory, not
// necessarily on disk (WAITAOF needs Redis 7.2 and AOF on the replicas).
package redisha

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrShortfall is wrapped by the error of a write that fewer replicas than
// required acknowledged within the timeout.
var ErrShortfall = errors.New("redisha: fewer replicas acknowledged the write than required")

// Shortfall is the error of a write that too few replicas acknowledged.
type Shortfall struct {
	Op      string
	Acked   int64
	Want    int
	Timeout time.Duration
}

func (e *Shortfall) Error() string {
	return fmt.Sprintf("redisha: %s: %d of %d replicas acknowledged the write within %v", e.Op, e.Acked, e.Want, e.Timeout)
}

// Is makes errors.Is(err, ErrShortfall) true.
func (e *Shortfall) Is(target error) bool { return target == ErrShortfall }

// markerTTL is how long the marker key written before WAIT lives.
const markerTTL = 5 * time.Second

// Writer runs writes that wait for replicas. The zero number of replicas
// runs them as before, without WAIT and without a marker.
type Writer struct {
	c           redis.UniversalClient
	replicas    int
	timeout     time.Duration
	onShortfall func(op string)
}

// New returns a Writer on client that waits for replicas acknowledgements
// (none: no wait) at most timeout, calling onShortfall (if not nil) with
// the operation's name on each shortfall.
func New(client redis.UniversalClient, replicas int, timeout time.Duration, onShortfall func(op string)) *Writer {
	if timeout < time.Millisecond {
		timeout = time.Millisecond
	}
	return &Writer{c: client, replicas: max(replicas, 0), timeout: timeout, onShortfall: onShortfall}
}

// Waits reports whether the writer waits for replicas. A nil Writer does not.
func (w *Writer) Waits() bool { return w != nil && w.replicas > 0 }

// Run runs script sc on keys (keys[0] names the slot and so the primary)
// and, when the writer waits, the marker and WAIT in the same round trip on
// that primary's connection. The reply is the script's; err is the
// script's error, a transport error, or a *Shortfall (the script's reply
// is then valid: the write happened on the primary). w must not be nil.
func (w *Writer) Run(ctx context.Context, op string, sc *redis.Script, keys []string, args ...any) (*redis.Cmd, error) {
	if !w.Waits() {
		cmd := sc.Run(ctx, w.c, keys, args...)
		return cmd, cmd.Err()
	}
	var cmd *redis.Cmd
	err := w.pipeline(ctx, op, keys[0], func(p redis.Pipeliner) {
		cmd = sc.EvalSha(ctx, p, keys, args...)
	}, func(node redis.UniversalClient) error {
		// NOSCRIPT: a primary that never ran the script (a new node, a
		// promoted replica). Nothing was written; load it and go again.
		if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			return sc.Load(ctx, node).Err()
		}
		return nil
	})
	if cmd == nil { // the primary could not be found: nothing was sent
		cmd = redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd, err
	}
	if err == nil || errors.Is(err, ErrShortfall) {
		if cerr := cmd.Err(); cerr != nil {
			return cmd, cerr
		}
	}
	return cmd, err
}

// Confirm waits until replicas hold everything the primary of key has
// executed so far (the marker, then WAIT): for an answer read from a record
// that an earlier write, maybe one that fell short, left on the primary. It
// returns nil at once when the writer does not wait.
func (w *Writer) Confirm(ctx context.Context, op, key string) error {
	if !w.Waits() {
		return nil
	}
	return w.pipeline(ctx, op, key, func(redis.Pipeliner) {}, nil)
}

// pipeline runs write, the marker and WAIT on key's primary in one round
// trip. again, when not nil, is asked after a run whether to run once more
// (a non-nil error stops).
func (w *Writer) pipeline(ctx context.Context, op, key string, write func(redis.Pipeliner), again func(redis.UniversalClient) error) error {
	node, err := w.primary(ctx, key)
	if err != nil {
		return fmt.Errorf("redisha: %s: the primary of the key: %w", op, err)
	}
	for try := 0; ; try++ {
		var wait *redis.Cmd
		var marker *redis.StatusCmd
		_, perr := node.Pipelined(ctx, func(p redis.Pipeliner) error {
			write(p)
			marker = p.Set(ctx, key+":w", "", markerTTL)
			wait = p.Do(ctx, "wait", w.replicas, w.timeout.Milliseconds())
			return nil
		})
		if again != nil && try == 0 {
			before := perr
			if err := again(node); err != nil {
				return fmt.Errorf("redisha: %s: %w", op, err)
			}
			if before != nil && redis.HasErrorPrefix(before, "NOSCRIPT") {
				continue
			}
		}
		// Without its marker, WAIT may count against an older offset of
		// the connection (see the package comment): its answer covers
		// nothing then.
		for _, c := range []redis.Cmder{marker, wait} {
			if err := c.Err(); err != nil {
				w.moved(ctx, err)
				return fmt.Errorf("redisha: %s: %w", op, err)
			}
		}
		if perr != nil && !redis.HasErrorPrefix(perr, "NOSCRIPT") {
			// The write's own error (a script's error, MOVED during a
			// failover) is the caller's to see on its command.
			w.moved(ctx, perr)
		}
		if n, _ := wait.Int64(); n < int64(w.replicas) {
			if w.onShortfall != nil {
				w.onShortfall(op)
			}
			return &Shortfall{Op: op, Acked: n, Want: w.replicas, Timeout: w.timeout}
		}
		return nil
	}
}

// primary is the client of key's primary: the node client of the key's
// slot in a Cluster, else the client itself.
func (w *Writer) primary(ctx context.Context, key string) (redis.UniversalClient, error) {
	if cc, ok := w.c.(*redis.ClusterClient); ok {
		return cc.MasterForKey(ctx, key)
	}
	return w.c, nil
}

// moved refreshes a Cluster client's slot map when a node answered MOVED
// (its slots went to a promoted replica): the caller's retry then reaches
// the new primary. The error itself is the caller's, a store error.
func (w *Writer) moved(ctx context.Context, err error) {
	if _, ok := redis.IsMovedError(err); !ok {
		return
	}
	if cc, ok := w.c.(*redis.ClusterClient); ok {
		cc.ReloadState(ctx)
	}
}
