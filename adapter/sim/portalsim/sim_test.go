package portalsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/clock"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{})
	for _, tc := range []struct {
		name               string
		username, password any
		want               string
	}{
		{"right credentials", "dvc-adapter", "dev-portal-secret", "00"},
		{"wrong password", "dvc-adapter", "dev-portal-secreT", CodeLoginRefused},
		{"wrong username", "dvc", "dev-portal-secret", CodeLoginRefused},
		{"missing password", "dvc-adapter", nil, CodeLoginRefused},
		{"password not a string", "dvc-adapter", 42, CodeLoginRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, s, map[string]any{"service": "Login", "username": tc.username, "password": tc.password})
			if r.status != http.StatusOK || r.code() != tc.want {
				t.Fatalf("got %d %s, want error_code %s", r.status, r.raw, tc.want)
			}
			if session, _ := r.body["session"].(string); (session != "") != (tc.want == "00") {
				t.Fatalf("session %q in %s", session, r.raw)
			}
		})
	}
}

func TestSuccessCodeOption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ opt, want string }{
		{"", `"error_code":"00"`}, {`0`, `"error_code":0`}, {`"0"`, `"error_code":"0"`}, {`"00"`, `"error_code":"00"`},
	} {
		t.Run(tc.opt, func(t *testing.T) {
			s, _ := newSim(t, Options{SuccessCode: tc.opt})
			r := call(t, s, map[string]any{"service": "Login", "username": "dvc-adapter", "password": "dev-portal-secret"})
			if !strings.Contains(r.raw, tc.want) {
				t.Fatalf("login answer %s lacks %s", r.raw, tc.want)
			}
			session, _ := r.body["session"].(string)
			if r := syncCall(t, s, session, syncItem("D1", "2")); !strings.Contains(r.raw, tc.want) {
				t.Fatalf("service answer %s lacks %s", r.raw, tc.want)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"zero", Options{}, true},
		{"number success code", Options{SuccessCode: "0"}, true},
		{"unquoted 00", Options{SuccessCode: "00"}, false},
		{"other success code", Options{SuccessCode: `"1"`}, false},
		{"negative session ttl", Options{SessionTTL: -time.Second}, false},
		{"negative token ttl", Options{TokenTTL: -time.Second}, false},
		{"reject code is success", Options{RejectBackwardCode: "00"}, false},
		{"reject code", Options{RejectBackwardCode: "-5"}, true},
		{"dstcode", Options{DstCode: "000.00.00.G09"}, true},
		{"dstcode padded", Options{DstCode: " G09"}, false},
		{"dstcode with a line break", Options{DstCode: "G0\n9"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.opts.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestSessionRequired(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		session func(s *Sim, clk *clock.Clock, session string) string
		want    string
	}{
		{"valid session", func(_ *Sim, _ *clock.Clock, session string) string { return session }, "00"},
		{"no session", func(*Sim, *clock.Clock, string) string { return "" }, CodeSessionExpired},
		{"unknown session", func(*Sim, *clock.Clock, string) string { return "not-a-session" }, CodeSessionExpired},
		{"just before the ttl", func(_ *Sim, clk *clock.Clock, session string) string {
			clk.Advance(30*time.Minute - time.Second)
			return session
		}, "00"},
		{"ttl passed", func(_ *Sim, clk *clock.Clock, session string) string {
			clk.Advance(30 * time.Minute)
			return session
		}, CodeSessionExpired},
		{"sessions expired", func(s *Sim, _ *clock.Clock, session string) string {
			s.ExpireSessions()
			return session
		}, CodeSessionExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newSim(t, Options{})
			session := tc.session(s, clk, login(t, s))
			if r := syncCall(t, s, session, syncItem("D1", "2")); r.code() != tc.want {
				t.Fatalf("got %s, want error_code %s", r.raw, tc.want)
			}
			if _, stored := s.Status("D1"); stored != (tc.want == "00") {
				t.Fatalf("stored = %v after %s", stored, tc.want)
			}
		})
	}
}

func TestSyncProgressLookup(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{})
	session := login(t, s)

	r := service(t, s, session, "TraCuuHoSo", map[string]any{"mahoso": "D1"})
	if r.code() != "00" || jsonText(r.body["data"]) != "[]" {
		t.Fatalf("lookup of an unknown dossier: %s", r.raw)
	}
	if r := syncCall(t, s, session, syncItem("D1", "2")); r.code() != "00" {
		t.Fatalf("sync: %s", r.raw)
	}
	if r := progressCall(t, s, session, "D1", 4); r.code() != "00" { // a number is accepted too
		t.Fatalf("progress: %s", r.raw)
	}
	if st, ok := s.Status("D1"); !ok || st != 4 {
		t.Fatalf("Status(D1) = %d, %v; want 4", st, ok)
	}
	r = service(t, s, session, "TraCuuHoSo", map[string]any{"mahoso": "D1"})
	data, _ := r.body["data"].([]any)
	if r.code() != "00" || len(data) != 1 {
		t.Fatalf("lookup: %s", r.raw)
	}
	got, _ := data[0].(map[string]any)
	want := map[string]any{"MaHoSo": "D1", "MaTTHC": "1.009460", "TrangThaiHoSo": "4",
		"NgayTiepNhan": "20260609090000", "TaiLieuNop": []any{}}
	if jsonText(got) != jsonText(want) {
		t.Fatalf("lookup item %s, want %s", jsonText(got), jsonText(want))
	}
	if r := syncCall(t, s, session, syncItem("D1", 5)); r.code() != "00" { // sent again: an update
		t.Fatalf("second sync: %s", r.raw)
	}
	if st, _ := s.Status("D1"); st != 5 {
		t.Fatalf("Status(D1) = %d after the second sync, want 5", st)
	}
}

func TestInvalidRequests(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		want       string
	}{
		{"not JSON", `{"service":`, CodeInvalidRequest},
		{"not an object", `["Login"]`, CodeInvalidRequest},
		{"null", `null`, CodeInvalidRequest},
		{"no service", `{"session":"$S"}`, CodeInvalidRequest},
		{"unknown service", `{"service":"XoaHoSo","session":"$S"}`, CodeInvalidRequest},
		{"lookup without mahoso", `{"service":"TraCuuHoSo","session":"$S"}`, CodeInvalidRequest},
		{"sync without data", `{"service":"DongBoHoSoMC","session":"$S","isUpdating":"False"}`, CodeInvalidRequest},
		{"sync with empty data", `{"service":"DongBoHoSoMC","session":"$S","isUpdating":"False","data":[]}`, CodeInvalidRequest},
		{"sync item not an object", `{"service":"DongBoHoSoMC","session":"$S","isUpdating":"False","data":[null]}`, CodeInvalidRequest},
		{"sync without MaHoSo", `{"service":"DongBoHoSoMC","session":"$S","isUpdating":"False","data":[{"TrangThaiHoSo":"2"}]}`, CodeInvalidRequest},
		{"sync status 0", `{"service":"DongBoHoSoMC","session":"$S","isUpdating":"False","data":[{"MaHoSo":"D1","TrangThaiHoSo":"0"}]}`, CodeInvalidRequest},
		{"sync status 11", `{"service":"DongBoHoSoMC","session":"$S","isUpdating":"False","data":[{"MaHoSo":"D1","TrangThaiHoSo":11}]}`, CodeInvalidRequest},
		{"sync status text", `{"service":"DongBoHoSoMC","session":"$S","isUpdating":"False","data":[{"MaHoSo":"D1","TrangThaiHoSo":"four"}]}`, CodeInvalidRequest},
		{"sync without isUpdating", `{"service":"DongBoHoSoMC","session":"$S","data":[{"MaHoSo":"D1","TrangThaiHoSo":"2"}]}`, CodeInvalidRequest},
		{"sync isUpdating maybe", `{"service":"DongBoHoSoMC","session":"$S","isUpdating":"maybe","data":[{"MaHoSo":"D1","TrangThaiHoSo":"2"}]}`, CodeInvalidRequest},
		{"sync isUpdating bool", `{"service":"DongBoHoSoMC","session":"$S","isUpdating":true,"data":[{"MaHoSo":"D1","TrangThaiHoSo":"2"}]}`, "00"},
		{"sync isUpdating lower case", `{"service":"DongBoHoSoMC","session":"$S","isUpdating":"true","data":[{"MaHoSo":"D1","TrangThaiHoSo":"2"}]}`, "00"},
		{"progress without TrangThai", `{"service":"CapNhatTienDoHoSoMC","session":"$S","data":[{"MaHoSo":"D1"}]}`, CodeInvalidRequest},
		{"progress for a dossier never synced", `{"service":"CapNhatTienDoHoSoMC","session":"$S","data":[{"MaHoSo":"D1","TrangThai":"4"}]}`, CodeUnknownDossier},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newSim(t, Options{})
			body := strings.ReplaceAll(tc.body, "$S", login(t, s))
			r := do(t, s, http.MethodPost, "/api", body, nil)
			if r.status != http.StatusOK || r.code() != tc.want {
				t.Fatalf("got %d %s, want error_code %s", r.status, r.raw, tc.want)
			}
			if _, stored := s.Status("D1"); stored != (tc.want == "00") {
				t.Fatalf("stored = %v after %s", stored, r.raw)
			}
		})
	}
}

func TestReceived(t *testing.T) {
	t.Parallel()
	s, clk := newSim(t, Options{})
	session := login(t, s)
	syncCall(t, s, session, syncItem("D1", "2"), syncItem("D2", 2))
	clk.Advance(time.Minute)
	progressCall(t, s, session, "D1", "4")
	progressCall(t, s, session, "D9", "4")
	service(t, s, session, "TraCuuHoSo", map[string]any{"mahoso": "D1"})
	service(t, s, "expired", "TraCuuHoSo", map[string]any{"mahoso": "D1"}) // not authenticated: not recorded

	want := []string{"DongBoHoSoMC D1 2", "DongBoHoSoMC D2 2", "CapNhatTienDoHoSoMC D1 4",
		"CapNhatTienDoHoSoMC D9 4 -4", "TraCuuHoSo D1"}
	recs := s.Received()
	if got := statuses(recs); !slices.Equal(got, want) {
		t.Fatalf("received\n%q\nwant\n%q", got, want)
	}
	if !recs[0].Time.Equal(newClock().Now()) || !recs[2].Time.Equal(newClock().Now().Add(time.Minute)) {
		t.Fatalf("times %v, %v do not follow the clock", recs[0].Time, recs[2].Time)
	}

	r := do(t, s, http.MethodGet, "/sim/received", "", nil)
	var listed []Received
	if err := json.Unmarshal([]byte(r.raw), &listed); err != nil || r.status != http.StatusOK {
		t.Fatalf("GET /sim/received: %d %s (%v)", r.status, r.raw, err)
	}
	if !slices.Equal(statuses(listed), want) {
		t.Fatalf("GET /sim/received lists %q", statuses(listed))
	}
	if !strings.Contains(r.raw, `"service":"DongBoHoSoMC","maHoSo":"D1","status":"2","time":"2026-06-09T09:00:00+07:00"`) {
		t.Fatalf("GET /sim/received shape: %s", r.raw)
	}
}

func TestReceivedEmptyIsArray(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, Options{})
	if r := do(t, s, http.MethodGet, "/sim/received", "", nil); strings.TrimSpace(r.raw) != "[]" {
		t.Fatalf("GET /sim/received = %s, want []", r.raw)
	}
}

func TestBackwardStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		from, to     int
		reject       string
		wantCode     string
		wantStatus   int
		wantBackward bool
	}{
		{"forward", 2, 4, "-5", "00", 4, false},
		{"same again", 4, 4, "-5", "00", 4, false},
		{"back, rejected", 9, 4, "-5", "-5", 9, true},
		{"back, accepted", 9, 4, "", "00", 4, true},
		{"correction resumes processing", 5, 4, "-5", "00", 4, false},
		{"resubmission received", 5, 2, "-5", "00", 2, false},
		{"final reopened", 8, 9, "-5", "-5", 8, true},
		{"final reopened, accepted", 8, 10, "", "00", 10, true},
		{"refused at intake, reopened", 3, 4, "-5", "-5", 3, true},
		{"result returned, reopened", 10, 4, "-5", "-5", 10, true},
		{"final repeated", 8, 8, "-5", "00", 8, false},
		{"processed to returned", 9, 10, "-5", "00", 10, false},
	} {
		for _, svc := range []string{"CapNhatTienDoHoSoMC", "DongBoHoSoMC"} {
			t.Run(tc.name+"/"+svc, func(t *testing.T) {
				s, _ := newSim(t, Options{RejectBackwardCode: tc.reject})
				session := login(t, s)
				syncCall(t, s, session, syncItem("D1", tc.from))
				var r result
				if svc == "DongBoHoSoMC" {
					r = syncCall(t, s, session, syncItem("D1", tc.to))
				} else {
					r = progressCall(t, s, session, "D1", tc.to)
				}
				if r.code() != tc.wantCode {
					t.Fatalf("got %s, want error_code %s", r.raw, tc.wantCode)
				}
				if st, _ := s.Status("D1"); st != tc.wantStatus {
					t.Fatalf("status %d, want %d", st, tc.wantStatus)
				}
				recs := s.Received()
				if last := recs[len(recs)-1]; last.Backward != tc.wantBackward || last.Service != svc {
					t.Fatalf("received %+v, want %s backward %v", last, svc, tc.wantBackward)
				}
			})
		}
	}
}
