package treasurysim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Statuses and reason codes of a withdrawal.
const (
	StatusWithdrawn = "WITHDRAWN"
	// ReasonPaid refuses the withdrawal of a document that is PAID or RESULT_RETURNED.
	ReasonPaid = "DA_THANH_TOAN"
	// ReasonProcessed refuses the withdrawal of a document that is ACCOUNT_OPENED.
	ReasonProcessed = "DA_XU_LY_XONG"
	// ReasonEnded refuses the withdrawal of a document that is REJECTED, STOPPED or already
	// WITHDRAWN by another route (a status sent on demand).
	ReasonEnded = "HO_SO_DA_KET_THUC"
	// ReasonOtherUnit refuses a withdrawal asked by a unit that did not send the document.
	ReasonOtherUnit = "DVQHNS_KHONG_KHOP"
)

// withdrawRefusals are the statuses from which a document can no longer be withdrawn, with
// the reason code of the refusal.
var withdrawRefusals = map[string]string{
	StatusPaid:           ReasonPaid,
	StatusResultReturned: ReasonPaid,
	StatusAccountOpened:  ReasonProcessed,
	"REJECTED":           ReasonEnded,
	"STOPPED":            ReasonEnded,
	StatusWithdrawn:      ReasonEnded,
}

// Withdrawal is the withdrawal of a document, as GET /sim/documents lists it.
type Withdrawal struct {
	IdempotencyKey string    `json:"idempotencyKey"`
	BudgetUnitCode string    `json:"budgetUnitCode"`
	RequestDate    string    `json:"requestDate"`
	Reason         string    `json:"reason"`
	WithdrawnAt    time.Time `json:"withdrawnAt"`
	// Replays counts the later withdrawals under the same Idempotency-Key, each answered with
	// the first answer.
	Replays int `json:"replays"`
	// Request is the accepted withdrawal body, compacted. Treat it as read-only.
	Request json.RawMessage `json:"request"`
}

// withdrawRequest is the part of a withdrawal body the simulator reads. The body was validated
// against the schema first.
type withdrawRequest struct {
	Procedure      string `json:"procedure"`
	DossierCode    string `json:"dossierCode"`
	SupplementNo   int    `json:"supplementNo"`
	BudgetUnitCode string `json:"budgetUnitCode"`
	RequestDate    string `json:"requestDate"`
	Reason         string `json:"reason"`
}

// withdrawal is the answer to a withdrawal.
type withdrawal struct {
	DocumentID  string    `json:"documentId"`
	Reference   string    `json:"reference"`
	Status      string    `json:"status"`
	WithdrawnAt time.Time `json:"withdrawnAt"`
}

// WithdrawalKey is the contract's idempotency key of a document's withdrawal, as the simulated
// treasury checks it: the lower-case hex SHA-256 of "withdrawal|<procedure>|<dossierCode>|
// <supplementNo>" (schemas/treasury/openapi.yaml). The adapter derives it on its side, in
// adapter/intake.
func WithdrawalKey(procedure, dossierCode string, supplementNo int) string {
	sum := sha256.Sum256([]byte("withdrawal|" + procedure + "|" + dossierCode + "|" + strconv.Itoa(supplementNo)))
	return hex.EncodeToString(sum[:])
}

// withdrawDocument handles POST /api/v1/documents/{documentId}/withdrawal.
func (s *Sim) withdrawDocument(w http.ResponseWriter, r *http.Request) {
	var req withdrawRequest
	key, body, ok := s.keyedRequest(w, r, s.validator.withdrawal, "withdrawal", &req)
	if !ok {
		return
	}
	id := r.PathValue("documentId")
	doc, replayed, ref := s.withdraw(id, key, &req, body)
	attrs := []any{"documentId", id, "procedure", req.Procedure, "dossierCode", req.DossierCode, "supplementNo", req.SupplementNo}
	if ref != nil {
		s.log.Info("treasury-sim: withdrawal refused", append(attrs, "reasonCode", ref.ReasonCode)...)
		writeRefusal(w, ref)
		return
	}
	code := http.StatusCreated
	if replayed {
		code = http.StatusOK
		s.log.Info("treasury-sim: withdrawal replayed", attrs...)
	} else {
		s.log.Info("treasury-sim: document withdrawn", attrs...)
	}
	writeJSON(w, code, withdrawal{doc.DocumentID, doc.Reference, StatusWithdrawn, doc.Withdrawal.WithdrawnAt})
}

// withdraw withdraws the document and, when it was withdrawn now, stops its timed status path
// and queues its WITHDRAWN status event (sent by the next tick once callbacks are started).
// The callback state is locked first, as for every status change, so that a tick never moves
// the document past the withdrawal.
func (s *Sim) withdraw(id, key string, req *withdrawRequest, body []byte) (Document, bool, *refusal) {
	e := &s.cb
	e.mu.Lock()
	defer e.mu.Unlock()
	doc, replayed, ref := s.store.withdraw(id, key, req, body, s.now())
	if ref != nil || replayed {
		return doc, replayed, ref
	}
	ds := e.doc(id)
	ds.stopped = true
	if !e.started {
		return doc, false, nil
	}
	rec, err := s.newRecordLocked(doc, StatusWithdrawn, "", "withdrawal")
	if err != nil {
		s.log.Error("treasury-sim: cannot build the withdrawal callback", "documentId", id, "error", err.Error())
		return doc, false, nil
	}
	if ds.pending == "" {
		ds.pending = rec.EventID
	} else {
		ds.queued = append(ds.queued, rec.EventID)
	}
	return doc, false, nil
}

// withdraw records the withdrawal of a document: the document takes the status WITHDRAWN
// and gives its lines back to the allotments. A repeated key gets the recorded document
// (replayed true); a refusal leaves the store unchanged.
func (st *store) withdraw(id, key string, req *withdrawRequest, body []byte, now time.Time) (Document, bool, *refusal) {
	st.mu.Lock()
	defer st.mu.Unlock()
	d, ok := st.byID[id]
	if !ok {
		return Document{}, false, notFound()
	}
	if req.Procedure != d.Procedure || req.DossierCode != d.DossierCode || req.SupplementNo != d.SupplementNo {
		return Document{}, false, invalid("procedure, dossierCode and supplementNo are not those of document " + id)
	}
	if key != WithdrawalKey(d.Procedure, d.DossierCode, d.SupplementNo) {
		return Document{}, false, invalid("Idempotency-Key is not the SHA-256 of withdrawal|procedure|dossierCode|supplementNo")
	}
	if w := d.Withdrawal; w != nil && w.IdempotencyKey == key {
		w.Replays++
		return d.clone(), true, nil
	}
	if req.BudgetUnitCode != d.BudgetUnitCode {
		return Document{}, false, refuse422(ReasonOtherUnit, "budget-using unit %s did not send document %s", req.BudgetUnitCode, id)
	}
	if reason := withdrawRefusals[d.Status]; reason != "" {
		return Document{}, false, refuse422(reason, "document %s is %s and can no longer be withdrawn", id, d.Status)
	}
	st.ledger.release(d.BudgetUnitCode, d.deducted)
	d.deducted = nil
	now = now.In(ict).Truncate(time.Millisecond)
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		compact.Reset()
		compact.Write(body)
	}
	d.Status, d.UpdatedAt = StatusWithdrawn, now
	d.Withdrawal = &Withdrawal{IdempotencyKey: key, BudgetUnitCode: req.BudgetUnitCode,
		RequestDate: req.RequestDate, Reason: req.Reason, WithdrawnAt: now, Request: compact.Bytes()}
	return d.clone(), false, nil
}
