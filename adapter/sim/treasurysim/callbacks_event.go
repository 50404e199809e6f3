package treasurysim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kbnn/dvc/adapter/schema"
	"github.com/kbnn/dvc/adapter/webhook"
	"github.com/kbnn/dvc/schemas"
)

const eventSchemaFile = "treasury/status-event.schema.json"

// Event is a status event, the body of a status callback
// (schemas/treasury/status-event.schema.json).
type Event struct {
	EventID         string           `json:"eventId"`
	DossierCode     string           `json:"dossierCode"`
	Procedure       string           `json:"procedure"`
	SupplementNo    int              `json:"supplementNo"`
	DocumentID      string           `json:"documentId"`
	Reference       string           `json:"reference"`
	Status          string           `json:"status"`
	Sequence        int              `json:"sequence"`
	OccurredAt      time.Time        `json:"occurredAt"`
	Handler         string           `json:"handler,omitempty"`
	HandlerTitle    string           `json:"handlerTitle,omitempty"`
	Department      string           `json:"department,omitempty"`
	Note            string           `json:"note,omitempty"`
	DueAt           time.Time        `json:"dueAt,omitzero"`
	ResultDocuments []ResultDocument `json:"resultDocuments,omitempty"`
}

// ResultDocument is a document the treasury hands back with the result.
type ResultDocument struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// statusNotes are the notes the simulated treasury officer writes for each status.
var statusNotes = map[string]string{
	"RECEIVED":            "Đã nhận chứng từ",
	"ACCEPTED":            "Đã tiếp nhận hồ sơ",
	"PROCESSING":          "Đang kiểm soát chứng từ",
	"CORRECTION_REQUIRED": "Đề nghị đơn vị bổ sung, hoàn thiện hồ sơ",
	"REJECTED":            "Từ chối: hồ sơ không đủ điều kiện",
	"PAID":                "Đã thanh toán",
	"ACCOUNT_OPENED":      "Đã mở tài khoản",
	"RESULT_RETURNED":     "Đã trả kết quả",
	"STOPPED":             "Dừng xử lý hồ sơ",
	"WITHDRAWN":           "Đơn vị đề nghị rút hồ sơ",
}

// newEvent builds the event of d moving to status at now.
func newEvent(d Document, id, status string, seq int, now time.Time) Event {
	ev := Event{
		EventID: id, DossierCode: d.DossierCode, Procedure: d.Procedure, SupplementNo: d.SupplementNo,
		DocumentID: d.DocumentID, Reference: d.Reference, Status: status, Sequence: seq,
		OccurredAt:   now.In(ict).Truncate(time.Millisecond),
		Handler:      "Nguyễn Văn B",
		HandlerTitle: "Kiểm soát viên",
		Department:   "Phòng Kiểm soát chi",
		Note:         statusNotes[status],
		DueAt:        d.ReceivedAt.Add(48 * time.Hour),
	}
	if status == StatusCorrectionRequired {
		// The processing time counts again from the request: the new due date (the
		// portal's NgayHenTraMoi).
		ev.DueAt = now.In(ict).Truncate(time.Millisecond).Add(48 * time.Hour)
	}
	if status == StatusResultReturned {
		ev.ResultDocuments = []ResultDocument{{
			Name: "Kết quả xử lý " + d.Reference,
			URL:  "https://dvc.kbnn.gov.vn/ket-qua/" + d.Reference + ".pdf",
		}}
	}
	return ev
}

// encode returns the event's JSON body after checking it against the event schema.
func (ev Event) encode() ([]byte, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	sch, err := eventSchema()
	if err != nil {
		return nil, err
	}
	if err := validate(sch, body); err != nil {
		return nil, fmt.Errorf("event does not fit %s: %w", eventSchemaFile, err)
	}
	return body, nil
}

// eventSchema is the compiled status event schema.
var eventSchema = sync.OnceValues(func() (*schema.Validator, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(embeddedLoader{})
	sch, err := c.Compile(schemaBase + eventSchemaFile)
	if err != nil {
		return nil, fmt.Errorf("compile status event schema: %w", err)
	}
	return schema.NewValidator(sch), nil
})

// eventStatuses is the set of statuses the status event schema allows.
var eventStatuses = sync.OnceValue(func() map[string]bool {
	raw, err := schemas.FS.ReadFile(eventSchemaFile)
	if err != nil {
		panic("treasurysim: " + err.Error())
	}
	var doc struct {
		Defs struct {
			Status struct {
				Enum []string `json:"enum"`
			} `json:"status"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Defs.Status.Enum) == 0 {
		panic("treasurysim: no $defs.status.enum in " + eventSchemaFile)
	}
	set := make(map[string]bool, len(doc.Defs.Status.Enum))
	for _, s := range doc.Defs.Status.Enum {
		set[s] = true
	}
	return set
})

// EventRequest chooses the event BuildEvent builds.
type EventRequest struct {
	// DocumentID names the document; or DossierCode names the latest document of a dossier
	// (the highest supplement). Exactly one is required.
	DocumentID  string
	DossierCode string
	// Status is the treasury status of the new event. Required unless EventID names an event
	// already sent.
	Status string
	// EventID is the id of the event. Zero: a new id. The id of an event already sent: that
	// event again, same body, freshly signed (a repeat).
	EventID string
	// SignedAt is the webhook-timestamp. Zero: the sim clock. An old time makes a stale event.
	SignedAt time.Time
	// Secret signs the event. Zero: the callback secret of StartCallbacks.
	Secret []byte
}

// SignedEvent is an event ready to POST: its body and its Standard Webhooks headers
// (webhook-id, webhook-timestamp, webhook-signature, Content-Type). Tests may change either
// to make a tampered event.
type SignedEvent struct {
	Event  Event
	Body   []byte
	Header http.Header
}

// errRequest marks a mistake in an EventRequest (an answer 400 on the admin route).
var errRequest = errors.New("bad event request")

// errNoDocument is returned when the request names no document the simulator holds.
var errNoDocument = errors.New("no such document")

// BuildEvent builds and signs an event without sending or recording it. A new event takes the
// document's next sequence number (so later events still increase) but leaves its status
// alone. Before StartCallbacks, a Secret is required.
func (s *Sim) BuildEvent(req EventRequest) (SignedEvent, error) {
	e := &s.cb
	e.mu.Lock()
	defer e.mu.Unlock()
	secret := req.Secret
	if len(secret) == 0 {
		if !e.started {
			return SignedEvent{}, ErrCallbacksOff
		}
		secret = e.opts.Secret
	}
	var body []byte
	if rec, ok := e.byID[req.EventID]; ok && req.EventID != "" {
		if req.Status != "" && req.Status != rec.Status {
			return SignedEvent{}, fmt.Errorf("%w: event %s has status %s", errRequest, rec.EventID, rec.Status)
		}
		body = rec.Event
	} else {
		d, err := s.findDocument(req.DocumentID, req.DossierCode)
		if err != nil {
			return SignedEvent{}, err
		}
		if !eventStatuses()[req.Status] {
			return SignedEvent{}, fmt.Errorf("%w: status %q is not a status of the status event schema", errRequest, req.Status)
		}
		id := req.EventID
		switch {
		case id != "":
		case e.started:
			id = e.opts.NewID()
		default:
			id = newEventID()
		}
		ds := e.doc(d.DocumentID)
		body, err = newEvent(d, id, req.Status, ds.seq+1, s.now()).encode()
		if err != nil {
			return SignedEvent{}, fmt.Errorf("%w: %v", errRequest, err)
		}
		ds.seq++
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return SignedEvent{}, err
	}
	at := req.SignedAt
	if at.IsZero() {
		at = s.now()
	}
	h := webhook.Headers(secret, ev.EventID, at, body)
	h.Set("Content-Type", "application/json")
	return SignedEvent{Event: ev, Body: body, Header: h}, nil
}

// findDocument returns the document named by its id, or the latest of a dossier.
func (s *Sim) findDocument(documentID, dossierCode string) (Document, error) {
	switch {
	case (documentID == "") == (dossierCode == ""):
		return Document{}, fmt.Errorf("%w: give exactly one of documentId and dossierCode", errRequest)
	case documentID != "":
		d, ok := s.store.byDocumentID(documentID)
		if !ok {
			return Document{}, errNoDocument
		}
		return d, nil
	}
	var found *Document
	for _, d := range s.store.list() {
		if d.DossierCode == dossierCode && (found == nil || d.SupplementNo >= found.SupplementNo) {
			found = &d
		}
	}
	if found == nil {
		return Document{}, errNoDocument
	}
	return *found, nil
}
