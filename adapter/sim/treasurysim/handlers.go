package treasurysim

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/kbnn/dvc/adapter/schema"
)

var keyPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// receipt is the answer to SendDocument.
type receipt struct {
	DocumentID     string    `json:"documentId"`
	Reference      string    `json:"reference"`
	Status         string    `json:"status"`
	ReceivedAt     time.Time `json:"receivedAt"`
	EvidenceSHA256 string    `json:"evidenceSha256,omitempty"`
}

// status is the answer to CheckDocumentStatus.
type status struct {
	DocumentID     string    `json:"documentId"`
	Reference      string    `json:"reference"`
	Status         string    `json:"status"`
	DossierCode    string    `json:"dossierCode"`
	Procedure      string    `json:"procedure"`
	UpdatedAt      time.Time `json:"updatedAt"`
	EvidenceSHA256 string    `json:"evidenceSha256,omitempty"`
}

func statusOf(d Document) status {
	return status{d.DocumentID, d.Reference, d.Status, d.DossierCode, d.Procedure, d.UpdatedAt, d.EvidenceSHA256}
}

// DownstreamKey is the contract's idempotency key of a document, as the simulated treasury
// checks it: the lower-case hex SHA-256 of "<procedure>|<dossierCode>|<supplementNo>"
// (schemas/treasury/openapi.yaml). The adapter derives it on its side, in adapter/intake; both
// are checked against the same vectors.
func DownstreamKey(procedure, dossierCode string, supplementNo int) string {
	sum := sha256.Sum256([]byte(procedure + "|" + dossierCode + "|" + strconv.Itoa(supplementNo)))
	return hex.EncodeToString(sum[:])
}

// keyedRequest reads a keyed write (a document, a withdrawal): its
// Idempotency-Key, its body checked against sch and read into out. On a
// bad request it answers 400 (logging what was refused) and returns false.
func (s *Sim) keyedRequest(w http.ResponseWriter, r *http.Request, sch *schema.Validator, what string, out interface{ fromValue(any) error }) (key string, body []byte, ok bool) {
	key = r.Header.Get("Idempotency-Key")
	if !keyPattern.MatchString(key) {
		writeRefusal(w, invalid("Idempotency-Key must be 64 lower-case hex digits"))
		return "", nil, false
	}
	if body, ok = s.readBody(w, r); !ok {
		return "", nil, false
	}
	v, err := validated(sch, body)
	if err != nil {
		s.log.Info("treasury-sim: "+what+" refused", "reasonCode", ReasonInvalidRequest, "error", err.Error())
		writeRefusal(w, invalid(err.Error()))
		return "", nil, false
	}
	if err := out.fromValue(v); err != nil {
		writeRefusal(w, invalid(err.Error()))
		return "", nil, false
	}
	return key, body, true
}

// sendDocument handles POST /api/v1/documents.
func (s *Sim) sendDocument(w http.ResponseWriter, r *http.Request) {
	var req sendRequest
	key, body, ok := s.keyedRequest(w, r, s.validator.sendDocument, "document", &req)
	if !ok {
		return
	}
	if want := DownstreamKey(req.Procedure, req.DossierCode, req.SupplementNo); key != want {
		writeRefusal(w, invalid("Idempotency-Key is not the SHA-256 of procedure|dossierCode|supplementNo"))
		return
	}
	ref := checkEvidence(req.Evidence)
	var files []carried
	if ref == nil {
		files, ref = carriedFiles(req.Attachments)
	}
	if ref != nil {
		s.log.Info("treasury-sim: document refused", "procedure", req.Procedure, "dossierCode", req.DossierCode, "reasonCode", ref.ReasonCode)
		writeRefusal(w, ref)
		return
	}
	if sum := s.files.missing(req.Attachments); sum != "" {
		writeRefusal(w, refuse422(ReasonAttachmentMissing, "attachment %s was not uploaded (PUT /api/v1/attachments/%s)", sum, sum))
		return
	}
	doc, replayed, ref := s.store.accept(key, &req, body, s.now(), func() { s.files.putCarried(files) })
	attrs := []any{"procedure", req.Procedure, "dossierCode", req.DossierCode, "supplementNo", req.SupplementNo}
	if ref != nil {
		s.log.Info("treasury-sim: document refused", append(attrs, "reasonCode", ref.ReasonCode)...)
		writeRefusal(w, ref)
		return
	}
	code := http.StatusCreated
	if replayed {
		code = http.StatusOK
		s.log.Info("treasury-sim: document replayed", append(attrs, "documentId", doc.DocumentID)...)
	} else {
		s.log.Info("treasury-sim: document accepted", append(attrs, "documentId", doc.DocumentID,
			"reference", doc.Reference, "totalAmount", doc.TotalAmount)...)
	}
	w.Header().Set("Location", "/api/v1/documents/"+doc.DocumentID)
	writeJSON(w, code, receipt{doc.DocumentID, doc.Reference, doc.Status, doc.ReceivedAt, doc.EvidenceSHA256})
}

// ReasonEvidenceMismatch: the request's evidence.original does not hash to
// its evidence.sha256 (400; nothing is stored).
const ReasonEvidenceMismatch = "EVIDENCE_MISMATCH"

// checkEvidence refuses an original that is not base64 or does not hash to
// the stated SHA-256. A request without evidence, or without the original,
// passes.
func checkEvidence(e *evidence) *refusal {
	if e == nil || e.Original == "" {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(e.Original)
	if err != nil {
		return invalid("evidence.original is not base64")
	}
	if sumHex(raw) != e.SHA256 {
		return &refusal{status: http.StatusBadRequest, ReasonCode: ReasonEvidenceMismatch,
			Message: "evidence.original does not hash to evidence.sha256"}
	}
	return nil
}

// documentOriginal handles GET /sim/documents/{documentId}/original: the
// exact bytes the adapter received, with the content type they came with,
// for a tester to verify their signatures with any tool.
func (s *Sim) documentOriginal(w http.ResponseWriter, r *http.Request) {
	d, ok := s.store.byDocumentID(r.PathValue("documentId"))
	if !ok {
		writeRefusal(w, notFound())
		return
	}
	if d.RequestDropped {
		writeRefusal(w, &refusal{status: http.StatusNotFound, ReasonCode: ReasonNotFound,
			Message: fmt.Sprintf("the simulator keeps the requests of its latest %d documents only (-keep-requests)", s.store.keep)})
		return
	}
	var req struct {
		Evidence *evidence `json:"evidence"`
	}
	if err := json.Unmarshal(d.Request, &req); err != nil || req.Evidence == nil || req.Evidence.Original == "" {
		writeRefusal(w, &refusal{status: http.StatusNotFound, ReasonCode: ReasonNotFound, Message: "the document came without its original"})
		return
	}
	raw, err := base64.StdEncoding.DecodeString(req.Evidence.Original)
	if err != nil {
		writeRefusal(w, notFound())
		return
	}
	w.Header().Set("Content-Type", req.Evidence.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(raw)
}

// documentStatus handles GET /api/v1/documents/{documentId}.
func (s *Sim) documentStatus(w http.ResponseWriter, r *http.Request) {
	d, ok := s.store.byDocumentID(r.PathValue("documentId"))
	if !ok {
		writeRefusal(w, notFound())
		return
	}
	writeJSON(w, http.StatusOK, statusOf(d))
}

// findByKey handles GET /api/v1/documents?idempotencyKey=<key>.
func (s *Sim) findByKey(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("idempotencyKey")
	if !keyPattern.MatchString(key) {
		writeRefusal(w, invalid("idempotencyKey must be 64 lower-case hex digits"))
		return
	}
	d, ok := s.store.byIdempotencyKey(key)
	if !ok {
		writeRefusal(w, notFound())
		return
	}
	writeJSON(w, http.StatusOK, statusOf(d))
}

// listDocuments handles GET /sim/documents.
func (s *Sim) listDocuments(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.store.list())
}

// readBody reads the whole request body within MaxBodyBytes; on failure it has answered.
func (s *Sim) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= s.opts.MaxBodyBytes {
		buf.Grow(int(n) + bytes.MinRead) // one allocation instead of io.ReadAll's doublings (ReadFrom keeps MinRead free)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	body := buf.Bytes()
	if err != nil {
		msg := "cannot read body"
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			msg = fmt.Sprintf("body larger than %d bytes", s.opts.MaxBodyBytes)
		}
		writeRefusal(w, invalid(msg))
		return nil, false
	}
	return body, true
}

func invalid(msg string) *refusal {
	return &refusal{status: http.StatusBadRequest, ReasonCode: ReasonInvalidRequest, Message: msg}
}

func notFound() *refusal {
	return &refusal{status: http.StatusNotFound, ReasonCode: ReasonNotFound, Message: "no such document"}
}

func refuse422(code, format string, args ...any) *refusal {
	return &refusal{status: http.StatusUnprocessableEntity, ReasonCode: code, Message: fmt.Sprintf(format, args...)}
}

func writeRefusal(w http.ResponseWriter, r *refusal) { writeJSON(w, r.status, r) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"reasonCode":"INTERNAL","message":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
