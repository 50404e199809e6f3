package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kbnn/dvc/adapter/auditlog"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/schema"
)

// StatusWithdrawn is the national status of a dossier its unit withdrew (7,
// Công dân yêu cầu rút hồ sơ). The adapter records the request in the
// dossier's history under it; the dossier itself reaches 7, on the portal
// too, through the treasury's WITHDRAWN status callback.
const StatusWithdrawn = 7

// Withdrawer asks the treasury to withdraw the document of a dossier. Its
// errors are *problem.Error values: treasury-refused with the treasury's
// reason code, not-found for a document the treasury does not hold,
// treasury-unavailable and treasury-timeout.
type Withdrawer interface {
	Withdraw(ctx context.Context, downstreamKey, documentID string, w Withdrawal) (WithdrawalReceipt, error)
}

// Withdrawal is a verified withdrawal request, as the treasury gets it.
type Withdrawal struct {
	Procedure     string
	ProcedureCode string // maTTHC
	MaHoSo        string
	SoBoSung      int
	MaDVQHNS      string
	NgayYeuCau    string // yyyy-mm-dd, as the unit wrote it
	LyDo          string
	ReceivedAt    time.Time
}

// WithdrawalReceipt is the treasury's answer to an accepted withdrawal.
type WithdrawalReceipt struct {
	DocumentID  string
	Reference   string
	WithdrawnAt time.Time
}

// WithdrawalRequest is one withdrawal as the HTTP layer read it: the signed
// document, and the dossier code of the path it was posted to.
type WithdrawalRequest struct {
	Submission
	MaHoSo string
}

// WithdrawalAccepted is the answer to a withdrawal the treasury accepted.
type WithdrawalAccepted struct {
	MaHoSo            string    `json:"maHoSo"`
	SoBoSung          int       `json:"soBoSung"`
	Procedure         string    `json:"procedure"`
	TrangThai         int       `json:"trangThai"`
	TreasuryReference string    `json:"treasuryReference"`
	ReceivedAt        time.Time `json:"receivedAt"`
	// Receipt locates the withdrawal's leaf in the evidence log (absent
	// when the log is off).
	Receipt *auditlog.Receipt `json:"receipt,omitempty"`
}

// withdrawalParts are what a Service needs to serve withdrawals.
type withdrawalParts struct {
	def        *schema.Definition
	roles      []string
	treasury   Withdrawer
	maxAgeDays int // negative: no limit
}

// DefaultWithdrawalMaxAgeDays is how many days before its receipt day a
// withdrawal's request date may be when Options leave it unset.
const DefaultWithdrawalMaxAgeDays = 30

// ict is Asia/Ho_Chi_Minh, UTC+7 all year: the time zone of the request
// date a unit writes.
var ict = time.FixedZone("ICT", 7*3600)

// requestDateSkew is how far ahead of the adapter's clock a unit's clock may
// be: a withdrawal dated the next day is taken this close to midnight.
const requestDateSkew = 5 * time.Minute

// checkRequestDate checks the signed request date (yyyy-mm-dd, valid per the
// definition) against the receipt time: not after the receipt day (in
// Asia/Ho_Chi_Minh, allowing requestDateSkew), and, unless maxAgeDays is
// negative, at most maxAgeDays days before it. A signed withdrawal stays
// verifiable forever; this keeps an old one from being replayed.
func checkRequestDate(date string, received time.Time, maxAgeDays int) (problem.FieldError, bool) {
	d, err := time.ParseInLocation(time.DateOnly, date, ict)
	if err != nil {
		return problem.FieldError{Path: "/ngayYeuCau", Message: "must be a date yyyy-mm-dd"}, false
	}
	latest := received.Add(requestDateSkew).In(ict)
	if d.After(latest) {
		return problem.FieldError{Path: "/ngayYeuCau", Message: fmt.Sprintf("must not be after the day the request is received (%s)",
			received.In(ict).Format(time.DateOnly))}, false
	}
	if maxAgeDays < 0 {
		return problem.FieldError{}, true
	}
	day := received.In(ict)
	oldest := time.Date(day.Year(), day.Month(), day.Day()-maxAgeDays, 0, 0, 0, 0, ict)
	if d.Before(oldest) {
		return problem.FieldError{Path: "/ngayYeuCau", Message: fmt.Sprintf("must be at most %d days before the day the request is received (%s)",
			maxAgeDays, day.Format(time.DateOnly))}, false
	}
	return problem.FieldError{}, true
}

// verifiedWithdrawal is a withdrawal request that passed verification and
// validation, for a procedure the adapter runs and the dossier of the path.
type verifiedWithdrawal struct {
	procedure *Procedure
	value     map[string]any
	w         Withdrawal
}

// dossierID is the identity of the dossier (and supplement) withdrawn.
func (v *verifiedWithdrawal) dossierID() string {
	return dossierID(v.procedure.ID, v.w.MaHoSo, v.w.SoBoSung)
}

// downstreamKey is the idempotency key of the treasury's withdrawal call: the lower-case hex
// SHA-256 of "withdrawal|<procedure>|<maHoSo>|<soBoSung>", the treasury contract's
// "withdrawal|<procedure>|<dossierCode>|<supplementNo>" (schemas/treasury/openapi.yaml). The
// same dossier always gets the same key, whatever Idempotency-Key the portal used, so the
// treasury applies its withdrawal once.
func (v *verifiedWithdrawal) downstreamKey() string {
	return downstreamKey("withdrawal|" + v.dossierID())
}

// fingerprint is the hash of the verified content, the same for the XML and
// the JSON form, and never equal to a dossier's.
func (v *verifiedWithdrawal) fingerprint() string {
	raw, _ := json.Marshal(v.value) // map keys sorted; numbers kept as written
	h := sha256.New()
	h.Write([]byte("withdrawal"))
	h.Write([]byte{0})
	h.Write([]byte(v.procedure.ID))
	h.Write([]byte{0})
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil))
}

// verifyWithdrawal runs the checks of a submission on a withdrawal request:
// content type, signatures, the withdrawal roles, the withdrawal definition;
// then thuTuc must be the path's procedure, maTTHC its code and maHoSo the
// path's dossier code (every mismatch listed, 422 schema-violation).
func (s *Service) verifyWithdrawal(req WithdrawalRequest) (*verifiedWithdrawal, error) {
	p := s.procedures[req.Procedure]
	if p == nil {
		return nil, problem.New(problem.UnknownProcedure, fmt.Sprintf("No procedure %q.", req.Procedure)).VI(fmt.Sprintf("Không có thủ tục %q.", req.Procedure))
	}
	if s.withdrawal == nil {
		return nil, problem.Wrap(problem.Internal, errors.New("intake: withdrawals are not configured"), "")
	}
	obj, _, err := s.verifySigned(req.Submission, s.withdrawal.def, s.withdrawal.roles)
	if err != nil {
		return nil, err
	}
	str := func(k string) string { v, _ := obj[k].(string); return v }
	v := &verifiedWithdrawal{procedure: p, value: obj, w: Withdrawal{
		Procedure: p.ID, ProcedureCode: p.Code, MaHoSo: str("maHoSo"), SoBoSung: intOf(obj["soBoSung"]),
		MaDVQHNS: str("maDVQHNS"), NgayYeuCau: str("ngayYeuCau"), LyDo: str("lyDo"), ReceivedAt: req.ReceivedAt,
	}}
	var fields []problem.FieldError
	if got := str("thuTuc"); got != p.ID {
		fields = append(fields, problem.FieldError{Path: "/thuTuc", Message: fmt.Sprintf("must be %q, the procedure of the path", p.ID)})
	}
	if v.w.MaHoSo != req.MaHoSo {
		fields = append(fields, problem.FieldError{Path: "/maHoSo", Message: fmt.Sprintf("must be %q, the dossier of the path", req.MaHoSo)})
	}
	if got := str("maTTHC"); got != p.Code {
		fields = append(fields, problem.FieldError{Path: "/maTTHC", Message: fmt.Sprintf("must be %q for %s", p.Code, p.ID)})
	}
	if fe, ok := plainSupplement(obj); !ok {
		fields = append(fields, fe)
	}
	stale := false
	if fe, ok := checkRequestDate(v.w.NgayYeuCau, req.ReceivedAt, s.withdrawal.maxAgeDays); !ok {
		fields, stale = append(fields, fe), len(fields) == 0
	}
	if stale {
		e := problem.New(problem.SchemaViolation, "The withdrawal's request date (ngayYeuCau) is too old, or in the future.").
			VI("Ngày yêu cầu rút hồ sơ (ngayYeuCau) đã quá cũ hoặc ở tương lai.")
		e.Fields = fields
		return nil, e
	}
	if len(fields) > 0 {
		e := problem.New(problem.SchemaViolation, "The withdrawal does not name the dossier of the path.")
		e.Fields = fields
		return nil, e
	}
	return v, nil
}

// Withdraw runs one withdrawal exactly once, like a submission: verify,
// reserve the idempotency key (the Idempotency-Key header, or
// "withdrawal:<procedure>|<maHoSo>", scoped to the caller), find the dossier
// the adapter sent, ask the treasury to withdraw its document under the
// withdrawal's downstream key, record the request in the dossier's history,
// and store the final answer (202, or the treasury's refusal) for replays.
// A dossier the adapter does not know is 404 not-found and reaches nothing.
// Errors are *problem.Error values that were not stored.
func (s *Service) Withdraw(ctx context.Context, req WithdrawalRequest) (*Response, error) {
	if req.IdempotencyKey != "" && !validKey(req.IdempotencyKey) {
		return nil, problem.New(problem.InvalidIdempotencyKey, "")
	}
	v, err := s.verifyWithdrawal(req)
	if err != nil {
		return nil, err
	}
	req.Trace.identify(v.w.MaHoSo, v.w.SoBoSung)
	if !UnitAllowed(req.Units, v.w.MaDVQHNS) {
		return nil, unitNotAllowed(v.w.MaDVQHNS, "/maDVQHNS")
	}
	derived := req.IdempotencyKey == ""
	key := req.IdempotencyKey
	if derived {
		key = "withdrawal:" + v.procedure.ID + "|" + v.w.MaHoSo
	}
	scoped := req.Caller + "|" + key
	// As for a submission, the store's steps run to their end even when the
	// caller has gone: a reservation whose reply a cancelled call lost would
	// hold the key, and a lock the dossier, for a whole lease.
	b, done, err := s.begin(context.WithoutCancel(ctx), scoped, v.fingerprint(), s.lease())
	if done != nil || err != nil {
		return done, err
	}
	resp, final, err := s.withdraw(ctx, req, v)
	if !final {
		if rerr := s.records.Release(context.WithoutCancel(ctx), scoped, b.Token); rerr != nil {
			s.log.Warn("idempotency reservation not released", "request_id", req.RequestID, "err", rerr)
		}
		return nil, err
	}
	stored := idempotency.Stored{Status: resp.Status, Header: resp.Header, Body: resp.Body,
		Replaceable: derived && resp.Status != 202}
	if cerr := s.records.Complete(context.WithoutCancel(ctx), scoped, b.Token, stored, s.policy.Retention); cerr != nil {
		if errors.Is(cerr, idempotency.ErrNotReplicated) {
			// As for a submission: the retry replays the record or finds
			// the withdrawal at the treasury under its key.
			s.log.Error("idempotency record not replicated", "request_id", req.RequestID, "procedure", v.procedure.ID, "maHoSo", v.w.MaHoSo, "err", cerr)
			req.Trace.answeredOtherwise()
			return nil, finalNotReplicated(cerr)
		}
		// The answer is right; only its replay copy is missing. A retry is
		// answered by the treasury's record of the withdrawal key.
		s.log.Error("idempotency record not completed", "request_id", req.RequestID, "procedure", v.procedure.ID, "maHoSo", v.w.MaHoSo, "err", cerr)
	}
	return resp, nil
}

// withdraw finds the dossier and calls the treasury. final reports whether
// the answer is final (stored for replays) or not (the reservation is
// released and a retry starts afresh).
func (s *Service) withdraw(ctx context.Context, req WithdrawalRequest, v *verifiedWithdrawal) (*Response, bool, error) {
	req.hashBody() // once for its two leaves
	p := v.procedure
	// No submission of the dossier runs beside the withdrawal, and the
	// record read below is the one the treasury's answer applies to: a
	// supplement sent first makes this withdrawal name an old one.
	bg := context.WithoutCancel(ctx)
	unlock, err := s.lockDossier(bg, req.RequestID, p.ID, v.w.MaHoSo, s.lease())
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	rec, ok, err := s.dossiers.Get(ctx, p.ID, v.w.MaHoSo)
	if err != nil {
		return nil, false, storeDown(err)
	}
	// Another unit's dossier is not found for a caller restricted to units.
	if !ok || !UnitAllowed(req.Units, rec.Unit) {
		return nil, false, problem.New(problem.NotFound, fmt.Sprintf("No dossier %s is known for %s.", v.w.MaHoSo, p.ID)).
			VI(fmt.Sprintf("Không có hồ sơ %s của thủ tục %s.", v.w.MaHoSo, p.ID))
	}
	if rec.Unit != "" && v.w.MaDVQHNS != rec.Unit {
		// Only the unit whose dossier it is may withdraw it.
		e := problem.New(problem.SchemaViolation, "The withdrawal does not name the dossier's unit.").
			VI("Yêu cầu rút hồ sơ không ghi đúng đơn vị của hồ sơ.")
		e.Fields = []problem.FieldError{{Path: "/maDVQHNS", Message: "must be " + rec.Unit + ", the unit of " + v.w.MaHoSo}}
		return nil, false, e
	}
	if rec.SoBoSung != v.w.SoBoSung {
		e := problem.New(problem.SchemaViolation, "The withdrawal does not name the dossier's latest submission.")
		e.Fields = []problem.FieldError{{Path: "/soBoSung", Message: fmt.Sprintf("must be %d, the latest supplement of %s the adapter sent", rec.SoBoSung, v.w.MaHoSo)}}
		return nil, false, e
	}
	if rec.TreasuryDocumentID == "" {
		return nil, false, problem.Wrap(problem.Internal, fmt.Errorf("intake: dossier %s of %s has no treasury document id", v.w.MaHoSo, p.ID), "")
	}
	// Bounded by the deadline, not by the caller, as a submission's send:
	// a withdrawal the treasury applies is recorded even when its caller
	// has left.
	tctx, cancel := context.WithTimeout(bg, s.deadline(p))
	defer cancel()
	if mayHoldNext(rec) {
		// A supplement whose answer was lost (or whose sender crashed) may
		// be at the treasury without the record knowing: withdrawing the
		// supplement it replaced would leave that one live and payable.
		// Under the lock no other send of the dossier runs: the treasury
		// holds it or does not.
		next := rec.SoBoSung + 1
		nrc, found, err := s.sender.Find(tctx, downstreamKey(dossierID(p.ID, v.w.MaHoSo, next)))
		if err != nil {
			return treasuryFailure(lookupFailed(err), req.Lang, req.RequestID)
		}
		if found {
			// The record learns the supplement from the treasury's receipt
			// (its files come with the supplement's own retry, which
			// registers it whole), and the withdrawal is told to name it,
			// as one naming a replaced supplement is.
			s.log.Warn("withdrawal refused: a later supplement is at the treasury", "request_id", req.RequestID,
				"procedure", p.ID, "maHoSo", v.w.MaHoSo, "soBoSung", next, "reference", nrc.Reference)
			if err := dossier.Register(bg, s.dossiers, dossier.Record{
				Procedure: p.ID, MaHoSo: v.w.MaHoSo, SoBoSung: next, TrangThai: StatusRegistered, Unit: rec.Unit,
				TreasuryReference: nrc.Reference, TreasuryDocumentID: nrc.DocumentID, ReceivedAt: rec.ReceivedAt, UpdatedAt: req.ReceivedAt,
				History: []dossier.Event{{TrangThai: StatusRegistered, At: req.ReceivedAt, Source: "adapter",
					Note: fmt.Sprintf("supplement %d found at the treasury as %s (its own answer was lost)", next, nrc.Reference)}},
			}); err != nil {
				return nil, false, storeDown(err)
			}
			e := problem.New(problem.SchemaViolation, "The withdrawal does not name the dossier's latest submission.")
			e.Fields = []problem.FieldError{{Path: "/soBoSung", Message: fmt.Sprintf("must be %d, the latest supplement of %s (at the treasury as %s)", next, v.w.MaHoSo, nrc.Reference)}}
			return nil, false, e
		}
	}
	if f := rec.SupplementInFlight; f != nil && f.SoBoSung > rec.SoBoSung {
		if wait := f.Until.Sub(s.now()); wait > 0 {
			// A supplement sent without an answer may still land: the
			// look-up above missed it, but withdrawing what it replaces
			// would leave it live. Its claim's lease ends by then.
			return nil, false, &problem.Error{Kind: problem.RequestInProgress, RetryAfter: retryAfter(wait),
				Detail:   fmt.Sprintf("Supplement %d of dossier %s was sent to the treasury and its answer is not known yet; the withdrawal can be decided after the indicated time.", f.SoBoSung, v.w.MaHoSo),
				DetailVI: fmt.Sprintf("Lần bổ sung %d của hồ sơ %s đã được gửi tới Kho bạc và chưa có kết quả; yêu cầu rút hồ sơ sẽ được xử lý sau thời gian chỉ định.", f.SoBoSung, v.w.MaHoSo)}
		}
	}
	if err := s.received(ctx, req.Submission, WithdrawRoute, p.ID, v.w.MaHoSo, v.w.SoBoSung); err != nil {
		return nil, false, err
	}
	// Marked before the call: once it is sent, the treasury may withdraw
	// the dossier whatever becomes of its answer, and no supplement may go
	// until that is known.
	if err := s.markWithdrawal(bg, p.ID, v.w.MaHoSo, v.downstreamKey()); err != nil {
		return nil, false, storeDown(err)
	}
	rc, err := s.withdrawal.treasury.Withdraw(tctx, v.downstreamKey(), rec.TreasuryDocumentID, v.w)
	if err != nil {
		if !mayHaveWithdrawn(err) {
			// The treasury answered: it did not withdraw the dossier.
			_ = s.markWithdrawal(bg, p.ID, v.w.MaHoSo, "")
		}
		return treasuryFailure(err, req.Lang, req.RequestID)
	}
	// Recorded before the leaf: the history says the treasury took it even
	// when the leaf cannot be written. The treasury applies a withdrawal
	// once per downstream key, so a retry gets the same answer, and its leaf.
	s.recordWithdrawal(bg, req, v, rc)
	receipt, err := s.acceptedLeaf(bg, req.Submission, WithdrawRoute, p.ID, v.w.MaHoSo, v.w.SoBoSung, rc.Reference, "")
	if err != nil {
		return nil, false, heldWithoutReceipt(err, rc.Reference)
	}
	body, err := problem.Encode(&WithdrawalAccepted{
		MaHoSo: v.w.MaHoSo, SoBoSung: v.w.SoBoSung, Procedure: p.ID, TrangThai: StatusWithdrawn,
		TreasuryReference: rc.Reference, ReceivedAt: req.ReceivedAt, Receipt: receipt,
	})
	if err != nil {
		return nil, false, problem.Wrap(problem.Internal, err, "")
	}
	return &Response{Status: 202, Header: map[string]string{"Content-Type": "application/json"}, Body: body}, true, nil
}

// mayHaveWithdrawn reports whether a failed withdrawal may have been
// applied by the treasury: any failure but its answer (a refusal, or no
// such document).
func mayHaveWithdrawn(err error) bool {
	var pe *problem.Error
	return answerLost(err) && (!errors.As(err, &pe) || pe.Kind != problem.NotFound)
}

// markWithdrawal sets the dossier's pending withdrawal (key), or clears it
// (""). A failure to clear it is logged: the next supplement then asks the
// treasury what became of the withdrawal, which it need not have.
func (s *Service) markWithdrawal(ctx context.Context, procedure, maHoSo, key string) error {
	err := s.dossiers.Update(ctx, procedure, maHoSo, func(r *dossier.Record, exists bool) bool {
		if !exists || r.WithdrawalPending == key {
			return false
		}
		r.WithdrawalPending = key
		return true
	})
	if err != nil && key == "" {
		s.log.Error("pending withdrawal not cleared", "procedure", procedure, "maHoSo", maHoSo, "err", err)
	}
	return err
}

// mayHoldNext reports whether the treasury may hold a supplement of the
// dossier later than its record's: the treasury asked for it (a correction
// round for it), or sent events of a later document.
func mayHoldNext(rec dossier.Record) bool {
	next := rec.SoBoSung + 1
	return rec.TreasurySupplement >= next ||
		slices.ContainsFunc(rec.Rounds, func(r dossier.Round) bool { return r.SoBoSung == next && !r.RequestedAt.IsZero() })
}

// recordWithdrawal adds the accepted withdrawal to the dossier's history,
// once however often it is retried. The dossier's status is left alone: the
// treasury's WITHDRAWN callback moves it to 7 and delivers it to the portal.
func (s *Service) recordWithdrawal(ctx context.Context, req WithdrawalRequest, v *verifiedWithdrawal, rc WithdrawalReceipt) {
	ev := dossier.Event{TrangThai: StatusWithdrawn, At: req.ReceivedAt, Source: "adapter",
		Note: "withdrawal requested by the unit (" + v.w.LyDo + "); accepted by the treasury for " + rc.Reference}
	err := s.dossiers.Update(ctx, v.procedure.ID, v.w.MaHoSo, func(r *dossier.Record, exists bool) bool {
		if !exists {
			return false
		}
		changed := r.WithdrawalPending != ""
		r.WithdrawalPending = "" // known now: withdrawn
		if !slices.ContainsFunc(r.History, func(h dossier.Event) bool {
			return h.Source == ev.Source && h.TrangThai == ev.TrangThai && h.Note == ev.Note
		}) {
			r.History, changed = append(r.History, ev), true
		}
		return changed
	})
	if err != nil {
		// The treasury withdrew the document; its callback brings the
		// status view up to date.
		s.log.Error("withdrawal not recorded in the dossier's history", "request_id", req.RequestID,
			"procedure", v.procedure.ID, "maHoSo", v.w.MaHoSo, "err", err)
	}
}
