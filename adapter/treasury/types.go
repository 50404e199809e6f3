package treasury

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

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

// SendDocumentRequest is the body of SendDocument
// (schemas/treasury/send-document-request.schema.json). Amounts are integer VND.
type SendDocumentRequest struct {
	DocumentType       string    `json:"documentType"`       // form code, e.g. C2-02a/NS
	Procedure          string    `json:"procedure"`          // procedure id, e.g. chi-thuong-xuyen
	ProcedureCode      string    `json:"procedureCode"`      // national procedure code (maTTHC)
	DossierCode        string    `json:"dossierCode"`        // national dossier code (maHoSo)
	SupplementNo       int       `json:"supplementNo"`       // 0, or n for the n-th resubmission
	BudgetUnitCode     string    `json:"budgetUnitCode"`     // 7 digits (ma DVQHNS)
	TreasuryOfficeCode string    `json:"treasuryOfficeCode"` // 4 digits (ma KBNN)
	BudgetYear         int       `json:"budgetYear"`
	SubmittedAt        time.Time `json:"submittedAt"`
	TotalAmount        int64     `json:"totalAmount"` // 0 when the document moves no money
	Payee              *Payee    `json:"payee,omitempty"`
	Lines              []Line    `json:"lines,omitempty"`
	// Content is the procedure-specific part, free-form. Nil is sent as {}.
	Content map[string]any `json:"content"`
}

// Key returns the request's downstream idempotency key.
func (r *SendDocumentRequest) Key() string {
	return DownstreamKey(r.Procedure, r.DossierCode, r.SupplementNo)
}

// Payee is who receives the money.
type Payee struct {
	Name          string `json:"name"`
	AccountNumber string `json:"accountNumber"`
	BankName      string `json:"bankName,omitempty"`
}

// Line is one budget line of a document.
type Line struct {
	BudgetLine   BudgetLine `json:"budgetLine"`
	Amount       int64      `json:"amount"`
	Description  string     `json:"description,omitempty"`
	PayeeName    string     `json:"payeeName,omitempty"`
	PayeeAccount string     `json:"payeeAccount,omitempty"`
}

// BudgetLine is the chart-of-accounts combination a line is charged to.
type BudgetLine struct {
	Chapter string `json:"chapter"`           // chuong, 3 digits
	Sector  string `json:"sector"`            // nganh kinh te, 3 digits
	Item    string `json:"item"`              // noi dung kinh te (tieu muc), 4 digits
	Source  string `json:"source"`            // nguon NSNN, 2 digits
	Program string `json:"program,omitempty"` // CTMT / du an, 5 digits
}

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

// DownstreamKey is the idempotency key of a document at the treasury: the lower-case hex
// SHA-256 of "<procedure>|<dossierCode>|<supplementNo>". The same dossier always gets the
// same key, whatever key the portal used.
func DownstreamKey(procedure, dossierCode string, supplementNo int) string {
	buf := make([]byte, 0, len(procedure)+len(dossierCode)+8)
	buf = append(buf, procedure...)
	buf = append(buf, '|')
	buf = append(buf, dossierCode...)
	buf = append(buf, '|')
	buf = strconv.AppendInt(buf, int64(supplementNo), 10)
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
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
