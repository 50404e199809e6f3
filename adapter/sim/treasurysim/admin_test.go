package treasurysim

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestAdminFaultsRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	steps := []struct {
		method, body string
		want         Faults
	}{
		{"GET", "", Faults{}},
		{"PUT", `{"latency":"250ms","jitter":"50ms","errorRate":0.25,"timeoutRate":0.1,"hangMax":"5s",
			"outage":true,"outageMode":"refuse","afterAccept":"drop"}`,
			Faults{250 * time.Millisecond, 50 * time.Millisecond, 0.25, 0.1, 5 * time.Second, true, "refuse", "drop"}},
		{"GET", "", Faults{250 * time.Millisecond, 50 * time.Millisecond, 0.25, 0.1, 5 * time.Second, true, "refuse", "drop"}},
		// PUT replaces: fields left out become zero.
		{"PUT", `{"errorRate":1}`, Faults{ErrorRate: 1}},
		{"GET", "", Faults{ErrorRate: 1}},
		{"PUT", `{"afterAccept":"hang","hangMax":"1m30s","outageMode":"503"}`,
			Faults{AfterAccept: "hang", HangMax: 90 * time.Second, OutageMode: "503"}},
		{"DELETE", "", Faults{}},
		{"GET", "", Faults{}},
	}
	for i, st := range steps {
		rec := h.do(st.method, "/sim/admin/faults", map[string]string{"Content-Type": "application/json"}, st.body)
		if rec.Code != http.StatusOK {
			t.Fatalf("step %d %s: %d %s", i, st.method, rec.Code, rec.Body)
		}
		var got Faults
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("step %d %s: %v", i, st.method, err)
		}
		if got != st.want {
			t.Errorf("step %d %s: answer %+v, want %+v", i, st.method, got, st.want)
		}
		if cur := h.sim.Faults(); cur != st.want {
			t.Errorf("step %d %s: Faults() = %+v, want %+v", i, st.method, cur, st.want)
		}
	}
}

func TestAdminFaultsJSONForm(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(Faults{Latency: 250 * time.Millisecond, ErrorRate: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"latency":"250ms","jitter":"0s","errorRate":0.5,"timeoutRate":0,"hangMax":"0s",` +
		`"outage":false,"outageMode":"","afterAccept":""}`
	if string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
}

func TestAdminFaultsValidation(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body string }{
		{"error rate above 1", `{"errorRate":1.5}`},
		{"error rate below 0", `{"errorRate":-0.1}`},
		{"timeout rate above 1", `{"timeoutRate":2}`},
		{"rate as string", `{"errorRate":"0.5"}`},
		{"negative latency", `{"latency":"-1s"}`},
		{"negative hang max", `{"hangMax":"-5ms"}`},
		{"duration without unit", `{"latency":"250"}`},
		{"duration as number", `{"latency":250}`},
		{"malformed jitter", `{"jitter":"fast"}`},
		{"unknown field", `{"errorRate":0.5,"errorRat":0.5}`},
		{"unknown outage mode", `{"outage":true,"outageMode":"boom"}`},
		{"unknown after-accept", `{"afterAccept":"crash"}`},
		{"trailing data", `{"errorRate":0.5} {}`},
		{"not JSON", `errorRate=0.5`},
		{"empty body", ``},
		{"array", `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			before := Faults{Latency: time.Second, ErrorRate: 0.2}
			h.sim.SetFaults(before)
			rec := h.do("PUT", "/sim/admin/faults", nil, tt.body)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400 (%s)", rec.Code, rec.Body)
			}
			if got := reasonOf(t, rec); got != ReasonInvalidRequest {
				t.Errorf("reasonCode = %q", got)
			}
			if got := h.sim.Faults(); got != before {
				t.Errorf("faults changed by a refused PUT: %+v", got)
			}
		})
	}
}

func TestAdminFaultsMethods(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		method string
		status int
	}{
		{"GET", 200},
		{"HEAD", 200},
		{"POST", 405},
		{"PATCH", 405},
	}
	for _, tt := range tests {
		rec := h.do(tt.method, "/sim/admin/faults", nil, "")
		if rec.Code != tt.status {
			t.Errorf("%s: status = %d, want %d", tt.method, rec.Code, tt.status)
		}
		if tt.status == 405 && rec.Header().Get("Allow") == "" {
			t.Errorf("%s: 405 without Allow", tt.method)
		}
	}
}
