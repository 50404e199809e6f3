// Package treasurysend connects intake to the treasury: Sender implements intake.Sender and
// intake.Withdrawer on the treasury client, runs each call through its endpoint of the
// upstream group (circuit breaker, bulkhead, retries), and turns the treasury's failures into
// the adapter's public problems.
//
// The mapped request reaches the client as adapter/mapping built it: the mapping was checked
// against schemas/treasury/send-document-request.schema.json when it was loaded, so it writes
// no field the contract does not declare and no value of a type the contract does not accept.
package treasurysend

import (
	"context"
	"errors"
	"time"

	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/treasury"
	"github.com/kbnn/dvc/adapter/upstream"
)

// Sender sends mapped requests to the treasury and looks them up by downstream key. It is safe
// for concurrent use.
type Sender struct {
	client   *treasury.Client
	send     *upstream.Endpoint
	status   *upstream.Endpoint
	withdraw *upstream.Endpoint
	upload   *upstream.Endpoint
}

var (
	_ intake.Sender     = (*Sender)(nil)
	_ intake.Withdrawer = (*Sender)(nil)
	_ intake.Uploader   = (*Sender)(nil)
)

// New returns a Sender that calls client through the endpoints "send-document",
// "document-status", "withdraw" and "attachment" of g (made by treasury.NewGroup, so that treasury answers
// are classified).
func New(client *treasury.Client, g *upstream.Group) *Sender {
	return &Sender{client: client, send: g.Endpoint("send-document"), status: g.Endpoint("document-status"),
		withdraw: g.Endpoint("withdraw"), upload: g.Endpoint("attachment")}
}

// retryAfterSeconds is what a caller is told to wait after a transient failure.
const retryAfterSeconds = 30

// Send sends the mapped request under its downstream key. Every send carries that key, so
// retrying it is safe.
func (s *Sender) Send(ctx context.Context, key string, request map[string]any) (intake.Receipt, error) {
	var rc treasury.Receipt
	attempts := 0
	err := s.send.Do(ctx, true, func(ctx context.Context) error {
		attempts++
		var err error
		rc, err = s.client.SendDocument(ctx, key, request)
		return err
	})
	if err != nil {
		return intake.Receipt{}, settled(problemOf(err), attempts)
	}
	return intake.Receipt{DocumentID: rc.DocumentID, Reference: rc.Reference, EvidenceSHA256: rc.EvidenceSHA256, Replayed: rc.Replayed}, nil
}

// Upload stores one attachment at the treasury under its SHA-256. The route is idempotent by
// the hash, so retrying it, or uploading again after a crash, is safe.
func (s *Sender) Upload(ctx context.Context, sum, mediaType string, data []byte) error {
	err := s.upload.Do(ctx, true, func(ctx context.Context) error {
		_, err := s.client.UploadAttachment(ctx, sum, mediaType, data)
		return err
	})
	if err != nil {
		return problemOf(err)
	}
	return nil
}

// Find asks the treasury for the document sent under the downstream key; false when it holds
// none.
func (s *Sender) Find(ctx context.Context, key string) (intake.Receipt, bool, error) {
	var st treasury.Status
	err := s.status.Do(ctx, true, func(ctx context.Context) error {
		var err error
		st, err = s.client.FindByKey(ctx, key)
		return err
	})
	if errors.Is(err, treasury.ErrNotFound) {
		return intake.Receipt{}, false, nil
	}
	if err != nil {
		return intake.Receipt{}, false, problemOf(err)
	}
	return intake.Receipt{DocumentID: st.DocumentID, Reference: st.Reference, Status: st.Status, EvidenceSHA256: st.EvidenceSHA256}, true, nil
}

// Withdraw asks the treasury to withdraw the document under the withdrawal's downstream key;
// every call carries that key, so retrying it is safe. A document the treasury does not hold
// is not-found.
func (s *Sender) Withdraw(ctx context.Context, key, documentID string, w intake.Withdrawal) (intake.WithdrawalReceipt, error) {
	req := treasury.WithdrawalRequest{
		Procedure: w.Procedure, ProcedureCode: w.ProcedureCode, DossierCode: w.MaHoSo, SupplementNo: w.SoBoSung,
		BudgetUnitCode: w.MaDVQHNS, RequestDate: w.NgayYeuCau, Reason: w.LyDo, ReceivedAt: w.ReceivedAt,
	}
	var out treasury.Withdrawal
	attempts := 0
	err := s.withdraw.Do(ctx, true, func(ctx context.Context) error {
		attempts++
		var err error
		out, err = s.client.Withdraw(ctx, key, documentID, req)
		return err
	})
	if errors.Is(err, treasury.ErrNotFound) {
		return intake.WithdrawalReceipt{}, problem.Wrap(problem.NotFound, err,
			"The treasury holds no document for dossier "+w.MaHoSo+".")
	}
	if err != nil {
		return intake.WithdrawalReceipt{}, settled(problemOf(err), attempts)
	}
	return intake.WithdrawalReceipt{DocumentID: out.DocumentID, Reference: out.Reference, WithdrawnAt: out.WithdrawnAt}, nil
}

// settled is what a call's final problem says when the call took attempts:
// only its first attempt's answer is conclusive. A retry follows an attempt
// that ended without an answer (a timeout, a reset, a 5xx), which the
// treasury may still be taking; a refusal of the retry (the allotment held
// by that very attempt, say) does not say the call was not taken, so it is
// the treasury being unavailable, never final, and the caller's next try
// asks the treasury first.
func settled(err error, attempts int) error {
	var pe *problem.Error
	if attempts <= 1 || !errors.As(err, &pe) || pe.Kind != problem.TreasuryRefused {
		return err
	}
	e := &problem.Error{Kind: problem.TreasuryUnavailable, Cause: err, RetryAfter: retryAfterSeconds,
		Detail:   "The treasury refused a retry of this request after an earlier attempt had ended without an answer, which the treasury may still take: the refusal is not final. Retry with the same Idempotency-Key.",
		DetailVI: "Kho bạc từ chối lần gửi lại sau khi một lần gửi trước không nhận được trả lời, mà Kho bạc vẫn có thể đang xử lý: lời từ chối này chưa phải kết quả cuối cùng. Vui lòng gửi lại với cùng Idempotency-Key."}
	if pe.Extra != nil {
		e.Extra = map[string]any{"treasuryReasonCode": pe.Extra["treasuryReasonCode"]}
	}
	return e
}

// problemOf turns a treasury failure into what the caller is answered: a business refusal is
// treasury-refused with the treasury's reason code; a breaker or bulkhead refusal and an
// unavailable treasury are treasury-unavailable, a timeout treasury-timeout, both with
// Retry-After; anything else (a request this side got wrong, refused credentials, an answer
// outside the contract) is an internal error.
func problemOf(err error) error {
	var ref *treasury.Refusal
	var rej *upstream.Rejected
	switch {
	case errors.As(err, &rej):
		return &problem.Error{Kind: problem.TreasuryUnavailable, Cause: err,
			RetryAfter: max(1, int(rej.RetryAfter.Round(time.Second)/time.Second))}
	case errors.As(err, &ref):
		e := problem.Wrap(problem.TreasuryRefused, err, "The treasury refused the document: "+ref.ReasonCode+".").
			VI("Kho bạc Nhà nước từ chối chứng từ: " + ref.ReasonCode + ".")
		e.Extra = map[string]any{"treasuryReasonCode": ref.ReasonCode, "treasuryMessage": ref.Message}
		return e
	case errors.Is(err, treasury.ErrTimeout):
		return &problem.Error{Kind: problem.TreasuryTimeout, Cause: err, RetryAfter: retryAfterSeconds}
	case errors.Is(err, treasury.ErrUnavailable):
		return &problem.Error{Kind: problem.TreasuryUnavailable, Cause: err, RetryAfter: retryAfterSeconds}
	default:
		return problem.Wrap(problem.Internal, err, "")
	}
}
