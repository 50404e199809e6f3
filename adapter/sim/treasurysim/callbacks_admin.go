package treasurysim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// CallbackRequest is the body of POST /sim/admin/callbacks and the argument of SendEvent.
type CallbackRequest struct {
	// DocumentID names the document; or DossierCode names the latest document of a dossier
	// (the highest supplement). Exactly one is required, unless EventID names an event
	// already sent.
	DocumentID  string `json:"documentId,omitempty"`
	DossierCode string `json:"dossierCode,omitempty"`
	// Status is the new treasury status. Required unless EventID names an event already sent.
	Status string `json:"status,omitempty"`
	// Note is the officer's note (for a refusal, its reason); zero: the status's usual note.
	Note string `json:"note,omitempty"`
	// EventID zero: a new event. The id of an event already sent: that event again (same id
	// and body, new signature), a repeat the receiver must acknowledge without acting twice.
	// Any other id: a new event with that id.
	EventID string `json:"eventId,omitempty"`
}

// SendEvent sends one event now, outside the path, and returns its record after the attempt
// (Delivered tells whether the receiver answered 2xx; a failed attempt is not retried). A new
// event moves the document to Status and takes its next sequence number; a repeat changes
// nothing but the record's attempts. Errors: ErrCallbacksOff before StartCallbacks, and
// errors for an unknown document or a bad request (POST /sim/admin/callbacks answers them 404
// and 400).
func (s *Sim) SendEvent(ctx context.Context, req CallbackRequest) (CallbackRecord, error) {
	rec, err := s.adminRecord(req)
	if err != nil {
		return CallbackRecord{}, err
	}
	return s.deliver(ctx, rec), nil
}

func (s *Sim) adminRecord(req CallbackRequest) (*CallbackRecord, error) {
	e := &s.cb
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started {
		return nil, ErrCallbacksOff
	}
	if rec, ok := e.byID[req.EventID]; ok && req.EventID != "" {
		if req.Status != "" && req.Status != rec.Status {
			return nil, fmt.Errorf("%w: event %s has status %s", errRequest, rec.EventID, rec.Status)
		}
		if (req.DocumentID != "" && req.DocumentID != rec.DocumentID) ||
			(req.DossierCode != "" && req.DossierCode != rec.DossierCode) {
			return nil, fmt.Errorf("%w: event %s belongs to document %s", errRequest, rec.EventID, rec.DocumentID)
		}
		return rec, nil
	}
	d, err := s.findDocument(req.DocumentID, req.DossierCode)
	if err != nil {
		return nil, err
	}
	if !eventStatuses()[req.Status] {
		return nil, fmt.Errorf("%w: status %q is not a status of the status event schema", errRequest, req.Status)
	}
	return s.newRecordLocked(d, req.Status, req.EventID, "admin", req.Note)
}

// callbackRoutes adds the callback routes. Like the other /sim/ routes they are not part of
// the treasury contract and are never subject to faults:
//
//	POST /sim/admin/callbacks  {"documentId" | "dossierCode", "status", "note"?, "eventId"?}: send one
//	                           event now (see SendEvent); 200 with its CallbackRecord, whether
//	                           or not the receiver took it; 400 INVALID_REQUEST, 404 NOT_FOUND,
//	                           409 CALLBACKS_OFF before StartCallbacks
//	GET  /sim/callbacks        every event sent so far, in order ([]CallbackRecord)
func (s *Sim) callbackRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /sim/admin/callbacks", s.postCallback)
	mux.HandleFunc("GET /sim/callbacks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Callbacks())
	})
	for path, allow := range map[string]string{"/sim/admin/callbacks": "POST", "/sim/callbacks": "GET, HEAD"} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeRefusal(w, &refusal{status: http.StatusMethodNotAllowed, ReasonCode: ReasonInvalidRequest,
				Message: "method " + r.Method + " not allowed"})
		})
	}
}

func (s *Sim) postCallback(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		writeRefusal(w, invalid("cannot read body"))
		return
	}
	req, err := parseCallbackRequest(body)
	if err != nil {
		writeRefusal(w, invalid(err.Error()))
		return
	}
	rec, err := s.SendEvent(r.Context(), req)
	switch {
	case errors.Is(err, ErrCallbacksOff):
		writeRefusal(w, &refusal{status: http.StatusConflict, ReasonCode: ReasonCallbacksOff,
			Message: "callbacks are not started (no callback URL configured)"})
	case errors.Is(err, errNoDocument):
		writeRefusal(w, notFound())
	case errors.Is(err, errRequest):
		writeRefusal(w, invalid(err.Error()))
	case err != nil:
		writeRefusal(w, &refusal{status: http.StatusInternalServerError, ReasonCode: "INTERNAL", Message: err.Error()})
	default:
		writeJSON(w, http.StatusOK, rec)
	}
}

// parseCallbackRequest decodes a POST /sim/admin/callbacks body strictly: one JSON object,
// known fields only.
func parseCallbackRequest(body []byte) (CallbackRequest, error) {
	var req CallbackRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return CallbackRequest{}, fmt.Errorf("body: %w", err)
	}
	if dec.More() {
		return CallbackRequest{}, errors.New("body: more than one JSON value")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return CallbackRequest{}, errors.New("body: data after the JSON object")
	}
	return req, nil
}
