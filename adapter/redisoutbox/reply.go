package redisoutbox

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kbnn/dvc/adapter/outbox"
)

// newToken returns a random lease token prefix.
func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// record encodes one history record (see scripts.go).
func record(at time.Time, outcome byte, worker, reason string) string {
	return fmt.Sprintf("%d,%c,%d,%s%s", ms(at), outcome, len(worker), worker, reason)
}

var outcomes = map[byte]outbox.Outcome{'r': outbox.OutcomeRetry, 'd': outbox.OutcomeDeadLetter, 'e': outbox.OutcomeLeaseExpired}

// parseHistory decodes a sequence of "<len>:<record>".
func parseHistory(h string) ([]outbox.Attempt, error) {
	var out []outbox.Attempt
	for h != "" {
		lenPart, rest, ok := strings.Cut(h, ":")
		n, err := strconv.Atoi(lenPart)
		if !ok || err != nil || n < 0 || n > len(rest) {
			return nil, fmt.Errorf("%w: history", errReply)
		}
		a, err := parseRecord(rest[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, a)
		h = rest[n:]
	}
	return out, nil
}

func parseRecord(r string) (outbox.Attempt, error) {
	msPart, rest, ok1 := strings.Cut(r, ",")
	o, rest, ok2 := strings.Cut(rest, ",")
	wlen, rest, ok3 := strings.Cut(rest, ",")
	at, err1 := strconv.ParseInt(msPart, 10, 64)
	n, err2 := strconv.Atoi(wlen)
	var outcome outbox.Outcome
	ok4 := len(o) == 1
	if ok4 {
		outcome, ok4 = outcomes[o[0]]
	}
	if !ok1 || !ok2 || !ok3 || !ok4 || err1 != nil || err2 != nil || n < 0 || n > len(rest) {
		return outbox.Attempt{}, fmt.Errorf("%w: history record %q", errReply, r)
	}
	return outbox.Attempt{At: time.UnixMilli(at), Worker: rest[:n], Outcome: outcome, Reason: rest[n:]}, nil
}

// fields reads a reply array of exactly n elements.
func fields(v any, n int) ([]any, error) {
	a, ok := v.([]any)
	if !ok || len(a) != n {
		return nil, fmt.Errorf("%w: %d fields, want %d", errReply, len(a), n)
	}
	return a, nil
}

// reader converts reply elements, keeping the first error.
type reader struct{ err error }

func (r *reader) str(v any) string {
	s, ok := v.(string)
	if !ok && r.err == nil {
		r.err = fmt.Errorf("%w: %T is not a string", errReply, v)
	}
	return s
}

func (r *reader) int(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil && r.err == nil {
			r.err = fmt.Errorf("%w: number %q", errReply, x)
		}
		return n
	}
	if r.err == nil {
		r.err = fmt.Errorf("%w: %T is not a number", errReply, v)
	}
	return 0
}

func (r *reader) time(v any) time.Time { return time.UnixMilli(r.int(v)) }

// parseDelivery reads {d, id, seq, payload, appended at, attempt, first
// attempt, redelivered, token, expired}.
func parseDelivery(v any, worker string, until time.Time) (outbox.Delivery, error) {
	f, err := fields(v, 10)
	if err != nil {
		return outbox.Delivery{}, err
	}
	var r reader
	d := outbox.Delivery{
		Event: outbox.Event{Dossier: r.str(f[0]), ID: r.str(f[1]), Seq: r.int(f[2]),
			Payload: []byte(r.str(f[3])), AppendedAt: r.time(f[4])},
		Attempt: int(r.int(f[5])), FirstAttempt: r.time(f[6]), Redelivered: r.int(f[7]) == 1,
		Expired: int(r.int(f[9])), Worker: worker, Token: r.str(f[8]), LeaseUntil: time.UnixMilli(ms(until)),
	}
	return d, r.err
}

// parseLetter reads {d, id, seq, payload, appended at, attempts, history,
// reason, dead at, held} (see letter in scripts.go).
func parseLetter(f []any) (outbox.DeadLetter, error) {
	if len(f) != 10 {
		return outbox.DeadLetter{}, fmt.Errorf("%w: letter of %d fields", errReply, len(f))
	}
	var r reader
	l := outbox.DeadLetter{
		Event: outbox.Event{Dossier: r.str(f[0]), ID: r.str(f[1]), Seq: r.int(f[2]),
			Payload: []byte(r.str(f[3])), AppendedAt: r.time(f[4])},
		Attempts: int(r.int(f[5])), Reason: r.str(f[7]), DeadAt: r.time(f[8]), Held: int(r.int(f[9])),
	}
	if r.err != nil {
		return outbox.DeadLetter{}, r.err
	}
	h, err := parseHistory(r.str(f[6]))
	l.History = h
	return l, err
}
