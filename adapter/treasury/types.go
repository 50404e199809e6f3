package treasury

import "time"

// Reason codes the treasury puts in refusals (see schemas/treasury/refusal.schema.json).
const (
	ReasonInvalidRequest    = "INVALID_REQUEST"      // 400: the request breaks the contract
	ReasonInvalidClient     = "INVALID_CLIENT"       // 401 at login: credentials refused
	ReasonInvalidToken      = "INVALID_TOKEN"        // 401: token missing, expired or unknown
	ReasonNotFound          = "NOT_FOUND"            // 404
	ReasonUnknownBudgetUnit = "DVQHNS_KHONG_TON_TAI" // 422: unknown budget-using unit
	ReasonUnknownOffice     = "KBNN_KHONG_TON_TAI"   // 422: unknown treasury office
	ReasonNoAllotment       = "KHONG_CO_DU_TOAN"     // 422: no allotment for a budget line
	ReasonOverAllotment     = "VUOT_DU_TOAN"         // 422: amount over the remaining allotment
	// Refusals of a withdrawal.
	ReasonPaid      = "DA_THANH_TOAN"     // 422: the document is paid or its result returned
	ReasonProcessed = "DA_XU_LY_XONG"     // 422: the document is processed (e.g. the account opened)
	ReasonEnded     = "HO_SO_DA_KET_THUC" // 422: the document was rejected or its processing stopped
	ReasonOtherUnit = "DVQHNS_KHONG_KHOP" // 422: the unit asking is not the document's
)

// StatusReceived is the treasury status of a newly accepted document.
const StatusReceived = "RECEIVED"

// Receipt is the treasury's answer to SendDocument.
type Receipt struct {
	DocumentID string    `json:"documentId"`
	Reference  string    `json:"reference"`
	Status     string    `json:"status"`
	ReceivedAt time.Time `json:"receivedAt"`
	// EvidenceSHA256 is evidence.sha256 of the request the document was created from (the
	// first request's on a replay), when the treasury says it.
	EvidenceSHA256 string `json:"evidenceSha256,omitempty"`
	// Replayed is true when the treasury had already seen the idempotency key (HTTP 200) and
	// answered with the first document's receipt instead of creating one.
	Replayed bool `json:"-"`
}

// Status is the treasury's answer to CheckDocumentStatus.
type Status struct {
	DocumentID  string    `json:"documentId"`
	Reference   string    `json:"reference"`
	Status      string    `json:"status"`
	DossierCode string    `json:"dossierCode"`
	Procedure   string    `json:"procedure"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// EvidenceSHA256 is evidence.sha256 of the request the document was created from,
	// when the treasury says it.
	EvidenceSHA256 string `json:"evidenceSha256,omitempty"`
}

// WithdrawalRequest is the body of POST /api/v1/documents/{documentId}/withdrawal
// (schemas/treasury/withdrawal-request.schema.json).
type WithdrawalRequest struct {
	Procedure      string    `json:"procedure"`
	ProcedureCode  string    `json:"procedureCode"`
	DossierCode    string    `json:"dossierCode"`
	SupplementNo   int       `json:"supplementNo"`
	BudgetUnitCode string    `json:"budgetUnitCode"`
	RequestDate    string    `json:"requestDate"` // yyyy-mm-dd, as the unit wrote it
	Reason         string    `json:"reason"`
	ReceivedAt     time.Time `json:"receivedAt"`
}

// StatusWithdrawn is the treasury status of a withdrawn document.
const StatusWithdrawn = "WITHDRAWN"

// Withdrawal is the treasury's answer to Withdraw
// (schemas/treasury/withdrawal-response.schema.json).
type Withdrawal struct {
	DocumentID  string    `json:"documentId"`
	Reference   string    `json:"reference"`
	Status      string    `json:"status"`
	WithdrawnAt time.Time `json:"withdrawnAt"`
	// Replayed is true when the treasury had already seen the idempotency key (HTTP 200) and
	// answered with the first answer.
	Replayed bool `json:"-"`
}

// validKey reports whether key has the form of a downstream key (64 lower-case hex digits).
func validKey(key string) bool {
	if len(key) != 64 {
		return false
	}
	for i := range len(key) {
		if c := key[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
