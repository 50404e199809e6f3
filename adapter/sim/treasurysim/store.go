package treasurysim

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// StatusReceived is the status of every newly accepted document.
const StatusReceived = "RECEIVED"

// ict is Vietnam's time zone (UTC+7, no daylight saving), fixed so no tz database is needed.
var ict = time.FixedZone("ICT", 7*60*60)

// Document is one document the simulator accepted, as GET /sim/documents lists it.
type Document struct {
	DocumentID         string    `json:"documentId"`
	Reference          string    `json:"reference"`
	Status             string    `json:"status"`
	Procedure          string    `json:"procedure"`
	DossierCode        string    `json:"dossierCode"`
	SupplementNo       int       `json:"supplementNo"`
	IdempotencyKey     string    `json:"idempotencyKey"`
	DocumentType       string    `json:"documentType"`
	BudgetUnitCode     string    `json:"budgetUnitCode"`
	TreasuryOfficeCode string    `json:"treasuryOfficeCode"`
	BudgetYear         int       `json:"budgetYear"`
	TotalAmount        int64     `json:"totalAmount"`
	LineCount          int       `json:"lineCount"`
	ReceivedAt         time.Time `json:"receivedAt"`
	UpdatedAt          time.Time `json:"updatedAt"`
	// EvidenceSHA256 is the request's evidence.sha256 (empty without evidence): which bytes
	// the simulator holds as the document's signed original.
	EvidenceSHA256 string `json:"evidenceSha256,omitempty"`
	// Replays counts the later sends under the same Idempotency-Key, each answered with this
	// document's receipt.
	Replays int `json:"replays"`
	// Request is the accepted SendDocument body as received (a JSON
	// encoding of the Document compacts it). Treat it as read-only. Only
	// the latest Options.KeepRequests documents keep it: an older one has
	// none and RequestDropped.
	Request json.RawMessage `json:"request"`
	// RequestDropped: the simulator no longer holds Request, as more than
	// Options.KeepRequests documents came after this one.
	RequestDropped bool `json:"requestDropped,omitempty"`
	// Withdrawal is set once the document was withdrawn at its unit's request.
	Withdrawal *Withdrawal `json:"withdrawal,omitempty"`

	// deducted is what the document took from its unit's allotments,
	// given back when it is withdrawn. Read-only once set.
	deducted []deduction
}

// clone returns a copy of d that shares nothing it may change.
func (d *Document) clone() Document {
	c := *d
	if d.Withdrawal != nil {
		w := *d.Withdrawal
		c.Withdrawal = &w
	}
	return c
}

// sendRequest is the part of a SendDocument body the simulator reads. The body was validated
// against the schema first.
type sendRequest struct {
	DocumentType       string              `json:"documentType"`
	Procedure          string              `json:"procedure"`
	DossierCode        string              `json:"dossierCode"`
	SupplementNo       int                 `json:"supplementNo"`
	BudgetUnitCode     string              `json:"budgetUnitCode"`
	TreasuryOfficeCode string              `json:"treasuryOfficeCode"`
	BudgetYear         int                 `json:"budgetYear"`
	TotalAmount        int64               `json:"totalAmount"`
	Lines              []requestLine       `json:"lines"`
	Documents          []requestDocument   `json:"documents"`
	Attachments        []requestAttachment `json:"attachments"`
	Evidence           *evidence           `json:"evidence"`
}

// requestDocument is one document of a request: its kind and lines.
type requestDocument struct {
	Kind  string        `json:"kind"`
	Lines []requestLine `json:"lines"`
}

// evidence is the part of a request's evidence the simulator checks and
// serves back; the whole of it is kept in Document.Request.
type evidence struct {
	ContentType string `json:"contentType"`
	SHA256      string `json:"sha256"`
	Original    string `json:"original"`
}

// requestLine is one budget line of a request or of one of its documents.
type requestLine struct {
	BudgetLine struct {
		Chapter string `json:"chapter"`
		Item    string `json:"item"`
	} `json:"budgetLine"`
	Amount int64 `json:"amount"`
}

// bookedKinds are the document kinds whose lines are booked against allotments (a commitment
// reserves its allotment as a payment spends it). A recovery of an advance, a refund, a voucher
// list, a volume statement or a contract books nothing.
var bookedKinds = map[string]bool{"PAYMENT": true, "ADVANCE": true, "COMMITMENT": true}

// booked returns the lines deducted from the allotments: those of every payment, advance and
// commitment document when the request lists its documents, otherwise the request's own lines.
func (r *sendRequest) booked() []requestLine {
	if len(r.Documents) == 0 {
		return r.Lines
	}
	var out []requestLine
	for _, d := range r.Documents {
		if bookedKinds[d.Kind] {
			out = append(out, d.Lines...)
		}
	}
	return out
}

// store holds the accepted documents and the ledger behind one lock, so checking the rules,
// deducting the allotments and recording the document are one atomic step.
type store struct {
	mu     sync.Mutex
	ledger *ledger
	docs   []*Document // arrival order
	byID   map[string]*Document
	byKey  map[string]*Document
	docSeq map[int]int       // year of receipt → last document sequence
	refSeq map[refSeqKey]int // (office, budget year) → last reference sequence
	// keep is how many of the latest documents keep their request
	// (negative: all); a load run's requests would otherwise hold tens of
	// kilobytes each for the simulator's life.
	keep int
}

type refSeqKey struct {
	office string
	year   int
}

// newStore returns an empty store whose latest keep documents keep their
// request (negative: every document).
func newStore(l *ledger, keep int) *store {
	return &store{
		ledger: l,
		keep:   keep,
		byID:   map[string]*Document{},
		byKey:  map[string]*Document{},
		docSeq: map[int]int{},
		refSeq: map[refSeqKey]int{},
	}
}

// accept records a document under key, or returns the document already recorded under key
// (replayed true). A refusal leaves the store unchanged. The store keeps body: the caller
// must not change it. added (nil: none) runs for a new document before any other request
// can see it (its carried files are stored there).
func (st *store) accept(key string, req *sendRequest, body []byte, now time.Time, added func()) (Document, bool, *refusal) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if d, ok := st.byKey[key]; ok {
		d.Replays++
		return d.clone(), true, nil
	}
	taken, r := st.ledger.reserve(req)
	if r != nil {
		return Document{}, false, r
	}
	now = now.In(ict).Truncate(time.Millisecond)
	st.docSeq[now.Year()]++
	rk := refSeqKey{req.TreasuryOfficeCode, req.BudgetYear}
	st.refSeq[rk]++
	d := &Document{
		DocumentID:         fmt.Sprintf("KB-%04d-%06d", now.Year(), st.docSeq[now.Year()]),
		Reference:          fmt.Sprintf("KBNN-%s-%04d-%06d", rk.office, rk.year, st.refSeq[rk]),
		Status:             StatusReceived,
		Procedure:          req.Procedure,
		DossierCode:        req.DossierCode,
		SupplementNo:       req.SupplementNo,
		IdempotencyKey:     key,
		DocumentType:       req.DocumentType,
		BudgetUnitCode:     req.BudgetUnitCode,
		TreasuryOfficeCode: req.TreasuryOfficeCode,
		BudgetYear:         req.BudgetYear,
		TotalAmount:        req.TotalAmount,
		LineCount:          len(req.Lines),
		ReceivedAt:         now,
		UpdatedAt:          now,
		Request:            body,
		deducted:           taken,
	}
	if req.Evidence != nil {
		d.EvidenceSHA256 = req.Evidence.SHA256
	}
	if added != nil {
		added()
	}
	st.docs = append(st.docs, d)
	if n := len(st.docs) - 1 - st.keep; st.keep >= 0 && n >= 0 {
		old := st.docs[n]
		old.Request, old.RequestDropped = nil, true
	}
	st.byID[d.DocumentID] = d
	st.byKey[key] = d
	return d.clone(), false, nil
}

// byDocumentID returns a copy of the document with that id.
func (st *store) byDocumentID(id string) (Document, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	d, ok := st.byID[id]
	if !ok {
		return Document{}, false
	}
	return d.clone(), true
}

// byIdempotencyKey returns a copy of the document recorded under key.
func (st *store) byIdempotencyKey(key string) (Document, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	d, ok := st.byKey[key]
	if !ok {
		return Document{}, false
	}
	return d.clone(), true
}

// list returns copies of every document in arrival order.
func (st *store) list() []Document {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]Document, len(st.docs))
	for i, d := range st.docs {
		out[i] = d.clone()
	}
	return out
}

// setStatus changes a document's status and its update time.
func (st *store) setStatus(id, status string, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	d, ok := st.byID[id]
	if !ok {
		return false
	}
	d.Status = status
	d.UpdatedAt = now.In(ict).Truncate(time.Millisecond)
	return true
}

// remaining reports what remains of one allotment, and whether it exists.
func (st *store) remaining(unit, chapter, item string) (int64, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.ledger.remainingOf(unit, chapter, item)
}
