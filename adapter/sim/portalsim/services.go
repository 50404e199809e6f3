package portalsim

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Service names the simulator serves.
const (
	serviceLookup   = "TraCuuHoSo"
	serviceSync     = "DongBoHoSoMC"
	serviceProgress = "CapNhatTienDoHoSoMC"
)

// Received is one authenticated service call (one entry per data item), as GET /sim/received
// lists it.
type Received struct {
	Service string    `json:"service"`
	MaHoSo  string    `json:"maHoSo,omitempty"`
	Status  string    `json:"status,omitempty"` // TrangThaiHoSo or TrangThai, as a string
	Time    time.Time `json:"time"`
	// ErrorCode is the error_code answered when it was not a success.
	ErrorCode string `json:"errorCode,omitempty"`
	// Backward: the status is lower than the dossier's current one (and not 5 → 4 or 5 → 2,
	// a correction round), or moves a dossier away from a final status (3, 7, 8, 10).
	Backward bool `json:"backward,omitempty"`
}

// outcome is what a service call answers: code "" is success.
type outcome struct {
	code, message string
	extra         map[string]any
}

// serve answers an authenticated service call, injecting the error fault first.
func (s *Sim) serve(w http.ResponseWriter, service string, req map[string]json.RawMessage) {
	now := s.now()
	if code := s.injectedError(); code != "" {
		s.log.Info("portal-sim: fault injected", "fault", "errorCode", "service", service, "code", code)
		s.store.record(describe(service, req, now), code)
		s.answer(w, code, "simulated portal error", nil)
		return
	}
	var out outcome
	switch service {
	case serviceLookup:
		out = s.store.lookup(str(req["mahoso"]), now)
	case serviceSync:
		out = s.store.sync(req, now, s.opts.RejectBackwardCode)
	case serviceProgress:
		out = s.store.progress(req, now, s.opts.RejectBackwardCode)
	default:
		out = outcome{code: CodeInvalidRequest, message: "unknown service " + quote(service)}
		s.store.record(describe(service, req, now), out.code)
	}
	if out.code != "" {
		s.log.Info("portal-sim: call refused", "service", service, "code", out.code, "message", out.message)
	} else if out.message == "" {
		out.message = "ok"
	}
	s.answer(w, out.code, out.message, out.extra)
}

// item is one valid data item.
type item struct {
	maHoSo string
	status int
	raw    map[string]json.RawMessage
}

// parseItems reads a non-empty data array of objects, each with a MaHoSo and a status in
// statusField (1–10).
func parseItems(req map[string]json.RawMessage, statusField string) ([]item, error) {
	var raws []map[string]json.RawMessage
	if json.Unmarshal(req["data"], &raws) != nil || len(raws) == 0 {
		return nil, errors.New("data must be a non-empty array of objects")
	}
	items := make([]item, 0, len(raws))
	for i, raw := range raws {
		it := item{maHoSo: strings.TrimSpace(str(raw["MaHoSo"])), raw: raw}
		var ok bool
		it.status, ok = statusOf(raw[statusField])
		switch {
		case raw == nil:
			return nil, errors.New("data[" + strconv.Itoa(i) + "] is not an object")
		case it.maHoSo == "":
			return nil, errors.New("data[" + strconv.Itoa(i) + "].MaHoSo is missing")
		case !ok:
			return nil, errors.New("data[" + strconv.Itoa(i) + "]." + statusField + " is not a status 1-10")
		}
		items = append(items, it)
	}
	return items, nil
}

// describe makes the entries of a call that was refused before being understood, reading what
// it can.
func describe(service string, req map[string]json.RawMessage, now time.Time) []Received {
	if service == serviceLookup {
		return []Received{{Service: service, MaHoSo: str(req["mahoso"]), Time: now}}
	}
	var raws []map[string]json.RawMessage
	_ = json.Unmarshal(req["data"], &raws)
	var recs []Received
	for _, raw := range raws {
		rec := Received{Service: service, MaHoSo: str(raw["MaHoSo"]), Time: now}
		for _, f := range []string{"TrangThaiHoSo", "TrangThai"} {
			if n, ok := statusOf(raw[f]); ok {
				rec.Status = strconv.Itoa(n)
			}
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		recs = []Received{{Service: service, Time: now}}
	}
	return recs
}

// isBackward reports whether moving from cur to next goes backwards: lower, except 5 → 4 and
// 5 → 2 (processing resumes after a correction, or the resubmitted dossier is received
// again), or away from a final status (3, 7, 8, 10), which nothing reopens.
func isBackward(cur, next int) bool {
	if cur == next {
		return false
	}
	switch cur {
	case 3, 7, 8, 10:
		return true
	}
	return next < cur && (cur != 5 || (next != 4 && next != 2))
}

// store keeps the dossiers and the received calls.
type store struct {
	mu       sync.Mutex
	dossiers map[string]*dossier
	received []Received
}

type dossier struct {
	status   int
	item     map[string]json.RawMessage // the full dossier, as last synced
	synced   time.Time                  // when item was received
	progress []progressEntry            // CapNhatTienDoHoSoMC items, oldest first, at most maxProgress
	updated  time.Time                  // the last sync or progress
}

// progressEntry is one CapNhatTienDoHoSoMC item and when it was received.
type progressEntry struct {
	item     map[string]json.RawMessage
	received time.Time
}

// maxProgress bounds the progress items kept per dossier; older ones are dropped.
const maxProgress = 100

func newStore() *store { return &store{dossiers: map[string]*dossier{}} }

// record appends entries, marking them with the answered code unless it is a success.
func (st *store) record(recs []Received, code string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.appendLocked(recs, code)
}

func (st *store) appendLocked(recs []Received, code string) {
	for i := range recs {
		recs[i].ErrorCode = code
	}
	st.received = append(st.received, recs...)
}

func (st *store) list() []Received {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]Received, len(st.received))
	copy(out, st.received)
	return out
}

func (st *store) status(maHoSo string) (int, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	d, ok := st.dossiers[maHoSo]
	if !ok {
		return 0, false
	}
	return d.status, true
}

func (st *store) lookup(maHoSo string, now time.Time) outcome {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := []Received{{Service: serviceLookup, MaHoSo: maHoSo, Time: now}}
	if strings.TrimSpace(maHoSo) == "" {
		st.appendLocked(rec, CodeInvalidRequest)
		return outcome{code: CodeInvalidRequest, message: "mahoso is missing"}
	}
	st.appendLocked(rec, "")
	data := []map[string]json.RawMessage{}
	if d, ok := st.dossiers[maHoSo]; ok {
		it := maps.Clone(d.item)
		it["TrangThaiHoSo"] = json.RawMessage(strconv.Quote(strconv.Itoa(d.status)))
		data = append(data, it)
	}
	return outcome{extra: map[string]any{"data": data}}
}

func (st *store) sync(req map[string]json.RawMessage, now time.Time, rejectCode string) outcome {
	updating := strings.ToLower(strings.TrimSpace(str(req["isUpdating"])))
	if b, err := strconv.ParseBool(string(req["isUpdating"])); err == nil {
		updating = strconv.FormatBool(b)
	}
	items, err := parseItems(req, "TrangThaiHoSo")
	if err == nil && updating != "true" && updating != "false" {
		err = errors.New(`isUpdating must be "True" or "False"`)
	}
	return st.apply(serviceSync, req, items, err, now, rejectCode, false)
}

func (st *store) progress(req map[string]json.RawMessage, now time.Time, rejectCode string) outcome {
	items, err := parseItems(req, "TrangThai")
	return st.apply(serviceProgress, req, items, err, now, rejectCode, true)
}

// apply records a DongBoHoSoMC or CapNhatTienDoHoSoMC call and, unless it is refused, stores
// its items. A call is refused whole: invalid items, a dossier never synced (progress), or a
// backward move when rejectCode is set.
func (st *store) apply(service string, req map[string]json.RawMessage, items []item, bad error,
	now time.Time, rejectCode string, progress bool) outcome {
	st.mu.Lock()
	defer st.mu.Unlock()
	if bad != nil {
		st.appendLocked(describe(service, req, now), CodeInvalidRequest)
		return outcome{code: CodeInvalidRequest, message: bad.Error()}
	}
	recs := make([]Received, len(items))
	var refuse outcome
	for i, it := range items {
		recs[i] = Received{Service: service, MaHoSo: it.maHoSo, Status: strconv.Itoa(it.status), Time: now}
		d, known := st.dossiers[it.maHoSo]
		switch {
		case progress && !known && refuse.code == "":
			refuse = outcome{code: CodeUnknownDossier, message: "dossier " + quote(it.maHoSo) + " was never synced"}
		case known && isBackward(d.status, it.status):
			recs[i].Backward = true
			if rejectCode != "" && refuse.code == "" {
				refuse = outcome{code: rejectCode, message: "status of " + quote(it.maHoSo) + " would move backwards from " +
					strconv.Itoa(d.status) + " to " + strconv.Itoa(it.status)}
			}
		}
	}
	if refuse.code != "" {
		st.appendLocked(recs, refuse.code)
		return refuse
	}
	for _, it := range items {
		d, ok := st.dossiers[it.maHoSo]
		if !ok {
			d = &dossier{}
			st.dossiers[it.maHoSo] = d
		}
		d.status, d.updated = it.status, now
		if !progress {
			d.item, d.synced = it.raw, now
			continue
		}
		d.progress = append(d.progress, progressEntry{item: it.raw, received: now})
		if len(d.progress) > maxProgress {
			d.progress = slices.Delete(d.progress, 0, len(d.progress)-maxProgress)
		}
	}
	st.appendLocked(recs, "")
	return outcome{}
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}
