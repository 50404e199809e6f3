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
)

// StatusReceived is the treasury status of a newly accepted document.
const StatusReceived = "RECEIVED"

// Receipt is the treasury's answer to SendDocument.
type Receipt struct {
	DocumentID string    `json:"documentId"`
	Reference  string    `json:"reference"`
	Status     string    `json:"status"`
	ReceivedAt time.Time `json:"receivedAt"`
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
