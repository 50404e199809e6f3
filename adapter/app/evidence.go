package app

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/kbnn/dvc/adapter/auditlog"
	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/httpapi"
	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/statusflow"
)

// evidence is the opened evidence log and what writes to it.
type evidence struct {
	log      *auditlog.Log // nil when evidence.enabled is false
	recorder *intake.Recorder
	stop     chan struct{}
	done     chan struct{} // closed when retain returned
	anchored chan struct{} // closed when anchor returned; nil without anchors
}

// openEvidence opens the instance's evidence log: the signer key must be
// named after the instance (kbnn-dvc-adapter/<evidence.instance>). With
// anchors (Redis), the log must hold the checkpoint anchored there, and
// its later checkpoints are anchored as they come (see anchor.go).
func openEvidence(c config.Evidence, o Options, anchors evidenceAnchors, problems *prometheus.CounterVec) (*evidence, error) {
	ev := &evidence{recorder: &intake.Recorder{Instance: c.Instance, ForwardOriginal: c.ForwardOriginal, ArchiveBodies: c.ArchiveBodies}}
	if !c.Enabled {
		return ev, nil
	}
	raw, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("evidence.keyFile: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("evidence.keyFile: %s is not a note signer key (dvc-sign logkey writes one): %w", c.KeyFile, err)
	}
	if want := auditlog.OriginFor(c.Instance); signer.Name() != want {
		return nil, fmt.Errorf("evidence.keyFile: the key is named %q; instance %q (evidence.instance) needs a key named %q", signer.Name(), c.Instance, want)
	}
	l, err := auditlog.Open(auditlog.Options{Dir: c.Dir, Signer: signer, CheckpointInterval: c.CheckpointInterval,
		SegmentBytes: c.SegmentBytes, SealDaily: c.SealDaily, Now: o.Clock, OpenFile: o.AuditOpenFile, Logger: o.Log})
	if err != nil {
		return nil, fmt.Errorf("evidence.dir: %w", err)
	}
	vkey, err := verifierKey(strings.TrimSpace(string(raw)))
	if err == nil {
		err = writeVerifier(c.Dir, vkey)
	}
	if err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("evidence.dir: %w", err)
	}
	if anchors != nil {
		v, err := note.NewVerifier(vkey)
		if err == nil {
			err = checkAnchor(l, v, anchors, c.Dir)
		}
		if err != nil {
			_ = l.Close()
			return nil, fmt.Errorf("evidence: %w", err)
		}
	}
	ev.log, ev.recorder.Log = l, l
	ev.stop, ev.done = make(chan struct{}), make(chan struct{})
	go ev.retain(c.Retention, o.Log)
	if anchors != nil {
		ev.anchored = make(chan struct{})
		go ev.anchor(anchors, c.CheckpointInterval, o.Log, problems)
	}
	return ev, nil
}

// verifierKey returns the verifier key of the note signer key skey.
func verifierKey(skey string) (string, error) {
	// PRIVATE+KEY+<name>+<hash>+<base64 of 0x01 and the Ed25519 seed>
	parts := strings.SplitN(skey, "+", 5) // the base64 key may hold "+"
	if len(parts) != 5 {
		return "", errors.New("evidence.keyFile: not a note signer key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("evidence.keyFile: not an Ed25519 note signer key")
	}
	return note.NewEd25519VerifierKey(parts[2], ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey))
}

// writeVerifier leaves the verifier key vkey in <dir>/log.vkey
// (auditlog.VerifierFile), unless it is there already.
func writeVerifier(dir, vkey string) error {
	path := filepath.Join(dir, auditlog.VerifierFile)
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == vkey {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(vkey+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// retain removes sealed segments older than retention (zero: never), once a
// minute.
func (ev *evidence) retain(retention time.Duration, log *slog.Logger) {
	defer close(ev.done)
	if retention <= 0 {
		<-ev.stop
		return
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ev.stop:
			return
		case <-t.C:
		}
		for _, p := range ev.log.Sealed() {
			fi, err := os.Stat(p)
			if err != nil || time.Since(fi.ModTime()) < retention {
				continue
			}
			if err := ev.log.Remove(p); err != nil {
				log.Warn("evidence: sealed segment past retention not removed", "segment", p, "err", err)
				continue
			}
			log.Info("evidence: sealed segment past retention removed", "segment", p)
		}
	}
}

// close publishes the last checkpoint and closes the log.
func (ev *evidence) close() error {
	if ev == nil || ev.log == nil {
		return nil
	}
	close(ev.stop)
	<-ev.done
	if ev.anchored != nil {
		<-ev.anchored
	}
	return ev.log.Close()
}

// DeliveryRoute is the route a delivery attempt's leaf names.
const DeliveryRoute = "DELIVER portal"

// logAttempts wraps a delivery so that every attempt has its leaf: the
// event's payload, the outcome (200, or 502 with code delivery-failed).
// The leaf is written after the attempt, so it cannot decide it: an event
// the portal took stays delivered when its leaf cannot be written (retrying
// it would only send the portal a duplicate, and a log that is down stays
// down until the restart), and a failed attempt stays failed. Either way
// the lost leaf is logged and counted in dvc_evidence_failures_total
// {kind="delivery"} (by the recorder's Failed), and /readyz reports the
// log down.
func logAttempts(rec *intake.Recorder, now func() time.Time, log *slog.Logger, deliver func(context.Context, outbox.Delivery) error) func(context.Context, outbox.Delivery) error {
	if !rec.Enabled() {
		return deliver
	}
	return func(ctx context.Context, d outbox.Delivery) error {
		at := now()
		derr := deliver(ctx, d)
		procedure, maHoSo, _ := statusflow.SplitDossierKey(d.Dossier)
		r := auditlog.Record{Time: at, Caller: "adapter", Route: DeliveryRoute, Procedure: procedure, MaHoSo: maHoSo,
			Status: 200, EventID: d.ID}
		if derr != nil {
			r.Status, r.Code = 502, "delivery-failed"
		}
		if _, err := rec.Append(context.WithoutCancel(ctx), r, d.Payload); err != nil {
			log.Error("evidence log: delivery attempt not logged; its outcome stands", "event_id", d.ID,
				"attempt", d.Attempt, "procedure", procedure, "maHoSo", maHoSo, "delivered", derr == nil, "err", err)
		}
		return derr
	}
}

// evidenceFailures counts the records the evidence log could not take,
// by the kind of event: dvc_evidence_failures_total{kind}.
func newEvidenceFailures() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dvc_evidence_failures_total",
		Help: "Records the evidence log could not take (body not archived or leaf not appended), by kind of event: submission, withdrawal, callback, delivery.",
	}, []string{"kind"})
	for _, k := range []string{"submission", "withdrawal", "callback", "delivery", "other"} {
		c.WithLabelValues(k)
	}
	return c
}

// evidenceKind is the kind label of a record's route.
func evidenceKind(route string) string {
	switch route {
	case intake.SubmitRoute:
		return "submission"
	case intake.WithdrawRoute:
		return "withdrawal"
	case httpapi.CallbackRoute:
		return "callback"
	case DeliveryRoute:
		return "delivery"
	}
	return "other"
}
