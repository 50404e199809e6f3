package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/testkit/fixture"
	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// wfx loads a withdrawal fixture, "<procedure>/<case>" under testdata/withdrawals.
func wfx(t testing.TB, name string) fixture.Case {
	t.Helper()
	c, err := fixture.Load(filepath.Join(repo, "testdata/withdrawals", name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// withdraw posts a withdrawal case to its dossier's withdrawal route (or, when path is set,
// to that path), under Idempotency-Key key (derived when empty).
func (e *env) withdraw(t testing.TB, c fixture.Case, key, path string) answer {
	t.Helper()
	a, err := e.tryWithdraw(c, key, path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tryWithdraw is withdraw for goroutines other than the test's: it returns its error.
func (e *env) tryWithdraw(c fixture.Case, key, path string) (answer, error) {
	req, err := c.WithdrawalRequest(e.adapter.URL)
	if err != nil {
		return answer{}, err
	}
	if path != "" {
		req.URL.Path = path
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}, err
}

// simDocument returns the treasury simulator's document of a dossier.
func (e *env) simDocument(t testing.TB, code string) treasurysim.Document {
	t.Helper()
	for _, d := range e.sim.Documents() {
		if d.DossierCode == code {
			return d
		}
	}
	t.Fatalf("the treasury holds no document for %s", code)
	return treasurysim.Document{}
}

// withdrawalsAtTreasury counts the documents the treasury simulator withdrew.
func (e *env) withdrawalsAtTreasury() int {
	n := 0
	for _, d := range e.sim.Documents() {
		if d.Withdrawal != nil {
			n++
		}
	}
	return n
}

var withdrawalLine = regexp.MustCompile(`(?m)^dvc_withdrawals_total\{outcome="([^"]*)",procedure="([^"]*)"\} (\S+)$`)

// withdrawalCounts scrapes /metrics once and returns every dvc_withdrawals_total series.
func (e *env) withdrawalCounts(t *testing.T) map[series]float64 {
	t.Helper()
	resp, err := http.Get(e.adminSrv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	out := map[series]float64{}
	for _, m := range withdrawalLine.FindAllStringSubmatch(string(body), -1) {
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatal(err)
		}
		out[series{procedure: m[2], outcome: m[1]}] = v
	}
	return out
}

// A withdrawal before payment: 202 with status 7 and the document's reference, the treasury
// holds the withdrawal, the same request again is the stored answer byte for byte, the
// history records the request, and the treasury's WITHDRAWN callback reaches the portal as
// status 7, after which the document's timed path stops.
func TestWithdrawalBeforePayment(t *testing.T) {
	forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
		proc, code := e.submit(t, "chi-thuong-xuyen/valid-xml")
		e.clock.Advance(time.Minute)
		e.tick(t) // ACCEPTED
		e.drain(t)

		w := wfx(t, "chi-thuong-xuyen/withdrawal-xml")
		first := e.withdraw(t, w, "", "")
		if first.status != http.StatusAccepted || first.header.Get("Content-Type") != "application/json" {
			t.Fatalf("withdrawal: %d %s", first.status, first.body)
		}
		var acc intake.WithdrawalAccepted
		if err := json.Unmarshal(first.body, &acc); err != nil {
			t.Fatal(err)
		}
		doc := e.simDocument(t, code)
		if acc.MaHoSo != code || acc.Procedure != proc || acc.TrangThai != 7 || acc.SoBoSung != 0 ||
			acc.TreasuryReference != doc.Reference || !acc.ReceivedAt.Equal(e.clock.Now()) {
			t.Fatalf("202 body %s, want dossier %s, status 7, reference %s", first.body, code, doc.Reference)
		}
		if doc.Status != treasurysim.StatusWithdrawn || doc.Withdrawal == nil ||
			doc.Withdrawal.IdempotencyKey != treasurysim.WithdrawalKey(proc, code, 0) ||
			!strings.HasPrefix(doc.Withdrawal.Reason, "Đơn vị lập nhầm") || doc.Withdrawal.BudgetUnitCode != "1012345" {
			t.Fatalf("the treasury holds %+v (withdrawal %+v)", doc, doc.Withdrawal)
		}

		again := e.withdraw(t, w, "", "")
		if again.status != http.StatusAccepted || !bytes.Equal(again.body, first.body) ||
			again.header.Get("Idempotent-Replayed") != "true" || first.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("repeat: %d %v %s, want the first answer replayed", again.status, again.header, again.body)
		}
		if r := e.simDocument(t, code).Withdrawal.Replays; r != 0 {
			t.Errorf("the replay reached the treasury (%d replays there)", r)
		}

		rec := e.view(t, proc, code)
		if rec.TrangThai != 2 {
			t.Errorf("status %d before the treasury's callback, want 2", rec.TrangThai)
		}
		last := rec.History[len(rec.History)-1]
		if last.TrangThai != 7 || last.Source != "adapter" || last.Delivery != dossier.DeliveryNone ||
			!strings.Contains(last.Note, "withdrawal requested") || !strings.Contains(last.Note, doc.Reference) {
			t.Errorf("last history entry %+v, want the withdrawal request", last)
		}

		e.clock.Advance(time.Minute)
		e.tick(t) // WITHDRAWN
		e.drain(t)
		if st, ok := e.portal.Status(code); !ok || st != 7 {
			t.Fatalf("portal status %d %v, want 7", st, ok)
		}
		recs := e.received(t, code)
		if got, want := writes(recs), []string{"DongBoHoSoMC:2", "CapNhatTienDoHoSoMC:2", "DongBoHoSoMC:7", "CapNhatTienDoHoSoMC:7"}; !slices.Equal(got, want) {
			t.Fatalf("portal writes %v, want %v", got, want)
		}
		checkNoRepeat(t, recs)
		rec = e.view(t, proc, code)
		if rec.TrangThai != 7 {
			t.Errorf("status %d after the callback, want 7", rec.TrangThai)
		}
		var codes []int
		for _, h := range rec.History {
			codes = append(codes, h.TrangThai)
		}
		if !slices.Equal(codes, []int{1, 2, 7, 7}) {
			t.Errorf("history codes %v, want 1, 2, 7 (request), 7 (callback)", codes)
		}
		e.clock.Advance(time.Minute)
		if n := e.sim.TickCallbacks(t.Context()); n != 0 {
			t.Errorf("the withdrawn document's path went on: %d events", n)
		}
	})
}

// A withdrawal after payment: the treasury refuses it (422 treasury-refused with its reason
// code), the refusal is stored and replayed byte for byte, counted and nothing is withdrawn.
func TestWithdrawalAfterPaid(t *testing.T) {
	forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
		_, code := e.submit(t, "chi-thuong-xuyen/valid-json")
		// the lifecycle pays a dossier only once it is received or in progress
		e.sendStatus(t, code, treasurysim.StatusProcessing)
		e.sendStatus(t, code, treasurysim.StatusPaid)
		e.drain(t)

		w := wfx(t, "chi-thuong-xuyen/withdrawal-json")
		first := e.withdraw(t, w, "", "")
		p := problemOf(t, first)
		var extra struct {
			TreasuryReasonCode string `json:"treasuryReasonCode"`
		}
		_ = json.Unmarshal(first.body, &extra)
		if first.status != http.StatusUnprocessableEntity || p.Code != "treasury-refused" || extra.TreasuryReasonCode != treasurysim.ReasonPaid {
			t.Fatalf("withdrawal of a paid dossier: %d %s, want 422 treasury-refused %s", first.status, first.body, treasurysim.ReasonPaid)
		}
		again := e.withdraw(t, w, "", "")
		if again.status != first.status || !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("repeat: %d %s, want the refusal replayed", again.status, again.body)
		}
		if d := e.simDocument(t, code); d.Status != treasurysim.StatusPaid || d.Withdrawal != nil {
			t.Fatalf("the treasury withdrew a paid document: %+v", d)
		}
		// the replay is counted as a replay, not as a second refusal
		if got := e.withdrawalCounts(t)[series{"chi-thuong-xuyen", "treasury-refused"}]; got != 1 {
			t.Errorf(`dvc_withdrawals_total{procedure="chi-thuong-xuyen",outcome="treasury-refused"} = %v, want 1`, got)
		}
		if got := e.counter(t, counterLine("dvc_withdrawal_replays_total"))[series{"chi-thuong-xuyen", "treasury-refused"}]; got != 1 {
			t.Errorf(`dvc_withdrawal_replays_total{procedure="chi-thuong-xuyen",outcome="treasury-refused"} = %v, want 1`, got)
		}
		v := e.view(t, "chi-thuong-xuyen", code)
		for _, h := range v.History {
			if h.Source == "adapter" && h.TrangThai == 7 {
				t.Errorf("a refused withdrawal is in the history: %+v", h)
			}
		}
		if v.WithdrawalPending != "" {
			t.Errorf("a refused withdrawal is left pending: %q", v.WithdrawalPending)
		}
	})
}

// signedWithdrawal signs the procedure's JSON withdrawal template, edited, with signer.
func signedWithdrawal(t *testing.T, procedure, signer string, edit func(map[string]any)) ([]byte, string) {
	t.Helper()
	raw := readTemplate(t, procedure, "withdrawal.json")
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	edit(v)
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signing.SignJWS(body, "", testSigner(t, signer))
	if err != nil {
		t.Fatal(err)
	}
	return body, jws
}

func readTemplate(t *testing.T, procedure, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, "testdata/templates", procedure, name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Refused withdrawals: each gets its problem, and nothing reaches the treasury.
func TestWithdrawalRefusals(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		for _, name := range []string{"chi-thuong-xuyen/valid-xml", "chi-thuong-xuyen/valid-json"} {
			if a := e.send(t, fx(t, name), ""); a.status != http.StatusAccepted {
				t.Fatalf("submit %s: %d %s", name, a.status, a.body)
			}
		}
		xmlCode, _ := fx(t, "chi-thuong-xuyen/valid-xml").DossierCode()
		jsonCode, _ := fx(t, "chi-thuong-xuyen/valid-json").DossierCode()
		resigned := func(edit func(map[string]any)) fixture.Case {
			c := wfx(t, "chi-thuong-xuyen/withdrawal-json")
			body, jws := signedWithdrawal(t, "chi-thuong-xuyen", "chu-tai-khoan", func(v map[string]any) {
				v["maHoSo"] = jsonCode
				edit(v)
			})
			c.Body, c.Header = body, c.Header.Clone()
			c.Header.Set("X-JWS-Signature", jws)
			return c
		}
		noAuth := wfx(t, "chi-thuong-xuyen/withdrawal-xml")
		noAuth.Header = noAuth.Header.Clone()
		noAuth.Header.Del("Authorization")
		dossierAsWithdrawal := fx(t, "chi-thuong-xuyen/valid-xml")
		dossierAsWithdrawal.Parts = nil // the signed dossier alone
		tests := []struct {
			name   string
			c      fixture.Case
			path   string
			status int
			code   string
			field  string // a field path the problem must list
		}{
			{"unsigned", wfx(t, "chi-thuong-xuyen/withdrawal-unsigned"), "", 400, "signature-missing", ""},
			{"signed by the chief accountant only", wfx(t, "chi-thuong-xuyen/withdrawal-wrong-signer"), "", 400, "signer-role-missing", ""},
			{"signature does not verify", wfx(t, "chi-thuong-xuyen/withdrawal-tampered"), "", 400, "signature-invalid", ""},
			{"schema violation", wfx(t, "chi-thuong-xuyen/withdrawal-schema-violation"), "", 422, "schema-violation", "/maDVQHNS"},
			{"maHoSo is not the path's", wfx(t, "chi-thuong-xuyen/withdrawal-xml"),
				"/v1/procedures/chi-thuong-xuyen/dossiers/" + jsonCode + "/withdrawal", 422, "schema-violation", "/maHoSo"},
			{"procedure is not the path's", wfx(t, "chi-thuong-xuyen/withdrawal-xml"),
				"/v1/procedures/von-dau-tu/dossiers/" + xmlCode + "/withdrawal", 422, "schema-violation", "/thuTuc"},
			{"supplement is not the latest", resigned(func(v map[string]any) { v["soBoSung"] = 1 }), "", 422, "schema-violation", "/soBoSung"},
			// an account holder of another unit naming that unit
			{"another unit's dossier", resigned(func(v map[string]any) { v["maDVQHNS"] = "1099999" }), "", 422, "schema-violation", "/maDVQHNS"},
			{"a signed dossier is not a withdrawal", dossierAsWithdrawal,
				"/v1/procedures/chi-thuong-xuyen/dossiers/" + xmlCode + "/withdrawal", 422, "schema-violation", ""},
			{"unknown dossier", wfx(t, "chi-thuong-xuyen/withdrawal-unknown-dossier"), "", 404, "not-found", ""},
			{"no credential", noAuth, "", 401, "unauthorized", ""},
			{"unknown procedure", wfx(t, "chi-thuong-xuyen/withdrawal-xml"),
				"/v1/procedures/no-such-procedure/dossiers/" + xmlCode + "/withdrawal", 404, "unknown-procedure", ""},
		}
		before := e.documentCalls.Load()
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := e.withdraw(t, tt.c, "", tt.path)
				p := problemOf(t, a)
				if a.status != tt.status || p.Code != tt.code {
					t.Fatalf("%d %s, want %d %s", a.status, a.body, tt.status, tt.code)
				}
				if tt.field != "" && !slices.ContainsFunc(p.Errors, func(f struct{ Path, Message string }) bool { return f.Path == tt.field }) {
					t.Errorf("problem lists %v, want the field %s", p.Errors, tt.field)
				}
			})
		}
		if n := e.documentCalls.Load() - before; n != 0 {
			t.Errorf("%d refused withdrawal(s) reached the treasury", n)
		}
		if n := e.withdrawalsAtTreasury(); n != 0 {
			t.Errorf("the treasury withdrew %d document(s)", n)
		}
		// The refusals were not stored: the genuine withdrawal still goes through.
		if a := e.withdraw(t, wfx(t, "chi-thuong-xuyen/withdrawal-xml"), "", ""); a.status != http.StatusAccepted {
			t.Fatalf("the genuine withdrawal after the refusals: %d %s", a.status, a.body)
		}
	})
}

// Every withdrawal fixture gets its expected answer once its procedure's valid dossiers were
// submitted; only the accepted ones withdraw a treasury document.
func TestWithdrawalFixturesEndToEnd(t *testing.T) {
	cases, err := fixture.LoadAll(filepath.Join(repo, "testdata/withdrawals"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 7 {
		t.Fatalf("only %d withdrawal fixtures", len(cases))
	}
	e := start(t)
	submitted := map[string]bool{}
	accepted := 0
	for _, c := range cases {
		if !submitted[c.Procedure] {
			for _, name := range []string{"valid-xml", "valid-json"} {
				if a := e.send(t, fx(t, c.Procedure+"/"+name), ""); a.status != http.StatusAccepted {
					t.Fatalf("submit %s/%s: %d %s", c.Procedure, name, a.status, a.body)
				}
			}
			submitted[c.Procedure] = true
		}
		t.Run(c.String(), func(t *testing.T) {
			a := e.withdraw(t, c, "", "")
			if a.status != c.Expect.Status {
				t.Fatalf("status %d, want %d: %s", a.status, c.Expect.Status, a.body)
			}
			if a.status == http.StatusAccepted {
				accepted++
				code, _ := c.DossierCode()
				if d := e.simDocument(t, code); d.Withdrawal == nil {
					t.Errorf("accepted, but the treasury did not withdraw %s", code)
				}
				return
			}
			if p := problemOf(t, a); p.Code != c.Expect.Code {
				t.Fatalf("code %s, want %s: %s", p.Code, c.Expect.Code, a.body)
			}
		})
	}
	if n := e.withdrawalsAtTreasury(); n != accepted || accepted == 0 {
		t.Errorf("the treasury withdrew %d documents, %d withdrawals were accepted", n, accepted)
	}
}

// gateTransport holds the treasury's withdrawal calls until released.
type gateTransport struct {
	entered chan struct{}
	release chan struct{}
}

func (g *gateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/withdrawal") {
		g.entered <- struct{}{}
		<-g.release
	}
	return http.DefaultTransport.RoundTrip(r)
}

// While a withdrawal is at the treasury, the same withdrawal is 409 request-in-progress;
// afterwards it is the stored answer. Another content under the same key is 422
// idempotency-key-reused. The treasury saw one withdrawal call.
func TestWithdrawalIdempotency(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			gate := &gateTransport{entered: make(chan struct{}, 1), release: make(chan struct{})}
			e := startOpts(t, func(c *config.Config) { st.edit(t, c) }, Options{HTTPClient: &http.Client{Transport: gate}})
			for _, name := range []string{"tai-khoan/valid-xml", "tai-khoan/valid-json"} {
				if a := e.send(t, fx(t, name), ""); a.status != http.StatusAccepted {
					t.Fatalf("submit %s: %d %s", name, a.status, a.body)
				}
			}
			w := wfx(t, "tai-khoan/withdrawal-xml")
			var first answer
			var firstErr error
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				first, firstErr = e.tryWithdraw(w, "unit-req-1", "")
			}()
			<-gate.entered
			busy := e.withdraw(t, w, "unit-req-1", "")
			close(gate.release)
			wg.Wait()
			if firstErr != nil {
				t.Fatal(firstErr)
			}
			if busy.status != http.StatusConflict || busy.code() != "request-in-progress" || busy.header.Get("Retry-After") == "" {
				t.Fatalf("while in progress: %d %v %s", busy.status, busy.header, busy.body)
			}
			if first.status != http.StatusAccepted {
				t.Fatalf("first: %d %s", first.status, first.body)
			}
			again := e.withdraw(t, w, "unit-req-1", "")
			if again.status != http.StatusAccepted || !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("after completion: %d %s", again.status, again.body)
			}
			other := e.withdraw(t, wfx(t, "tai-khoan/withdrawal-json"), "unit-req-1", "")
			if other.status != http.StatusUnprocessableEntity || other.code() != "idempotency-key-reused" {
				t.Fatalf("other content under the same key: %d %s", other.status, other.body)
			}
			code, _ := w.DossierCode()
			if d := e.simDocument(t, code); d.Withdrawal == nil || d.Withdrawal.Replays != 0 {
				t.Fatalf("the treasury's withdrawal %+v, want one call", d.Withdrawal)
			}
			jsonCode, _ := wfx(t, "tai-khoan/withdrawal-json").DossierCode()
			if d := e.simDocument(t, jsonCode); d.Withdrawal != nil {
				t.Fatal("the refused withdrawal reached the treasury")
			}
		})
	}
}

// A treasury outage is 503 with Retry-After and is not stored: once the treasury is back, the
// same withdrawal goes through.
func TestWithdrawalTreasuryDown(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		if a := e.send(t, fx(t, "cam-ket-chi/valid-json"), ""); a.status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", a.status, a.body)
		}
		w := wfx(t, "cam-ket-chi/withdrawal-json")
		e.treasuryDown.Store(true)
		a := e.withdraw(t, w, "", "")
		if a.status != http.StatusServiceUnavailable || a.code() != "treasury-unavailable" || a.header.Get("Retry-After") == "" {
			t.Fatalf("outage: %d %v %s", a.status, a.header, a.body)
		}
		e.treasuryDown.Store(false)
		if a := e.withdraw(t, w, "", ""); a.status != http.StatusAccepted || a.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("after recovery: %d %s", a.status, a.body)
		}
		if n := e.withdrawalsAtTreasury(); n != 1 {
			t.Fatalf("%d withdrawals at the treasury, want 1", n)
		}
	})
}

// A withdrawal whose caller gives up while the treasury call is on its way
// is not cut short with it: the treasury applies it, and the adapter
// records it in the dossier's history, for the caller's retry to replay.
func TestWithdrawalOutlivesItsCaller(t *testing.T) {
	forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
		proc, code := e.submit(t, "chi-thuong-xuyen/valid-xml")
		e.clock.Advance(time.Minute)
		e.tick(t) // ACCEPTED
		e.drain(t)

		e.sim.SetFaults(treasurysim.Faults{Latency: 300 * time.Millisecond})
		req, err := wfx(t, "chi-thuong-xuyen/withdrawal-xml").WithdrawalRequest(e.adapter.URL)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		before := e.documentCalls.Load()
		done := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req.WithContext(ctx))
			if err == nil {
				_ = resp.Body.Close()
			}
			done <- err
		}()
		deadline := time.Now().Add(5 * time.Second)
		for e.documentCalls.Load() == before { // the call reached the treasury, which waits
			if time.Now().After(deadline) {
				t.Fatal("the withdrawal never reached the treasury")
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err == nil {
			t.Fatal("the caller did not give up")
		}
		for e.simDocument(t, code).Status != treasurysim.StatusWithdrawn {
			if time.Now().After(deadline) {
				t.Fatalf("the treasury never got the withdrawal whose caller left: %+v", e.simDocument(t, code))
			}
			time.Sleep(20 * time.Millisecond)
		}
		for {
			rec := e.view(t, proc, code)
			if last := rec.History[len(rec.History)-1]; last.TrangThai == 7 && last.Source == "adapter" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the withdrawal is not in the dossier's history: %+v", rec.History)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
