package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/auditlog"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/mapping"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/signers"
)

// Policy holds the exactly-once settings.
type Policy struct {
	Retention        time.Duration // completed idempotency records; zero means 72h
	DossierRetention time.Duration // sent-dossier claims; zero means 30 days
	Deadline         time.Duration // treasury call deadline when a procedure sets none; zero means 20s
	// Lease is how long a reservation or claim is held before another
	// attempt may take it over; zero means the longest deadline plus 10s.
	Lease time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.Retention <= 0 {
		p.Retention = 72 * time.Hour
	}
	if p.DossierRetention <= 0 {
		p.DossierRetention = 30 * 24 * time.Hour
	}
	if p.Deadline <= 0 {
		p.Deadline = 20 * time.Second
	}
	return p
}

// Response is a final HTTP answer, as stored for replays.
type Response struct {
	Status   int
	Header   map[string]string
	Body     []byte
	Replayed bool
	// Code is the problem code when the answer is a refusal (a treasury
	// refusal, fresh or replayed); empty for an acceptance. It is not
	// stored: a replay reads it from the stored problem body.
	Code string
	// Cause is why a fresh refusal was refused, for the log only.
	Cause error
}

// replay is the stored answer given again.
func replay(st *idempotency.Stored) *Response {
	return &Response{Status: st.Status, Header: st.Header, Body: st.Body, Replayed: true, Code: storedCode(st)}
}

// storedCode is the problem code of a stored answer: empty for an
// acceptance, else the "code" member of its problem body (internal if the
// body has none, which no answer this package stores lacks).
func storedCode(st *idempotency.Stored) string {
	if st.Status < 400 {
		return ""
	}
	var p struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(st.Body, &p); err != nil || p.Code == "" {
		return problem.Internal.Code()
	}
	return p.Code
}

// DossierID is the identity of one submission of a dossier: procedure,
// dossier code and supplement number.
func (v *Verified) DossierID() string { return dossierID(v.Procedure.ID, v.MaHoSo, v.SoBoSung) }

// dossierID is "<procedure>|<maHoSo>|<soBoSung>": the identity of one
// submission of a dossier, which its claim and its treasury key are made of.
func dossierID(procedure, maHoSo string, soBoSung int) string {
	return procedure + "|" + maHoSo + "|" + strconv.Itoa(soBoSung)
}

// DownstreamKey is the idempotency key the dossier is sent to the treasury under: the
// lower-case hex SHA-256 of its DossierID, "<procedure>|<maHoSo>|<soBoSung>", which is the
// treasury contract's "<procedure>|<dossierCode>|<supplementNo>" (schemas/treasury/openapi.yaml,
// Idempotency-Key). The same dossier always gets the same key, whatever Idempotency-Key the
// portal used, so the treasury keeps one document for it.
func (v *Verified) DownstreamKey() string { return downstreamKey(v.DossierID()) }

// downstreamKey is the treasury's idempotency key made of id (a dossier
// identity, dossierID, or a withdrawal's): its lower-case hex SHA-256.
func downstreamKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// deadline bounds a treasury call of procedure p: its own, else the
// policy's.
func (s *Service) deadline(p *Procedure) time.Duration {
	if p != nil && p.Deadline > 0 {
		return p.Deadline
	}
	return s.policy.Deadline
}

func validKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

func (s *Service) lease() time.Duration {
	if s.policy.Lease > 0 {
		return s.policy.Lease
	}
	longest := s.policy.Deadline
	for _, p := range s.procedures {
		longest = max(longest, p.Deadline)
	}
	return longest + 10*time.Second
}

// Retry-After values, in seconds, for transient failures.
const (
	storeRetryAfter    = 5
	treasuryRetryAfter = 30
)

// storeDown is the answer when the idempotency store fails: fail closed,
// nothing is sent without a record.
func storeDown(err error) error {
	return &problem.Error{Kind: problem.StoreUnavailable, Cause: err, RetryAfter: storeRetryAfter}
}

// finalNotReplicated is the answer when the final answer's record is on
// the store's primary but too few replicas acknowledged it
// (store.redis.minReplicas): 503 store-unavailable, not the answer, since
// a failover could lose the record. The treasury has answered (its
// document exists when it accepted) and the dossier's claim, replicated
// before the send, says so: the retry under the same key replays the
// stored answer once replicas hold it, or, if the primary was lost with
// the record, takes the claim over as recovered and finds the document at
// the treasury. No retry sends the dossier again.
func finalNotReplicated(err error) error {
	return &problem.Error{Kind: problem.StoreUnavailable, Cause: err, RetryAfter: storeRetryAfter,
		Detail:   "The treasury has answered, but the answer is not yet safely recorded. Retry with the same Idempotency-Key to get it; do not submit it again under another key.",
		DetailVI: "Kho bạc đã trả lời nhưng câu trả lời chưa được ghi nhận an toàn. Hãy gửi lại với cùng Idempotency-Key để nhận câu trả lời; không gửi lại theo khóa khác."}
}

func retryAfter(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }

// Submit runs one submission exactly once: verify, reserve the idempotency
// key (scoped to the caller), claim the dossier, send it to the treasury
// under its downstream key, and store the final answer for replays.
// Errors are *problem.Error values that were not stored.
func (s *Service) Submit(ctx context.Context, sub Submission) (*Response, error) {
	if sub.IdempotencyKey != "" && !validKey(sub.IdempotencyKey) {
		return nil, problem.New(problem.InvalidIdempotencyKey, "")
	}
	v, err := s.Verify(sub)
	if err != nil {
		return nil, err
	}
	sub.Trace.identify(v.MaHoSo, v.SoBoSung)
	if !UnitAllowed(sub.Units, v.Unit()) {
		return nil, unitNotAllowed(v.Unit(), "/"+unitPath(v.Procedure))
	}
	// The signers' registrations and the supplement are checked for a new
	// document only, under the reservation and the claim (send): a key's
	// stored answer replays, and a document an earlier attempt may have
	// sent is looked for at the treasury, whatever the dossier's record and
	// the registrations say now. For a first submission to a store that
	// can, the reservation's own round trip checks the registrations first.
	want := s.wantRegistered(v)
	fs, folds := s.records.(foldingStart)
	fold := folds && len(want) > 0 && v.SoBoSung <= 0
	derived := sub.IdempotencyKey == ""
	key := sub.IdempotencyKey
	if derived {
		key = "dossier:" + v.DossierID()
	}
	scoped := sub.Caller + "|" + key
	lease := s.lease()
	fp := v.Fingerprint()
	// The claim's owner is the key and the content together: a derived
	// key names the dossier, not what it says, so other content under the
	// same derived key after a refusal must not inherit the claim (and the
	// treasury's document) of the content that came before it.
	owner := scoped + "#" + fp
	// The reservation, and with it the claim and the dossier-wide lock:
	// one treasury call per dossier at a time, so a withdrawal of the
	// dossier does not run beside this submission, and the dossier's
	// record is read again once no withdrawal can change it any more. Not
	// cancelled with the request: a caller gone between the store's work
	// and its reply would leave the lock to its lease (the claim and the
	// reservation, the key's retry takes back).
	var st idempotency.Started
	lockID := dossierLockID(v.Procedure.ID, v.MaHoSo)
	started := false
	// The small uploaded files the dossier lists are read in the same
	// round trip where the store can, once the reservation holds the
	// dossier: they are the send's to read next.
	var pre prefetched
	if folds {
		pre.read = s.toPrefetch(sub, v)
	}
	if fold || len(pre.read) > 0 {
		var missing int
		var check []signers.Registration
		if fold {
			check = want
		}
		st, missing, pre.got, err = fs.StartReading(context.WithoutCancel(ctx), s.attachments, pre.read, s.signers, v.Unit(), check, scoped, fp, lease, v.DossierID(), owner, lockID)
		if fold && err == nil && missing < 0 {
			want = nil // found by the reservation's round trip
		}
		// With one missing nothing was written. Not a refusal yet: the key
		// may hold an answer, or its dossier's document be at the treasury
		// (send checks the registrations again for a new one).
		started = err != nil || missing < 0
	}
	if !started {
		st, err = s.records.Start(context.WithoutCancel(ctx), scoped, fp, lease, v.DossierID(), owner, lockID)
	}
	b := st.Begun
	if done, err := s.begun(b, err); done != nil || err != nil {
		return done, err
	}
	s.hook("reserved")
	var left unfinished
	resp, final, err := s.send(ctx, sub, v, owner, st, want, pre, &left)
	if !final {
		if rerr := s.records.Release(context.WithoutCancel(ctx), scoped, b.Token); rerr != nil {
			s.log.Warn("idempotency reservation not released", "request_id", sub.RequestID, "err", rerr)
		}
		return nil, err
	}
	stored := idempotency.Stored{Status: resp.Status, Header: resp.Header, Body: resp.Body,
		Replaceable: derived && resp.Status != 202}
	s.hook("answered")
	if cerr := s.finish(ctx, sub.RequestID, v, scoped, b.Token, stored, left); cerr != nil {
		if errors.Is(cerr, idempotency.ErrNotReplicated) {
			s.log.Error("idempotency record not replicated", "request_id", sub.RequestID, "procedure", v.Procedure.ID, "maHoSo", v.MaHoSo, "err", cerr)
			sub.Trace.answeredOtherwise()
			return nil, finalNotReplicated(cerr)
		}
		// The answer is right; only its replay copy is missing. A retry
		// recovers through the treasury's record of the downstream key.
		s.log.Error("idempotency record not completed", "request_id", sub.RequestID, "procedure", v.Procedure.ID, "maHoSo", v.MaHoSo, "err", cerr)
	}
	s.hook("completed")
	return resp, nil
}

// unfinished is what send leaves with a final answer for Submit to write
// with it: the dossier's lock, held, and the claim's settlement as sent
// when the treasury holds the document.
type unfinished struct {
	lockID, lockToken string
	sent              *idempotency.Settlement
	record            *dossier.Record // the dossier's record, for Finish to write (registeringFinish)
}

// registeringFinish is a records store whose Finish can write the record
// of the dossier the treasury took (dossier.Register on d) in its own
// round trip: redisstore.Store. regErr is the record's error.
type registeringFinish interface {
	FinishRegistering(ctx context.Context, f idempotency.Final, d dossier.Updater, r dossier.Record) (_ idempotency.Finished, regErr error)
}

// finish settles the dossier's claim, stores the final answer and gives
// the dossier's lock back, in one round trip where the store can; it
// returns the answer's error.
func (s *Service) finish(ctx context.Context, requestID string, v *Verified, scoped, token string, stored idempotency.Stored, left unfinished) error {
	f := idempotency.Final{Key: scoped, Token: token, Response: stored,
		Retention: s.policy.Retention, LockID: left.lockID, LockToken: left.lockToken, Sent: left.sent}
	var r idempotency.Finished
	if rf, ok := s.records.(registeringFinish); ok && left.record != nil {
		var regErr error
		r, regErr = rf.FinishRegistering(context.WithoutCancel(ctx), f, s.dossiers, *left.record)
		s.registered(requestID, left.record, regErr)
	} else {
		r = s.records.Finish(context.WithoutCancel(ctx), f)
	}
	if r.SettleErr != nil && left.sent != nil && !errors.Is(r.SettleErr, idempotency.ErrLeaseLost) {
		// Once more on its own (a failed round trip, a script the server
		// lost): settled, another key is told at once that the treasury
		// holds the document.
		r.SettleErr = idempotency.Settle(context.WithoutCancel(ctx), s.records, *left.sent)
	}
	if r.SettleErr != nil {
		// The claim stays in progress under this key (unless its lease
		// ended and another key took it over, which then asked the
		// treasury first): the answer stored beside it replays to the
		// key's retries, and another key waits for its lease and then
		// finds the document at the treasury.
		s.log.Error("dossier claim not settled", "request_id", requestID, "maHoSo", v.MaHoSo, "err", r.SettleErr)
	}
	if r.UnlockErr != nil {
		s.log.Warn("dossier lock not released", "request_id", requestID, "procedure", v.Procedure.ID, "maHoSo", v.MaHoSo, "err", r.UnlockErr)
	}
	return r.Err
}

// begin reserves the scoped key for a request with this fingerprint. A
// completed request's stored answer comes back as done (a replay); one in
// progress or a key used for other content is an error; otherwise the
// reservation is the caller's.
func (s *Service) begin(ctx context.Context, scoped, fingerprint string, lease time.Duration) (idempotency.Begun, *Response, error) {
	b, err := s.records.Begin(ctx, scoped, fingerprint, lease)
	done, err := s.begun(b, err)
	return b, done, err
}

// begun reads what Begin found (or Start): see begin.
func (s *Service) begun(b idempotency.Begun, err error) (*Response, error) {
	if err != nil {
		return nil, storeDown(err)
	}
	switch b.State {
	case idempotency.Completed:
		return replay(b.Response), nil
	case idempotency.InProgress:
		return nil, &problem.Error{Kind: problem.RequestInProgress, RetryAfter: retryAfter(b.RetryAfter)}
	case idempotency.Mismatch:
		return nil, problem.New(problem.IdempotencyKeyReused, "")
	}
	return nil, nil
}

// send calls the treasury under the dossier's claim and lock that Start
// took as st says (and gives them back when they are not the caller's to
// keep). final reports whether the
// answer is final (stored for replays) or transient (the reservation is
// released and a retry starts afresh). With a final answer the dossier's
// lock is left held, and a claim the treasury's document answers left
// unsettled, as *left says, for Submit to write with the stored answer;
// with any other answer both are written here. unchecked are the signers'
// registrations a new document must have that the reservation did not
// find already; pre, the uploaded files it read (none: got nil).
func (s *Service) send(ctx context.Context, sub Submission, v *Verified, owner string, st idempotency.Started, unchecked []signers.Registration, pre prefetched, left *unfinished) (_ *Response, final bool, _ error) {
	sub.hashBody() // once for its leaves and the treasury evidence
	p := v.Procedure
	bg := context.WithoutCancel(ctx)
	lockID := dossierLockID(p.ID, v.MaHoSo)
	claim, lock, err := st.Claim, st.Lock, st.ClaimErr
	// mayHaveSent is whether the treasury may hold the document without
	// this side knowing: an earlier attempt of the claim ended unsettled, or
	// this attempt's send ended without an answer. Such a claim is kept
	// until its lease ends: a retry of the same key and content finds the
	// document at the treasury, another key waits (409 with the lease's
	// Retry-After) and then takes the claim over as recovered, so it also
	// asks the treasury first. Only a claim known not to have reached the
	// treasury is given back at once; a claim settled as sent never is
	// (nor does the store release one).
	mayHaveSent := st.Begun.Recovered || claim.Recovered
	release := func() {
		if claim.Sent || mayHaveSent {
			return
		}
		// Only this taking of the claim: an attempt that outlived its
		// lease must not release the claim a retry took over since, and
		// may have sent under (the claim's lease token says which).
		if err := s.records.ReleaseDossier(bg, v.DossierID(), owner, claim.Lease); err != nil {
			s.log.Warn("dossier claim not released", "request_id", sub.RequestID, "maHoSo", v.MaHoSo, "err", err)
		}
	}
	if err != nil {
		if claim.Owned {
			release()
		}
		return nil, false, storeDown(err)
	}
	if !claim.Owned {
		return nil, false, s.conflict(ctx, sub, v, claim)
	}
	s.hook("claimed")
	if !lock.Held {
		release()
		if len(sub.Units) > 0 {
			// That a dossier is at the treasury now is this caller's to
			// know only when it may see the dossier.
			if err := s.mustSee(ctx, sub, v); err != nil {
				return nil, false, err
			}
		}
		return nil, false, dossierBusy(v.MaHoSo, lock)
	}
	*left = unfinished{lockID: lockID, lockToken: lock.Token}
	defer func() {
		if !final {
			if left.sent != nil {
				s.settleSent(bg, sub.RequestID, v.MaHoSo, *left.sent)
			} else if mayHaveSent && v.SoBoSung > 0 && !s.markInFlight(bg, sub, v) {
				// Without the mark the lock is what keeps a withdrawal
				// out: it is left to its lease, which ends with the
				// claim's.
				*left = unfinished{}
				return
			}
			s.unlockDossier(ctx, sub.RequestID, p.ID, v.MaHoSo, lockID, lock.Token)
			*left = unfinished{}
		}
	}()
	// The treasury call is bounded by the deadline only, not by the
	// caller: a portal gone while the document is on its way must not
	// leave its outcome unknown (a cancelled send is one that may have
	// reached the treasury), nor cut short its settlement.
	tctx, cancel := context.WithTimeout(bg, s.deadline(p))
	defer cancel()
	key := v.DownstreamKey()
	var rc Receipt
	releaseSlot := func() {}
	found := false
	if mayHaveSent {
		// A previous attempt may have sent the document before it ended:
		// the treasury is asked first, before any rule that only a new
		// document must pass (a supplement the dossier no longer waits
		// for, because this very document answered it).
		if rc, found, err = s.sender.Find(tctx, key); err != nil {
			return treasuryFailure(lookupFailed(err), sub.Lang, sub.RequestID)
		}
		switch {
		case found && claim.TakenOver:
			// The document is the claim's sender's (another key's, or
			// other content under this one, whose attempt ended
			// unsettled), or nobody knows whose. This request is told the
			// dossier was sent, as it would have been had the sender
			// settled, and no receipt binds its body to a document that
			// holds another body; the claim is settled as sent in the
			// sender's name (the store does that), so the sender's own
			// retry gets its receipt. The same content under another key
			// is the very value the treasury holds: the dossier's record
			// and signers are written from it, for the sender may never
			// come back.
			s.log.Info("another key's document found at the treasury", "request_id", sub.RequestID, "procedure", p.ID, "maHoSo", v.MaHoSo, "reference", rc.Reference)
			if sameContent(claim.Sender, owner) {
				s.recordSent(bg, sub, v, rc)
			}
			left.sent = &idempotency.Settlement{Dossier: v.DossierID(), Owner: owner, Reference: rc.Reference, Retention: s.policy.DossierRetention}
			return nil, false, s.conflict(ctx, sub, v, idempotency.Claim{Sent: true, Reference: rc.Reference, Owner: claim.Sender})
		case found:
			s.log.Info("recovered a document sent by an earlier attempt", "request_id", sub.RequestID, "procedure", p.ID, "maHoSo", v.MaHoSo, "reference", rc.Reference)
		case claim.Sent:
			// The claim was settled as sent: the treasury took the
			// document, whatever its look-up says now (a key index
			// rebuilt, a lagging read). Sending it again could make a
			// second document of a dossier already paid for.
			return nil, false, sentButNotFound(s, sub, v, claim)
		default:
			mayHaveSent = false // the treasury holds nothing under the key
		}
	}
	if !claim.Sent && !found {
		// A new document: its signers must be registered (those the
		// reservation did not find already) and the dossier must wait for
		// it. The owner's own retry of a document the treasury holds is
		// answered whatever the records say now: it is what the treasury
		// took.
		err := s.checkRegistrations(ctx, v.Unit(), unchecked)
		if err == nil {
			err = s.checkSupplement(ctx, sub, v)
		}
		if err != nil {
			release()
			return nil, false, err
		}
	}
	req, err := p.Mapper.Apply(v.Value, mapping.Context{Procedure: p.ID, ProcedureCode: p.Code})
	if err != nil {
		release()
		return nil, false, mappingRefused(err)
	}
	req["evidence"] = s.treasuryEvidence(sub, v.Signers)
	var files []file
	if !found {
		// The files are found, and a slot for the large ones taken, before
		// the leaf, so that a refusal or a busy answer costs no more than
		// the check. The wait for the slot ends with the caller, or when
		// half the treasury deadline is left (it is already running: it
		// keeps the send within the claim's lease), whichever comes first:
		// a slot that would leave too little to upload and send is
		// server-busy, not a treasury failure.
		if files, err = s.gatherFiles(ctx, sub, v, true, pre); err != nil {
			release()
			return nil, false, err
		}
		sctx := ctx
		if dl, ok := tctx.Deadline(); ok {
			var cancelWait context.CancelFunc
			sctx, cancelWait = context.WithDeadline(ctx, dl.Add(-s.deadline(p)/2))
			defer cancelWait()
		}
		giveBack, err := s.fileSlot(sctx, sub, files)
		if err != nil {
			release()
			return nil, false, err
		}
		defer giveBack() // after the uploads, or on the way out
		releaseSlot = giveBack
	}
	// Nothing goes to the treasury unless the log holds that it came.
	if err := s.received(ctx, sub, SubmitRoute, p.ID, v.MaHoSo, v.SoBoSung); err != nil {
		release()
		return nil, false, err
	}
	if !found && claim.TakenOver {
		// This content replaces the sender's, which the treasury does not
		// hold: recorded before the send, so that a later taker-over that
		// finds this document knows whose it is.
		if err := s.records.MarkSender(bg, v.DossierID(), owner); err != nil {
			if errors.Is(err, idempotency.ErrLeaseLost) {
				// Another attempt has taken the claim over since.
				return nil, false, s.conflict(ctx, sub, v, idempotency.Claim{RetryAfter: s.lease()})
			}
			release()
			return nil, false, storeDown(err)
		}
	}
	if !found {
		// Files first: the document references them by SHA-256. Uploads
		// are idempotent, so a crash between them and the send is harmless.
		// Small files go in the document instead (inline).
		err = s.upload(tctx, s.inline(req, files))
		releaseSlot()
		if err == nil {
			s.hook("uploaded")
			rc, err = s.sender.Send(tctx, key, req)
			mayHaveSent = err != nil && answerLost(err)
		}
	}
	if err != nil {
		release()
		return treasuryFailure(err, sub.Lang, sub.RequestID)
	}
	s.hook("sent")
	// The treasury holds the document: from here on no attempt, of this
	// key or another, sends it again. The claim is settled as sent with the
	// stored answer (Submit), or before this returns without one. Until
	// then it stays in progress under this key, as after a crash here: the
	// key's next attempt, and another key once the lease ends, find the
	// document at the treasury instead of sending it. (The settlement, like
	// the one it replaced right after the send, is fenced by the owner, not
	// the lease: what follows here takes milliseconds against a lease of
	// the deadline and more.)
	left.sent = &idempotency.Settlement{Dossier: v.DossierID(), Owner: owner, Reference: rc.Reference, Retention: s.policy.DossierRetention}
	claim.Sent = true
	// The dossier's record and its signers are written before the answer
	// is stored and the dossier's lock given back: by a store's Finish
	// that can (registeringFinish: in its own round trip where it can, else
	// just before it), or, with a store without it, before the leaf. A
	// dossier the treasury holds is known to the status view and to later
	// supplements even when its receipt cannot be written now: the record
	// is then written here.
	rec := s.sentRecord(sub, v, rc)
	_, folds := s.records.(registeringFinish)
	unfolded := func() {
		if folds {
			s.register(bg, sub.RequestID, rec)
		}
	}
	if !folds {
		s.register(bg, sub.RequestID, rec)
	}
	receipt, err := s.accepted(bg, sub, v, rc, found || rc.Replayed)
	if err != nil {
		unfolded()
		// The treasury holds the document and the claim says so: a retry
		// under the same key finds it there and gets its leaf and receipt.
		return nil, false, heldWithoutReceipt(err, rc.Reference)
	}
	acc := &Accepted{
		MaHoSo: v.MaHoSo, SoBoSung: v.SoBoSung, Procedure: p.ID, MaTTHC: p.Code,
		TrangThai: StatusRegistered, TreasuryReference: rc.Reference,
		TreasuryDocumentID: rc.DocumentID, ReceivedAt: sub.ReceivedAt, Receipt: receipt,
	}
	body, err := problem.Encode(acc)
	if err != nil {
		unfolded()
		return nil, false, problem.Wrap(problem.Internal, err, "")
	}
	if folds {
		left.record = &rec
	}
	return &Response{Status: 202, Header: map[string]string{"Content-Type": "application/json"}, Body: body}, true, nil
}

// recordSent writes the record of a dossier the treasury holds as rc
// (sentRecord).
func (s *Service) recordSent(ctx context.Context, sub Submission, v *Verified, rc Receipt) {
	s.register(ctx, sub.RequestID, s.sentRecord(sub, v, rc))
}

// sentRecord is the record of a dossier the treasury holds as rc, with
// the signature specimen it asks to register, from v, which is what the
// treasury holds.
func (s *Service) sentRecord(sub Submission, v *Verified, rc Receipt) dossier.Record {
	return dossier.Record{
		Procedure: v.Procedure.ID, MaHoSo: v.MaHoSo, SoBoSung: v.SoBoSung, TrangThai: StatusRegistered, Unit: v.Unit(),
		TreasuryReference: rc.Reference, TreasuryDocumentID: rc.DocumentID, ReceivedAt: sub.ReceivedAt, UpdatedAt: sub.ReceivedAt,
		Attachments: refs(listedFiles(v.Value)), Specimen: s.specimen(sub, v),
		History: []dossier.Event{{TrangThai: StatusRegistered, At: sub.ReceivedAt, Source: "adapter",
			Note: "sent to the treasury as " + rc.Reference}},
	}
}

// register writes r (dossier.Register).
func (s *Service) register(ctx context.Context, requestID string, r dossier.Record) {
	s.registered(requestID, &r, dossier.Register(ctx, s.dossiers, r))
}

// registered logs the failure err of r's registration: the treasury holds
// the document, and the status view catches up with its callbacks.
// Refusing now would only make the portal retry.
func (s *Service) registered(requestID string, r *dossier.Record, err error) {
	if err != nil {
		s.log.Error("dossier status not recorded", "request_id", requestID, "procedure", r.Procedure, "maHoSo", r.MaHoSo, "err", err)
	}
}

// codeTaken refuses, to a caller restricted to units, a dossier code that
// a dossier it may not see holds: 409 dossier-already-submitted, naming
// nothing of that dossier.
func (s *Service) codeTaken(v *Verified) error {
	e := problem.New(problem.DossierAlreadySent, fmt.Sprintf(
		"Dossier code %s (supplement %d) is taken by a dossier this caller may not see.", v.MaHoSo, v.SoBoSung)).
		VI(fmt.Sprintf("Mã hồ sơ %s (lần bổ sung %d) đã được dùng cho một hồ sơ bên gọi không được xem.", v.MaHoSo, v.SoBoSung))
	// Always the lease, whether the dossier is sent or on its way: the
	// caller learns nothing from it, and its own dossier on its way under
	// another key and caller is taken over after it (see conflict).
	e.RetryAfter = retryAfter(s.lease())
	return e
}

// mustSee answers a caller restricted to units codeTaken unless the
// dossier's record names one of its units (a dossier with no record, or a
// record that does not know its unit, it may not see); a store failure is
// storeDown.
func (s *Service) mustSee(ctx context.Context, sub Submission, v *Verified) error {
	rec, ok, err := s.dossiers.Get(ctx, v.Procedure.ID, v.MaHoSo)
	if err != nil {
		return storeDown(err)
	}
	if !ok || rec.Unit == "" || !UnitAllowed(sub.Units, rec.Unit) {
		return s.codeTaken(v)
	}
	return nil
}

// sameContent reports whether the claim owners a and b (each a scoped key,
// "#" and the content's fingerprint) stand for the same content.
func sameContent(a, b string) bool {
	i, j := strings.LastIndexByte(a, '#'), strings.LastIndexByte(b, '#')
	return i >= 0 && j >= 0 && a[i:] == b[j:]
}

// settleSent settles the dossier's claim as sent, apart from an answer.
func (s *Service) settleSent(ctx context.Context, requestID, maHoSo string, st idempotency.Settlement) {
	if err := idempotency.Settle(ctx, s.records, st); err != nil {
		s.log.Error("dossier claim not settled", "request_id", requestID, "maHoSo", maHoSo, "err", err)
	}
}

// dossierLockID is the identity of the dossier-wide lock: the dossier,
// whatever its supplement.
func dossierLockID(procedure, maHoSo string) string { return "dossier|" + procedure + "|" + maHoSo }

// lockDossier takes the dossier-wide lock a submission and a withdrawal
// hold while they call the treasury and record its answer. A live holder
// makes it 409 request-in-progress with the time left on its lease; the
// returned unlock gives the lock back.
func (s *Service) lockDossier(ctx context.Context, requestID, procedure, maHoSo string, lease time.Duration) (func(), error) {
	id := dossierLockID(procedure, maHoSo)
	l, err := s.records.LockDossier(ctx, id, lease)
	if err != nil {
		return nil, storeDown(err)
	}
	if !l.Held {
		return nil, dossierBusy(maHoSo, l)
	}
	return func() { s.unlockDossier(ctx, requestID, procedure, maHoSo, id, l.Token) }, nil
}

// dossierBusy is the answer when another request holds the dossier's lock.
func dossierBusy(maHoSo string, l idempotency.Lock) error {
	return &problem.Error{Kind: problem.RequestInProgress, RetryAfter: retryAfter(l.RetryAfter),
		Detail:   fmt.Sprintf("Another request for dossier %s, a withdrawal or a submission, is at the treasury; retry after the indicated time.", maHoSo),
		DetailVI: fmt.Sprintf("Một yêu cầu khác của hồ sơ %s (rút hồ sơ hoặc gửi hồ sơ) đang được xử lý tại Kho bạc; vui lòng thử lại sau thời gian chỉ định.", maHoSo)}
}

// markInFlight notes in the dossier's record that supplement v.SoBoSung
// may still reach the treasury, until its claim's lease ends: the send
// ended without an answer, and the claim stays to its lease while the
// dossier's lock is given back, so this is what a withdrawal, which takes
// the lock and not the claim, sees (Record.SupplementInFlight). It reports
// whether the mark was written.
func (s *Service) markInFlight(ctx context.Context, sub Submission, v *Verified) bool {
	until := s.now().Add(s.lease())
	err := s.dossiers.Update(ctx, v.Procedure.ID, v.MaHoSo, func(r *dossier.Record, exists bool) bool {
		if !exists || r.SoBoSung >= v.SoBoSung {
			return false
		}
		r.SupplementInFlight = &dossier.InFlight{SoBoSung: v.SoBoSung, Until: until}
		return true
	})
	if err != nil {
		s.log.Warn("supplement in flight not marked; the dossier's lock is left to its lease", "request_id", sub.RequestID,
			"procedure", v.Procedure.ID, "maHoSo", v.MaHoSo, "soBoSung", v.SoBoSung, "err", err)
		return false
	}
	return true
}

// unlockDossier gives the dossier's lock back.
func (s *Service) unlockDossier(ctx context.Context, requestID, procedure, maHoSo, id, token string) {
	if err := s.records.UnlockDossier(context.WithoutCancel(ctx), id, token); err != nil {
		s.log.Warn("dossier lock not released", "request_id", requestID, "procedure", procedure, "maHoSo", maHoSo, "err", err)
	}
}

// accepted appends the leaf of an accepted submission, whose receipt the
// 202 carries (nil when the log is off).
//
// earlier says that the document is one an earlier attempt created (found
// at the treasury, or the treasury's replay of the key): its signed
// original is that attempt's bytes, which may not be this one's (the other
// form, or signed again). When the treasury names them (rc.EvidenceSHA256)
// and they differ, the leaf says so (auditlog.Record.HeldSHA256, beside the
// SHA-256 of this request's body): the receipt does not let this body pass
// for the one the document holds.
func (s *Service) accepted(ctx context.Context, sub Submission, v *Verified, rc Receipt, earlier bool) (*auditlog.Receipt, error) {
	held := ""
	if earlier && attachment.ValidSum(rc.EvidenceSHA256) && rc.EvidenceSHA256 != sub.hashedBody().Hex() {
		held = rc.EvidenceSHA256
		s.log.Info("the treasury holds other bytes for this request's document: its receipt names them beside the request's",
			"request_id", sub.RequestID, "procedure", v.Procedure.ID, "maHoSo", v.MaHoSo, "reference", rc.Reference, "heldSha256", held)
	}
	return s.acceptedLeaf(ctx, sub, SubmitRoute, v.Procedure.ID, v.MaHoSo, v.SoBoSung, rc.Reference, held)
}

// acceptedLeaf appends the 202 leaf of a request on route and marks the
// trace: the HTTP layer does not log that answer again. held, when set, is
// the SHA-256 of the body the treasury holds for the document, other than
// the request's (see accepted).
func (s *Service) acceptedLeaf(ctx context.Context, sub Submission, route, procedure, maHoSo string, soBoSung int, reference, held string) (*auditlog.Receipt, error) {
	if !s.evidence.Enabled() {
		return nil, nil
	}
	rec := leaf(sub, route, procedure, maHoSo, soBoSung)
	rec.Status, rec.TreasuryReference, rec.HeldSHA256 = 202, reference, held
	r, err := s.evidence.AppendHashed(ctx, rec, sub.hashedBody())
	if err != nil {
		return nil, err
	}
	if sub.Trace != nil {
		sub.Trace.Logged = true
	}
	return &r, nil
}

// heldWithoutReceipt is the answer when the treasury took a request but its
// leaf could not be written: still audit-unavailable (the caller retries
// under the same Idempotency-Key and gets the receipt), but saying that the
// treasury holds it, so nobody sends it again under another key.
func heldWithoutReceipt(err error, reference string) error {
	var pe *problem.Error
	if !errors.As(err, &pe) {
		pe = &problem.Error{Kind: problem.AuditUnavailable, Cause: err, RetryAfter: AuditRetryAfter}
	}
	e := *pe
	e.Detail = fmt.Sprintf("The treasury holds the request as %s, but its receipt could not be recorded. Retry with the same Idempotency-Key to get the receipt; do not submit it again under another key.", reference)
	e.DetailVI = fmt.Sprintf("Kho bạc đã nhận yêu cầu với số tham chiếu %s nhưng chưa ghi được biên nhận. Hãy gửi lại với cùng Idempotency-Key để nhận biên nhận; không gửi lại theo khóa khác.", reference)
	e.Extra = map[string]any{"treasuryReference": reference}
	return &e
}

// answerLost reports whether a failed send may have reached the treasury:
// any failure but a business refusal. A refusal is the treasury's answer
// under the document's key, which would have been the stored document's
// receipt had an earlier attempt stored it; after anything else (a
// timeout, no answer, an answer that breaks the contract, a cancelled
// call, refused credentials after an attempt that timed out) the document
// may be there without this side knowing.
func answerLost(err error) bool {
	var pe *problem.Error
	return !errors.As(err, &pe) || pe.Kind != problem.TreasuryRefused
}

// lookupFailed is the error of a failed look-up by downstream key, which
// is never final: a refusal of the look-up itself says nothing of the
// document under the key, so it is the treasury being unavailable for this
// purpose, as any failure that is not already a problem.
func lookupFailed(err error) error {
	var pe *problem.Error
	if errors.As(err, &pe) && pe.Kind != problem.TreasuryRefused {
		return err
	}
	return &problem.Error{Kind: problem.TreasuryUnavailable, Cause: err, RetryAfter: treasuryRetryAfter}
}

// sentButNotFound answers a key whose claim is settled as sent when the
// treasury finds no document under the dossier's key: nothing is sent, the
// claim stays settled, and the operator is told at error level, for the
// two sides' records disagree. A lagging read answers the retry.
func sentButNotFound(s *Service, sub Submission, v *Verified, claim idempotency.Claim) error {
	s.log.Error("treasury finds no document for a dossier settled as sent; not sent again", "request_id", sub.RequestID,
		"procedure", v.Procedure.ID, "maHoSo", v.MaHoSo, "soBoSung", v.SoBoSung, "reference", claim.Reference)
	return &problem.Error{Kind: problem.TreasuryUnavailable, RetryAfter: treasuryRetryAfter,
		Detail: fmt.Sprintf("Dossier %s (supplement %d) was sent to the treasury as %s, but the treasury finds no document under its key now; it was not sent again. Retry later with the same Idempotency-Key; if this lasts, the treasury's and the adapter's records need reconciling.",
			v.MaHoSo, v.SoBoSung, claim.Reference),
		DetailVI: fmt.Sprintf("Hồ sơ %s (lần bổ sung %d) đã được gửi tới Kho bạc với số tham chiếu %s, nhưng hiện Kho bạc không tìm thấy chứng từ theo khóa của hồ sơ; hồ sơ không được gửi lại. Vui lòng gửi lại sau với cùng Idempotency-Key; nếu tình trạng kéo dài, cần đối chiếu hồ sơ giữa Kho bạc và hệ thống tiếp nhận.",
			v.MaHoSo, v.SoBoSung, claim.Reference),
		Extra: map[string]any{"treasuryReference": claim.Reference}}
}

// treasuryFailure turns a failed treasury call into the caller's answer: a
// business refusal is final (stored for replays, in lang); any other
// problem is returned as it is, and anything else is the treasury being
// unavailable. Neither of the last two is final.
func treasuryFailure(err error, lang problem.Lang, requestID string) (*Response, bool, error) {
	var pe *problem.Error
	if errors.As(err, &pe) && pe.Kind == problem.TreasuryRefused {
		st, h, body := pe.RenderIn(lang, requestID)
		return &Response{Status: st, Header: h, Body: body, Code: pe.Kind.Code(), Cause: pe.Cause}, true, nil
	}
	if errors.As(err, &pe) {
		return nil, false, err
	}
	return nil, false, &problem.Error{Kind: problem.TreasuryUnavailable, Cause: err, RetryAfter: treasuryRetryAfter}
}

// conflict answers a submission of a dossier that another key owns. A
// caller restricted to units learns nothing of a dossier outside them (its
// reference, where it is, whether it is being sent): the code is taken,
// and that is all (codeTaken).
func (s *Service) conflict(ctx context.Context, sub Submission, v *Verified, c idempotency.Claim) error {
	if len(sub.Units) > 0 && !strings.HasPrefix(c.Owner, sub.Caller+"|") {
		// A restricted caller is told of another caller's claim only when
		// the dossier's record names one of its units. Its own claim (an
		// attempt of its own under another key) it is told of whole: in
		// progress, the Retry-After after which it takes the claim over;
		// no record is written before the send, so the record cannot say.
		if err := s.mustSee(ctx, sub, v); err != nil {
			return err
		}
	}
	loc := "/v1/procedures/" + v.Procedure.ID + "/dossiers/" + url.PathEscape(v.MaHoSo)
	e := &problem.Error{Kind: problem.DossierAlreadySent, Header: map[string]string{"Location": loc},
		Extra: map[string]any{"first": loc}}
	if c.Sent {
		e.Detail = fmt.Sprintf("Dossier %s (supplement %d) was already sent to the treasury as %s under another Idempotency-Key.", v.MaHoSo, v.SoBoSung, c.Reference)
		e.DetailVI = fmt.Sprintf("Hồ sơ %s (lần bổ sung %d) đã được gửi tới Kho bạc với số tham chiếu %s theo một Idempotency-Key khác.", v.MaHoSo, v.SoBoSung, c.Reference)
		e.Extra["treasuryReference"] = c.Reference
	} else {
		e.Detail = fmt.Sprintf("Dossier %s (supplement %d) is being sent under another Idempotency-Key.", v.MaHoSo, v.SoBoSung)
		e.DetailVI = fmt.Sprintf("Hồ sơ %s (lần bổ sung %d) đang được gửi theo một Idempotency-Key khác.", v.MaHoSo, v.SoBoSung)
		e.RetryAfter = retryAfter(c.RetryAfter)
	}
	return e
}
