package portalsim

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFaultsAdmin(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{})
	for _, tc := range []struct {
		name, method, body string
		wantStatus         int
		want               Faults
	}{
		{"initially none", http.MethodGet, "", http.StatusOK, Faults{}},
		{"set all", http.MethodPut, `{"down":true,"latency":"200ms","errorCode":"99","errorRate":0.5,"expireSessions":true}`,
			http.StatusOK, Faults{Down: true, Latency: 200 * time.Millisecond, ErrorCode: "99", ErrorRate: 0.5, ExpireSessions: true}},
		{"read back", http.MethodGet, "", http.StatusOK,
			Faults{Down: true, Latency: 200 * time.Millisecond, ErrorCode: "99", ErrorRate: 0.5, ExpireSessions: true}},
		{"unknown field", http.MethodPut, `{"outage":true}`, http.StatusBadRequest, Faults{}},
		{"bad latency", http.MethodPut, `{"latency":"soon"}`, http.StatusBadRequest, Faults{}},
		{"negative latency", http.MethodPut, `{"latency":"-1s"}`, http.StatusBadRequest, Faults{}},
		{"rate above one", http.MethodPut, `{"errorRate":1.5}`, http.StatusBadRequest, Faults{}},
		{"success code as error", http.MethodPut, `{"errorCode":"00"}`, http.StatusBadRequest, Faults{}},
		{"trailing data", http.MethodPut, `{"down":true} {}`, http.StatusBadRequest, Faults{}},
		{"unchanged by refusals", http.MethodGet, "", http.StatusOK,
			Faults{Down: true, Latency: 200 * time.Millisecond, ErrorCode: "99", ErrorRate: 0.5, ExpireSessions: true}},
		{"replace, missing fields zero", http.MethodPut, `{"errorCode":"-9"}`, http.StatusOK, Faults{ErrorCode: "-9"}},
		{"clear", http.MethodDelete, "", http.StatusOK, Faults{}},
		{"cleared", http.MethodGet, "", http.StatusOK, Faults{}},
	} {
		// Steps build on each other: no t.Run parallelism.
		r := do(t, s, tc.method, "/sim/admin/faults", tc.body, nil)
		if r.status != tc.wantStatus {
			t.Fatalf("%s: status %d (%s), want %d", tc.name, r.status, r.raw, tc.wantStatus)
		}
		if tc.wantStatus != http.StatusOK {
			continue
		}
		var got Faults
		if err := got.UnmarshalJSON([]byte(r.raw)); err != nil || got != tc.want || s.Faults() != tc.want {
			t.Fatalf("%s: answered %s (%v), holds %+v, want %+v", tc.name, r.raw, err, s.Faults(), tc.want)
		}
	}
	if r := do(t, s, http.MethodPost, "/sim/admin/faults", "{}", nil); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /sim/admin/faults: %d, want 405", r.status)
	}
}

func TestFaultDown(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{})
	session := login(t, s)
	s.SetFaults(Faults{Down: true})
	for _, path := range []string{"/api", "/api/DongBoHoSoMC", "/oauth/token"} {
		r := do(t, s, http.MethodPost, path, `{"service":"DongBoHoSoMC","session":"`+session+`"}`, nil)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" {
			t.Fatalf("%s: %d Retry-After %q, want 503 with Retry-After 1", path, r.status, r.header.Get("Retry-After"))
		}
	}
	if r := do(t, s, http.MethodGet, "/sim/received", "", nil); r.status != http.StatusOK || strings.TrimSpace(r.raw) != "[]" {
		t.Fatalf("/sim/received during an outage: %d %s", r.status, r.raw)
	}
	s.SetFaults(Faults{})
	if r := syncCall(t, s, session, syncItem("D1", "2")); r.code() != "00" {
		t.Fatalf("after recovery: %s", r.raw)
	}
}

func TestFaultErrorCode(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{})
	s.SetFaults(Faults{ErrorCode: "99"})
	session := login(t, s) // Login is not a service call: unaffected
	if r := syncCall(t, s, session, syncItem("D1", "2")); r.code() != "99" {
		t.Fatalf("sync: %s, want error_code 99", r.raw)
	}
	if r := service(t, s, session, "TraCuuHoSo", map[string]any{"mahoso": "D1"}); r.code() != "99" {
		t.Fatalf("lookup: %s, want error_code 99", r.raw)
	}
	if tok := token(t, s); bearerCall(t, s, tok, "DongBoHoSoMC", map[string]any{"isUpdating": "False",
		"data": []any{syncItem("D1", "2")}}).code() != "99" {
		t.Fatal("bearer call escaped the error fault")
	}
	if _, ok := s.Status("D1"); ok {
		t.Fatal("a call answered with an injected error was stored")
	}
	want := []string{"DongBoHoSoMC D1 2 99", "TraCuuHoSo D1  99", "DongBoHoSoMC D1 2 99"}
	if got := statuses(s.Received()); !slices.Equal(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}
}

func TestFaultErrorRate(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{Rand: rand.NewPCG(1, 2)})
	s.SetFaults(Faults{ErrorRate: 0.5})
	session := login(t, s)
	counts := map[string]int{}
	for range 200 {
		counts[service(t, s, session, "TraCuuHoSo", map[string]any{"mahoso": "D1"}).code()]++
	}
	if len(counts) != 2 || counts["00"] == 0 || counts[DefaultErrorCode] == 0 {
		t.Fatalf("answers %v, want a mix of 00 and %s", counts, DefaultErrorCode)
	}
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{})
	var mu sync.Mutex
	var slept []time.Duration
	s.sleep = func(_ context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		slept = append(slept, d)
		return nil
	}
	session := login(t, s)
	s.SetFaults(Faults{Latency: 250 * time.Millisecond})
	if r := syncCall(t, s, session, syncItem("D1", "2")); r.code() != "00" {
		t.Fatalf("delayed call: %s", r.raw)
	}
	do(t, s, http.MethodGet, "/sim/received", "", nil) // never delayed
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(slept, []time.Duration{250 * time.Millisecond}) {
		t.Fatalf("slept %v, want one 250ms delay", slept)
	}
}

func TestFaultLatencyClientGone(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{})
	session := login(t, s)
	s.sleep = func(context.Context, time.Duration) error { return context.Canceled } // the client gave up
	s.SetFaults(Faults{Latency: time.Hour})
	srv := httptest.NewServer(s)
	defer srv.Close()
	body := `{"service":"DongBoHoSoMC","session":"` + session + `","isUpdating":"False","data":[{"MaHoSo":"D1","TrangThaiHoSo":"2"}]}`
	resp, err := srv.Client().Post(srv.URL+"/api", "application/json", strings.NewReader(body))
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("got an answer %d, want the connection closed", resp.StatusCode)
	}
	if _, ok := s.Status("D1"); ok || len(s.Received()) != 0 {
		t.Fatal("a call whose client gave up was handled")
	}
}

func TestFaultExpireSessions(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{})
	old := login(t, s)
	if r := syncCall(t, s, old, syncItem("D1", "2")); r.code() != "00" {
		t.Fatalf("before the fault: %s", r.raw)
	}
	s.SetFaults(Faults{ExpireSessions: true})
	for i := range 2 { // has served a call: expires, and stays expired
		if r := progressCall(t, s, old, "D1", "4"); r.code() != CodeSessionExpired {
			t.Fatalf("old session, call %d: %s, want %s", i, r.raw, CodeSessionExpired)
		}
	}
	for i := range 3 { // every fresh session serves one call, then expires
		fresh := login(t, s)
		if r := progressCall(t, s, fresh, "D1", "4"); r.code() != "00" {
			t.Fatalf("round %d, first call: %s", i, r.raw)
		}
		if r := progressCall(t, s, fresh, "D1", "4"); r.code() != CodeSessionExpired {
			t.Fatalf("round %d, second call: %s", i, r.raw)
		}
	}
	tok := token(t, s)
	if r := bearerCall(t, s, tok, "TraCuuHoSo", map[string]any{"mahoso": "D1"}); r.code() != "00" {
		t.Fatalf("first bearer call: %d %s", r.status, r.raw)
	}
	if r := bearerCall(t, s, tok, "TraCuuHoSo", map[string]any{"mahoso": "D1"}); r.status != http.StatusUnauthorized {
		t.Fatalf("second bearer call: %d %s, want 401", r.status, r.raw)
	}
}

func TestFaultsValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		f    Faults
		ok   bool
	}{
		{"zero", Faults{}, true},
		{"rate one", Faults{ErrorRate: 1}, true},
		{"negative rate", Faults{ErrorRate: -0.1}, false},
		{"code 0", Faults{ErrorCode: "0"}, false},
		{"padded code", Faults{ErrorCode: " 99"}, false},
		{"long code", Faults{ErrorCode: strings.Repeat("9", 17)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.f.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestSetFaultsRefusesInvalid(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{})
	defer func() {
		if recover() == nil {
			t.Fatal("SetFaults accepted invalid faults")
		}
	}()
	s.SetFaults(Faults{ErrorRate: 2})
}
