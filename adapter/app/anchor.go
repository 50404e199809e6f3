package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/kbnn/dvc/adapter/auditlog"
)

// evidenceAnchors keeps each evidence log's latest checkpoint outside its
// directory (redisstore.Anchors). A log's own files cannot show that they
// are not an older copy of themselves, restored from a backup or cut back,
// nor another process's files under the same key; the anchor can, before
// the instance signs a tree that conflicts with checkpoints it already
// handed out in receipts.
type evidenceAnchors interface {
	Latest(ctx context.Context, origin string) ([]byte, error)
	Advance(ctx context.Context, origin string, size uint64, signed []byte) (uint64, error)
	Key(origin string) string
}

// anchorTimeout bounds each anchor read or write.
const anchorTimeout = 10 * time.Second

// checkAnchor checks, at start-up, that the opened log holds the checkpoint
// anchored for its origin: at least its size, with its root. No anchor
// (a new log, or a Redis that lost it) passes; an anchor that cannot be
// read fails the start, as the registered signers' seed does.
func checkAnchor(l *auditlog.Log, v note.Verifier, a evidenceAnchors, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), anchorTimeout)
	defer cancel()
	origin := l.Origin()
	cp, err := a.Latest(ctx, origin)
	if err != nil {
		return fmt.Errorf("the log's anchor cannot be read, so %s cannot be checked against it: %w", dir, err)
	}
	if cp == nil {
		return nil
	}
	err = l.Holds(v, cp)
	if err == nil {
		return nil
	}
	anchored := "a checkpoint"
	if nt, oerr := note.Open(cp, note.VerifierList(v)); oerr == nil {
		var c log.Checkpoint
		if _, perr := c.Unmarshal([]byte(nt.Text)); perr == nil {
			anchored = fmt.Sprintf("a checkpoint of %d records", c.Size)
		}
	}
	restart := fmt.Sprintf("To start a new log instead, give the instance a new evidence.instance and key pair (a new origin), or delete the anchor (redis-cli DEL %s) once the records it signs are known lost", a.Key(origin))
	switch {
	case errors.Is(err, auditlog.ErrShort):
		return fmt.Errorf("%s holds %d records, and Redis anchors %s for %s, which this log published: the directory is an older copy (restored from a backup, or cut back). Restore its latest copy. %s",
			dir, l.Size(), anchored, origin, restart)
	case errors.Is(err, auditlog.ErrRewritten):
		return fmt.Errorf("the records in %s are not the ones %s anchored in Redis for %s signs: another process's directory under this instance's key, or records rewritten. Give every instance its own evidence.instance, key and directory. %s",
			dir, anchored, origin, restart)
	}
	// Anything else: the anchor does not open with the instance's key or
	// does not parse, or the directory's hashes cannot be read.
	return fmt.Errorf("%s cannot be checked against the checkpoint anchored in Redis for %s: %w. %s",
		dir, origin, err, restart)
}

// anchor anchors the log's latest checkpoint every interval while the log
// grows. An anchor ahead of the log (another process under this origin)
// and an anchor that cannot be written are logged and counted in
// dvc_evidence_anchor_problems_total{kind="conflict"|"unwritten"}; neither
// stops the log, whose records stand on their own.
func (ev *evidence) anchor(a evidenceAnchors, interval time.Duration, lg *slog.Logger, problems *prometheus.CounterVec) {
	defer close(ev.anchored)
	t := time.NewTicker(interval)
	defer t.Stop()
	origin := ev.log.Origin()
	var last uint64
	failing := false
	for {
		select {
		case <-ev.stop:
			return
		case <-t.C:
		}
		cp, size := ev.log.Latest()
		if size == 0 || size == last {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), anchorTimeout)
		held, err := a.Advance(ctx, origin, size, cp)
		cancel()
		if err != nil {
			problems.WithLabelValues("unwritten").Inc()
			if !failing {
				lg.Warn("evidence anchor: the latest checkpoint is not anchored (retried while the log grows)", "origin", origin, "size", size, "err", err)
			}
			failing = true
			continue
		}
		if failing {
			lg.Info("evidence anchor: anchored again", "origin", origin, "size", size)
			failing = false
		}
		if held > size {
			problems.WithLabelValues("conflict").Inc()
			lg.Error("evidence anchor: Redis anchors a longer tree under this log's origin than this log holds: another process writes under this instance's key, or this directory was rolled back; give every instance its own evidence.instance, key and directory",
				"origin", origin, "anchored", held, "size", size, "key", a.Key(origin))
		}
		last = size
	}
}

// newAnchorProblems counts the anchor's problems by kind:
// dvc_evidence_anchor_problems_total{kind}.
func newAnchorProblems() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dvc_evidence_anchor_problems_total",
		Help: "Evidence log checkpoints not anchored in Redis (unwritten), and anchors found ahead of this instance's log (conflict: another process under its key, or a rolled-back directory).",
	}, []string{"kind"})
	for _, k := range []string{"unwritten", "conflict"} {
		c.WithLabelValues(k)
	}
	return c
}
