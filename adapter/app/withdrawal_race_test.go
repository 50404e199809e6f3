package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/testkit/clock"
	"github.com/kbnn/dvc/adapter/testkit/fixture"
)

// armedGate holds the next treasury call whose path ends with suffix, once
// armed, until released.
type armedGate struct {
	suffix  atomic.Value // string
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newArmedGate() *armedGate {
	return &armedGate{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (g *armedGate) arm(suffix string) { g.suffix.Store(suffix); g.armed.Store(true) }

func (g *armedGate) RoundTrip(r *http.Request) (*http.Response, error) {
	if s, _ := g.suffix.Load().(string); r.Method == http.MethodPost && s != "" &&
		strings.HasSuffix(r.URL.Path, s) && g.armed.CompareAndSwap(true, false) {
		g.entered <- struct{}{}
		<-g.release
	}
	return http.DefaultTransport.RoundTrip(r)
}

// correctionAsked submits chi-thuong-xuyen/valid-xml and has the treasury ask
// for a correction (national status 5): the dossier waits for supplement 1.
func correctionAsked(t *testing.T, e *statusEnv) (procedure, code string) {
	t.Helper()
	procedure, code = e.submit(t, "chi-thuong-xuyen/valid-xml")
	e.clock.Advance(time.Minute)
	e.sendStatus(t, code, treasurysim.StatusProcessing)
	e.sendStatus(t, code, treasurysim.StatusCorrectionRequired)
	e.drain(t)
	if rec := e.view(t, procedure, code); rec.TrangThai != 5 {
		t.Fatalf("status %d, want 5", rec.TrangThai)
	}
	return procedure, code
}

// supplement is supplement soBoSung of dossier code, signed by the unit.
func supplement(t *testing.T, procedure, code string, soBoSung int) fixture.Case {
	t.Helper()
	c := fx(t, procedure+"/valid-xml")
	c.Body = signedSupplement(t, procedure, code, soBoSung)
	return c
}

// A withdrawal and a supplement of one dossier never reach the treasury
// together: while the withdrawal is at the treasury the supplement is 409
// request-in-progress with Retry-After, and once the treasury accepted the
// withdrawal, the supplement is 409 dossier-withdrawn. The treasury holds no
// supplement document.
func TestSupplementWhileWithdrawing(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			gate := newArmedGate()
			e := startStatusOpts(t, Options{HTTPClient: &http.Client{Transport: gate}}, func(c *config.Config) { st.edit(t, c) })
			proc, code := correctionAsked(t, e)
			docs := len(e.sim.Documents())

			gate.arm("/withdrawal")
			done := make(chan answer, 1)
			w := wfx(t, "chi-thuong-xuyen/withdrawal-xml")
			go func() {
				a, err := e.tryWithdraw(w, "", "")
				if err != nil {
					t.Error(err)
				}
				done <- a
			}()
			<-gate.entered
			busy, err := e.trySend(supplement(t, proc, code, 1), "supplement-busy", "")
			close(gate.release)
			wa := <-done
			if err != nil {
				t.Fatal(err)
			}
			if busy.status != http.StatusConflict || busy.code() != "request-in-progress" || busy.header.Get("Retry-After") == "" {
				t.Fatalf("supplement while withdrawing: %d %v %s", busy.status, busy.header, busy.body)
			}
			if wa.status != http.StatusAccepted {
				t.Fatalf("withdrawal: %d %s", wa.status, wa.body)
			}
			after, err := e.trySend(supplement(t, proc, code, 1), "supplement-after", "")
			if err != nil {
				t.Fatal(err)
			}
			if after.status != http.StatusConflict || after.code() != "dossier-withdrawn" {
				t.Fatalf("supplement after the withdrawal: %d %s", after.status, after.body)
			}
			if n := len(e.sim.Documents()) - docs; n != 0 {
				t.Fatalf("%d supplement documents reached the treasury", n)
			}
		})
	}
}

// The other way round: while a supplement is at the treasury, a withdrawal
// of the dossier is 409 request-in-progress; once the supplement is
// registered, the withdrawal naming the old supplement is refused (it no
// longer names the dossier's latest submission) and reaches nothing.
func TestWithdrawingWhileSupplementing(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			gate := newArmedGate()
			e := startStatusOpts(t, Options{HTTPClient: &http.Client{Transport: gate}}, func(c *config.Config) { st.edit(t, c) })
			proc, code := correctionAsked(t, e)

			gate.arm("/documents")
			done := make(chan answer, 1)
			sup1 := supplement(t, proc, code, 1)
			go func() {
				a, err := e.trySend(sup1, "supplement-held", "")
				if err != nil {
					t.Error(err)
				}
				done <- a
			}()
			<-gate.entered
			w := wfx(t, "chi-thuong-xuyen/withdrawal-xml")
			busy, err := e.tryWithdraw(w, "", "")
			close(gate.release)
			sup := <-done
			if err != nil {
				t.Fatal(err)
			}
			if busy.status != http.StatusConflict || busy.code() != "request-in-progress" || busy.header.Get("Retry-After") == "" {
				t.Fatalf("withdrawal while supplementing: %d %v %s", busy.status, busy.header, busy.body)
			}
			if sup.status != http.StatusAccepted {
				t.Fatalf("supplement: %d %s", sup.status, sup.body)
			}
			stale := e.withdraw(t, w, "", "")
			if stale.status != http.StatusUnprocessableEntity || stale.code() != "schema-violation" || !strings.Contains(string(stale.body), "/soBoSung") {
				t.Fatalf("withdrawal of the old supplement: %d %s", stale.status, stale.body)
			}
			if n := e.withdrawalsAtTreasury(); n != 0 {
				t.Fatalf("%d withdrawals reached the treasury", n)
			}
		})
	}
}

// A signed withdrawal is usable only near its request date: one dated more
// than withdrawal.maxAgeDays before the receipt day, or after it, is 422
// schema-violation naming /ngayYeuCau and reaches nothing; the same
// withdrawal dated the receipt day goes through.
func TestWithdrawalRequestDate(t *testing.T) {
	e := startClocked(t, func(c *config.Config) { c.Withdrawal.MaxAgeDays = 30 }, clock.New(receipt))
	const proc = "chi-thuong-xuyen"
	c := fx(t, proc+"/valid-json")
	if a := e.send(t, c, ""); a.status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", a.status, a.body)
	}
	code, _ := c.DossierCode()
	path := "/v1/procedures/" + proc + "/dossiers/" + code + "/withdrawal"
	dated := func(day string) answer {
		body, jws := signedWithdrawal(t, proc, "chu-tai-khoan", func(v map[string]any) {
			v["maHoSo"], v["ngayYeuCau"] = code, day
		})
		return e.postAs(t, "dev-portal-token", path, body, jws)
	}
	today := receipt.In(time.FixedZone("ICT", 7*3600))
	for _, day := range []time.Time{today.AddDate(0, 0, -31), today.AddDate(0, -6, 0), today.AddDate(0, 0, 1)} {
		a := dated(day.Format(time.DateOnly))
		if a.status != http.StatusUnprocessableEntity || a.code() != "schema-violation" || !strings.Contains(string(a.body), `"/ngayYeuCau"`) {
			t.Fatalf("withdrawal dated %s: %d %s", day.Format(time.DateOnly), a.status, a.body)
		}
	}
	if n := e.withdrawalsAtTreasury(); n != 0 {
		t.Fatalf("%d stale withdrawals reached the treasury", n)
	}
	if a := dated(today.AddDate(0, 0, -30).Format(time.DateOnly)); a.status != http.StatusAccepted {
		t.Fatalf("withdrawal dated 30 days before: %d %s", a.status, a.body)
	}
}

// losingTransport loses the answer of every treasury POST whose path ends
// with suffix, while armed, after the treasury took it (the adapter's own
// retries of the call included); with before set, the request is lost
// instead, before it reaches the treasury.
type losingTransport struct {
	suffix atomic.Value // string
	armed  atomic.Bool
	before bool
}

func (l *losingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	s, _ := l.suffix.Load().(string)
	hit := r.Method == http.MethodPost && s != "" && strings.HasSuffix(r.URL.Path, s) && l.armed.Load()
	if hit && l.before {
		return nil, errAnswerLost
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && hit {
		_ = resp.Body.Close()
		return nil, errAnswerLost
	}
	return resp, err
}

var errAnswerLost = errors.New("connection reset: the answer was lost")

// A supplement whose answer was lost is at the treasury without the
// dossier's record knowing it: a withdrawal naming the supplement before it
// would withdraw the replaced document and leave the new one live and
// payable. It reaches nothing, the record learns the supplement from the
// treasury, and the withdrawal is told to name it (422 /soBoSung, as one
// naming a replaced supplement); one naming it then goes through, and the
// supplement's own retry still gets its 202.
func TestWithdrawingAfterASupplementsAnswerWasLost(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			lose := &losingTransport{}
			e := startStatusOpts(t, Options{HTTPClient: &http.Client{Transport: lose}}, func(c *config.Config) { st.edit(t, c) }, shortDeadlines)
			proc, code := correctionAsked(t, e)
			sup := supplement(t, proc, code, 1)
			lose.suffix.Store("/documents")
			lose.armed.Store(true)
			if a := e.send(t, sup, "sup-1"); a.status == http.StatusAccepted {
				t.Fatalf("supplement with its answer lost: %d %s", a.status, a.body)
			}
			lose.armed.Store(false)
			if n := len(e.sim.Documents()); n != 2 {
				t.Fatalf("%d documents at the treasury, want the dossier's and its supplement's", n)
			}

			w := wfx(t, "chi-thuong-xuyen/withdrawal-xml")
			refused := e.withdraw(t, w, "", "")
			if refused.status != http.StatusUnprocessableEntity || !strings.Contains(string(refused.body), "must be 1") {
				t.Fatalf("withdrawal with supplement 1 at the treasury: %d %s", refused.status, refused.body)
			}
			if n := e.withdrawalsAtTreasury(); n != 0 {
				t.Fatalf("%d withdrawals reached the treasury", n)
			}
			if v := e.view(t, proc, code); v.SoBoSung != 1 || v.TreasuryDocumentID == "" {
				t.Fatalf("the record after the look-up: soBoSung %d, document %q", v.SoBoSung, v.TreasuryDocumentID)
			}

			body, jws := signedWithdrawal(t, proc, "chu-tai-khoan", func(m map[string]any) { m["maHoSo"], m["soBoSung"] = code, 1 })
			if a := e.postAs(t, "dev-portal-token", "/v1/procedures/"+proc+"/dossiers/"+code+"/withdrawal", body, jws); a.status != http.StatusAccepted {
				t.Fatalf("withdrawal naming supplement 1: %d %s", a.status, a.body)
			}
			if a := e.send(t, sup, "sup-1"); a.status != http.StatusAccepted {
				t.Fatalf("supplement retried: %d %s", a.status, a.body)
			}
			if v := e.view(t, proc, code); len(v.Attachments) == 0 {
				t.Errorf("the supplement's retry did not record its files: %+v", v.Attachments)
			}
			live := 0
			for _, d := range e.sim.Documents() {
				if d.DossierCode == code && d.Withdrawal == nil && d.SupplementNo == 1 {
					live++
				}
			}
			if live != 0 {
				t.Fatalf("supplement 1 is live at the treasury after its withdrawal")
			}
		})
	}
}

// A withdrawal whose answer was lost may have been applied: the dossier's
// record marks it (withdrawalPending), and a supplement first asks the
// treasury what became of it. Withdrawn: the supplement is 409
// dossier-withdrawn and reaches nothing, instead of becoming a live,
// payable document of a withdrawn dossier. Not withdrawn (the request never
// reached the treasury): the mark is cleared and the supplement goes.
func TestSupplementAfterAWithdrawalsAnswerWasLost(t *testing.T) {
	for _, st := range stores {
		for _, reached := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/reached %v", st.name, reached), func(t *testing.T) {
				lose := &losingTransport{before: !reached}
				e := startStatusOpts(t, Options{HTTPClient: &http.Client{Transport: lose}}, func(c *config.Config) { st.edit(t, c) }, shortDeadlines)
				proc, code := correctionAsked(t, e)
				docs := len(e.sim.Documents())
				w := wfx(t, "chi-thuong-xuyen/withdrawal-xml")
				lose.suffix.Store("/withdrawal")
				lose.armed.Store(true)
				if a := e.withdraw(t, w, "", ""); a.status == http.StatusAccepted {
					t.Fatalf("withdrawal with its answer lost: %d %s", a.status, a.body)
				}
				lose.armed.Store(false)
				if pending := e.view(t, proc, code).WithdrawalPending; pending == "" {
					t.Fatal("the withdrawal whose answer was lost is not marked pending")
				}
				// The treasury cannot be asked: nothing goes, the mark stays.
				e.sim.SetFaults(treasurysim.Faults{Outage: true})
				if a := e.send(t, supplement(t, proc, code, 1), "sup-1"); a.status != http.StatusServiceUnavailable {
					t.Fatalf("supplement while the treasury cannot be asked: %d %s", a.status, a.body)
				}
				e.sim.SetFaults(treasurysim.Faults{})
				if n := len(e.sim.Documents()) - docs; n != 0 || e.view(t, proc, code).WithdrawalPending == "" {
					t.Fatalf("after the failed look-up: %d new documents, pending %q", n, e.view(t, proc, code).WithdrawalPending)
				}
				sup := e.send(t, supplement(t, proc, code, 1), "sup-1")
				if !reached {
					if sup.status != http.StatusAccepted {
						t.Fatalf("supplement after a withdrawal that never reached the treasury: %d %s", sup.status, sup.body)
					}
					if v := e.view(t, proc, code); v.WithdrawalPending != "" || v.SoBoSung != 1 {
						t.Fatalf("after the supplement: pending %q, soBoSung %d", v.WithdrawalPending, v.SoBoSung)
					}
					return
				}
				if sup.status != http.StatusConflict || sup.code() != "dossier-withdrawn" {
					t.Fatalf("supplement after a withdrawal the treasury applied: %d %s", sup.status, sup.body)
				}
				if n := len(e.sim.Documents()) - docs; n != 0 {
					t.Fatalf("%d supplement documents reached the treasury", n)
				}
				if v := e.view(t, proc, code); v.WithdrawalPending != "" {
					t.Fatalf("still pending after the treasury said: %q", v.WithdrawalPending)
				}
				if a := e.withdraw(t, w, "", ""); a.status != http.StatusAccepted {
					t.Fatalf("withdrawal retried: %d %s", a.status, a.body)
				}
				if n := e.withdrawalsAtTreasury(); n != 1 {
					t.Fatalf("%d withdrawals at the treasury, want 1", n)
				}
			})
		}
	}
}

// stallingTransport, while armed, answers a treasury POST whose path ends
// with suffix with a transport error at once, and delivers the request
// itself only when land is called: a treasury that was slow, the very
// reason an answer is lost.
type stallingTransport struct {
	suffix  string
	armed   atomic.Bool
	mu      sync.Mutex
	pending []*http.Request
}

func (s *stallingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, s.suffix) && s.armed.Load() {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		late := r.Clone(context.Background())
		late.Body, late.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		s.mu.Lock()
		s.pending = append(s.pending, late)
		s.mu.Unlock()
		return nil, errAnswerLost
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (s *stallingTransport) land(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.pending {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	s.pending = nil
}

// A supplement whose send ended without an answer, and that reaches the
// treasury only later, is not yet there when the unit withdraws the
// dossier: the look-up finds nothing. The withdrawal is then 409
// request-in-progress (Retry-After) until the supplement's claim's lease
// ends, and reaches nothing; once the supplement has landed, the
// withdrawal is told to name it. No withdrawal is ever 202 while the
// supplement it leaves behind is live. A supplement that never lands lets
// the withdrawal go once the lease has passed.
func TestWithdrawingWhileASupplementMayStillLand(t *testing.T) {
	for _, st := range stores {
		for _, lands := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/lands %v", st.name, lands), func(t *testing.T) {
				tr := &stallingTransport{suffix: "/documents"}
				e := startStatusOpts(t, Options{HTTPClient: &http.Client{Transport: tr}}, func(c *config.Config) { st.edit(t, c) }, shortDeadlines)
				proc, code := correctionAsked(t, e)
				sup := supplement(t, proc, code, 1)
				tr.armed.Store(true)
				if a := e.send(t, sup, "sup-1"); a.status == http.StatusAccepted {
					t.Fatalf("supplement with its request stalled: %d %s", a.status, a.body)
				}
				tr.armed.Store(false)
				if v := e.view(t, proc, code); v.SupplementInFlight == nil || v.SupplementInFlight.SoBoSung != 1 {
					t.Fatalf("the record does not mark supplement 1 in flight: %+v", v.SupplementInFlight)
				}

				w := wfx(t, "chi-thuong-xuyen/withdrawal-xml")
				busy := e.withdraw(t, w, "", "")
				if busy.status != http.StatusConflict || busy.code() != "request-in-progress" || busy.header.Get("Retry-After") == "" {
					t.Fatalf("withdrawal while supplement 1 may still land: %d %v %s", busy.status, busy.header, busy.body)
				}
				if n := e.withdrawalsAtTreasury(); n != 0 {
					t.Fatalf("%d withdrawals reached the treasury", n)
				}

				if !lands {
					e.clock.Advance(4 * time.Second) // past the lease (3 s)
					if a := e.withdraw(t, w, "", ""); a.status != http.StatusAccepted {
						t.Fatalf("withdrawal once the lease has passed: %d %s", a.status, a.body)
					}
					return
				}
				tr.land(t)
				if a := e.withdraw(t, w, "", ""); a.status != http.StatusUnprocessableEntity || !strings.Contains(string(a.body), "must be 1") {
					t.Fatalf("withdrawal with supplement 1 landed: %d %s", a.status, a.body)
				}
				if a := e.send(t, sup, "sup-1"); a.status != http.StatusAccepted {
					t.Fatalf("supplement retried: %d %s", a.status, a.body)
				}
				if n := e.withdrawalsAtTreasury(); n != 0 {
					t.Fatalf("%d withdrawals reached the treasury", n)
				}
				if v := e.view(t, proc, code); v.SoBoSung != 1 || v.SupplementInFlight != nil {
					t.Fatalf("the record after the supplement: soBoSung %d, in flight %+v", v.SoBoSung, v.SupplementInFlight)
				}
			})
		}
	}
}
