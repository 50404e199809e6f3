package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/testkit/fixture"
)

// logLines collects JSON log records written by the server's goroutines.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// outcomes returns the records about request id that carry a problem code.
func (l *logLines) outcomes(t *testing.T, id string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if _, coded := r["code"]; coded && r["request_id"] == id {
			out = append(out, r)
		}
	}
	return out
}

// holdGate holds the next submission at its "reserved" step once armed,
// until opened.
type holdGate struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *holdGate) hook(step string) {
	if step == "reserved" && g.armed.CompareAndSwap(true, false) {
		g.entered <- struct{}{}
		<-g.release
	}
}

func (g *holdGate) open() { g.once.Do(func() { close(g.release) }) }

// series names one dvc_submissions_total series.
type series struct{ procedure, outcome string }

// counterLine matches one series of a counter labelled by procedure and outcome.
func counterLine(name string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + name + `\{outcome="([^"]*)",procedure="([^"]*)"\} (\S+)$`)
}

var (
	submissionLine = counterLine("dvc_submissions_total")
	replayLine     = counterLine("dvc_submission_replays_total")
)

// submissions scrapes /metrics once and returns every dvc_submissions_total series.
func (e *env) submissions(t *testing.T) map[series]float64 {
	t.Helper()
	return e.counter(t, submissionLine)
}

// replays scrapes /metrics once and returns every dvc_submission_replays_total series.
func (e *env) replays(t *testing.T) map[series]float64 {
	t.Helper()
	return e.counter(t, replayLine)
}

// counter scrapes /metrics once and returns the series line matches.
func (e *env) counter(t *testing.T, line *regexp.Regexp) map[series]float64 {
	t.Helper()
	resp, err := http.Get(e.adminSrv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	out := map[series]float64{}
	for _, m := range line.FindAllStringSubmatch(string(body), -1) {
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatal(err)
		}
		out[series{procedure: m[2], outcome: m[1]}] = v
	}
	return out
}

// trySend sends c under request id and idempotency key (none if empty).
func (e *env) trySend(c fixture.Case, id, key string) (answer, error) {
	req, err := c.Request(e.adapter.URL)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("X-Request-Id", id)
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

// Every fresh answer to a submission is counted once in
// dvc_submissions_total under its problem code (or accepted), every answer
// replayed from the idempotency store once in dvc_submission_replays_total
// and not again in dvc_submissions_total (a replay must not inflate the
// accepted rate), and every refusal is logged exactly once with its code,
// whether the error handler rendered it or the intake did (a treasury
// refusal, fresh or replayed).
func TestEveryOutcomeLoggedOnceAndCounted(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			log := &logLines{}
			gate := &holdGate{entered: make(chan struct{}), release: make(chan struct{})}
			e := startOpts(t, func(c *config.Config) {
				st.edit(t, c)
				c.Treasury.Resilience.Retries = -1
			}, Options{Log: slog.New(slog.NewJSONHandler(log, nil)), Hook: gate.hook})

			want, wantReplays := map[series]float64{}, map[series]float64{}
			var refusal []byte // the fresh treasury refusal, replayed later
			type result struct {
				a   answer
				err error
			}
			held := make(chan result, 1)
			steps := []struct {
				name, fixture, key string
				edit               func(*fixture.Case)
				before, after      func(t *testing.T)
				status             int
				code               string // "" for accepted
				replayed           bool
			}{
				{name: "malformed body", fixture: "chi-thuong-xuyen/malformed", status: 400, code: "malformed-body"},
				{name: "unsupported media type", fixture: "chi-thuong-xuyen/wrong-content-type", status: 415, code: "unsupported-media-type"},
				{name: "signature invalid", fixture: "chi-thuong-xuyen/tampered-json", status: 400, code: "signature-invalid"},
				{name: "schema violation", fixture: "chi-thuong-xuyen/schema-violation-json", status: 422, code: "schema-violation"},
				{name: "unauthorized", fixture: "chi-thuong-xuyen/no-credential", status: 401, code: "unauthorized"},
				{name: "unknown procedure", fixture: "chi-thuong-xuyen/valid-json", status: 404, code: "unknown-procedure",
					edit: func(c *fixture.Case) { c.Procedure = "chi-dau-tu" }},
				{name: "invalid idempotency key", fixture: "tai-khoan/valid-xml", key: strings.Repeat("k", 300), status: 400, code: "invalid-idempotency-key"},
				{name: "treasury refused", fixture: "tai-khoan/treasury-refusal", key: "k-refused", status: 422, code: "treasury-refused"},
				{name: "treasury refused replayed", fixture: "tai-khoan/treasury-refusal", key: "k-refused", status: 422, code: "treasury-refused", replayed: true},
				{name: "treasury unavailable", fixture: "von-dau-tu/valid-xml", status: 503, code: "treasury-unavailable",
					before: func(*testing.T) { e.sim.SetFaults(treasurysim.Faults{Outage: true}) },
					after:  func(*testing.T) { e.sim.SetFaults(treasurysim.Faults{}) }},
				{name: "accepted", fixture: "chi-thuong-xuyen/valid-xml", key: "k-shared", status: 202},
				{name: "accepted replayed", fixture: "chi-thuong-xuyen/valid-xml", key: "k-shared", status: 202, replayed: true},
				{name: "idempotency key reused", fixture: "chi-thuong-xuyen/valid-json", key: "k-shared", status: 422, code: "idempotency-key-reused"},
				{name: "dossier already submitted", fixture: "chi-thuong-xuyen/valid-xml", key: "k-other", status: 409, code: "dossier-already-submitted"},
				{name: "request in progress", fixture: "cam-ket-chi/valid-json", key: "k-hold", status: 409, code: "request-in-progress",
					before: func(t *testing.T) {
						c := fx(t, "cam-ket-chi/valid-json")
						t.Cleanup(gate.open) // never leave the held request blocked
						gate.armed.Store(true)
						go func() {
							a, err := e.trySend(c, st.name+"-held", "k-hold")
							held <- result{a, err}
						}()
						<-gate.entered
					},
					after: func(t *testing.T) {
						gate.open()
						if r := <-held; r.err != nil || r.a.status != 202 {
							t.Fatalf("held submission: %v %d %s", r.err, r.a.status, r.a.body)
						}
						want[series{"cam-ket-chi", "accepted"}]++
					}},
			}
			for i, s := range steps {
				id := fmt.Sprintf("%s-step-%02d", st.name, i)
				c := fx(t, s.fixture)
				if s.edit != nil {
					s.edit(&c)
				}
				if s.before != nil {
					s.before(t)
				}
				a, err := e.trySend(c, id, s.key)
				if s.after != nil {
					s.after(t)
				}
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if a.status != s.status || a.code() != s.code {
					t.Fatalf("%s: %d %s, want %d %s", s.name, a.status, a.body, s.status, s.code)
				}
				if got := a.header.Get("Idempotent-Replayed") == "true"; got != s.replayed {
					t.Fatalf("%s: replayed %v, want %v", s.name, got, s.replayed)
				}
				if s.code == "treasury-refused" && !s.replayed {
					refusal = a.body
				}
				if s.code == "treasury-refused" && s.replayed && !bytes.Equal(a.body, refusal) {
					t.Fatalf("%s: stored refusal not replayed byte for byte:\n%s\n%s", s.name, a.body, refusal)
				}

				label := c.Procedure
				if s.code == "unknown-procedure" {
					label = "" // only configured procedures become label values
				}
				outcome := s.code
				if outcome == "" {
					outcome = "accepted"
				}
				if s.replayed {
					wantReplays[series{label, outcome}]++
				} else {
					want[series{label, outcome}]++
				}
				if got := e.submissions(t)[series{label, outcome}]; got != want[series{label, outcome}] {
					t.Fatalf(`%s: dvc_submissions_total{procedure=%q,outcome=%q} = %v, want %v`, s.name, label, outcome, got, want[series{label, outcome}])
				}
				if got := e.replays(t)[series{label, outcome}]; got != wantReplays[series{label, outcome}] {
					t.Fatalf(`%s: dvc_submission_replays_total{procedure=%q,outcome=%q} = %v, want %v`, s.name, label, outcome, got, wantReplays[series{label, outcome}])
				}

				recs := log.outcomes(t, id)
				if s.code == "" {
					if len(recs) != 0 {
						t.Fatalf("%s: an acceptance was logged as an outcome: %v", s.name, recs)
					}
					continue
				}
				if len(recs) != 1 {
					t.Fatalf("%s: %d log records with a code for request %s, want 1: %v", s.name, len(recs), id, recs)
				}
				r := recs[0]
				msg := "request refused"
				if s.status >= 500 {
					msg = "request failed"
				}
				if r["msg"] != msg || r["code"] != s.code || r["status"] != float64(s.status) ||
					r["procedure"] != c.Procedure || r["path"] != "/v1/procedures/"+c.Procedure+"/dossiers" {
					t.Fatalf("%s: log record %v, want %q with code %s, status %d, procedure %s", s.name, r, msg, s.code, s.status, c.Procedure)
				}
				if replayed, _ := r["replayed"].(bool); replayed != s.replayed {
					t.Fatalf("%s: log record %v, want replayed %v", s.name, r, s.replayed)
				}
			}
			if got := e.submissions(t); !maps.Equal(got, want) {
				t.Fatalf("dvc_submissions_total:\n%v\nwant:\n%v", got, want)
			}
			if got := e.replays(t); !maps.Equal(got, wantReplays) {
				t.Fatalf("dvc_submission_replays_total:\n%v\nwant:\n%v", got, wantReplays)
			}
		})
	}
}
