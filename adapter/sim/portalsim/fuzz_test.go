package portalsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzServiceCall sends arbitrary bodies to each service: the simulator must answer every one
// with HTTP 200 and an error_code, and hold only valid statuses.
func FuzzServiceCall(f *testing.F) {
	for _, seed := range []string{
		`{"isUpdating":"False","data":[{"MaHoSo":"D1","TrangThaiHoSo":"2"}]}`,
		`{"data":[{"MaHoSo":"D1","TrangThai":4}]}`,
		`{"mahoso":"D1"}`,
		`{"isUpdating":true,"data":[{"MaHoSo":"D1","TrangThaiHoSo":"99999999999999999999"}]}`,
		`{"data":[null,{"MaHoSo":1}]}`,
		`[]`, `null`, `{`, ``,
	} {
		for sel := range byte(4) {
			f.Add(sel, []byte(seed))
		}
	}
	services := []string{serviceSync, serviceProgress, serviceLookup, "Khac"}
	f.Fuzz(func(t *testing.T, sel byte, body []byte) {
		s := New(Options{})
		tok := s.tokens.issue(s.now(), s.opts.TokenTTL)
		// A dossier to update, so that progress calls get past the unknown-dossier check.
		s.store.dossiers["D1"] = &dossier{status: 2, item: map[string]json.RawMessage{}}
		req := httptest.NewRequest(http.MethodPost, "/api/"+services[int(sel)%len(services)], strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var out map[string]json.RawMessage
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out["error_code"] == nil {
			t.Fatalf("answer %d %s", rec.Code, rec.Body)
		}
		for k, d := range s.store.dossiers {
			if d.status < 1 || d.status > 10 {
				t.Fatalf("dossier %q holds status %d", k, d.status)
			}
		}
	})
}

// FuzzFaultsJSON: the admin route's decoder refuses or accepts, never panics, and what it
// accepts and validates survives a round trip.
func FuzzFaultsJSON(f *testing.F) {
	for _, seed := range []string{
		`{"down":true,"latency":"200ms","errorCode":"99","errorRate":0.5,"expireSessions":true}`,
		`{"latency":"1h2m3.5s"}`, `{"errorRate":1e-300}`, `{}`, `{"latency":""}`, `[]`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fs Faults
		if fs.UnmarshalJSON(b) != nil || fs.Validate() != nil {
			return
		}
		out, err := fs.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back Faults
		if err := back.UnmarshalJSON(out); err != nil || back != fs {
			t.Fatalf("round trip %+v → %s → %+v (%v)", fs, out, back, err)
		}
	})
}
