package replay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/fixture"
	"github.com/kbnn/dvc/adapter/testkit/wirecount"
)

func TestRunJudgesEachAnswer(t *testing.T) {
	t.Parallel()
	accepted := fixture.Expect{Status: 202}
	sigInvalid := fixture.Expect{Status: 400, Code: "signature-invalid"}
	tests := []struct {
		name, answer string
		exp          fixture.Expect
		wantStatus   int
		wantCode     string
		wantFailure  string // substring; "" = pass
	}{
		{name: "accepted", answer: "202", exp: accepted, wantStatus: 202},
		{name: "rejected as expected", answer: "400 signature-invalid", exp: sigInvalid, wantStatus: 400, wantCode: "signature-invalid"},
		{name: "wrong code", answer: "400 certificate-expired", exp: sigInvalid, wantStatus: 400, wantCode: "certificate-expired", wantFailure: `code "certificate-expired", want "signature-invalid"`},
		{name: "wrong status", answer: "400 signature-invalid", exp: accepted, wantStatus: 400, wantCode: "signature-invalid", wantFailure: "status 400, want 202"},
		{name: "code not expected is not compared", answer: "401 unauthorized", exp: fixture.Expect{Status: 401}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "code outside problem+json is not read", answer: "400 signature-invalid json", exp: sigInvalid, wantStatus: 400, wantFailure: `code "", want "signature-invalid"`},
		{name: "unreadable problem body", answer: "400 garbage", exp: fixture.Expect{Status: 400}, wantStatus: 400, wantFailure: "problem body"},
		{name: "redirect is an answer", answer: "307", exp: fixture.Expect{Status: 307}, wantStatus: 307},
	}
	for _, concurrency := range []int{1, 4} {
		adapter, srv := startAdapter(t)
		var cases []fixture.Case
		for _, tt := range tests {
			cases = append(cases, newCase("chi-thuong-xuyen", strings.ReplaceAll(tt.name, " ", "-"), tt.answer, tt.exp))
		}
		var (
			mu       sync.Mutex
			progress []string
		)
		results, err := Run(t.Context(), cases, Options{
			BaseURL:     srv.URL,
			Concurrency: concurrency,
			Repeat:      2,
			Progress: func(c fixture.Case, a Attempt) {
				mu.Lock() // must already be serial; the lock makes -race see it
				defer mu.Unlock()
				progress = append(progress, c.Name)
			},
		})
		if err != nil {
			t.Fatalf("concurrency %d: Run() error = %v", concurrency, err)
		}
		if len(results) != len(tests) || len(progress) != 2*len(tests) || len(adapter.received()) != 2*len(tests) {
			t.Fatalf("concurrency %d: %d results, %d progress calls, %d requests", concurrency, len(results), len(progress), len(adapter.received()))
		}
		for i, tt := range tests {
			r := results[i]
			if r.Case.Name != cases[i].Name || len(r.Attempts) != 2 {
				t.Fatalf("result %d = %s with %d attempts", i, r.Case.Name, len(r.Attempts))
			}
			for round, a := range r.Attempts {
				if a.Round != round+1 || a.Status != tt.wantStatus || a.Code != tt.wantCode {
					t.Errorf("%s (c=%d) attempt %d: round %d status %d code %q; want status %d code %q",
						tt.name, concurrency, round+1, a.Round, a.Status, a.Code, tt.wantStatus, tt.wantCode)
				}
				if (tt.wantFailure == "") != a.Passed() || !strings.Contains(a.Failure, tt.wantFailure) {
					t.Errorf("%s (c=%d): failure %q, want %q", tt.name, concurrency, a.Failure, tt.wantFailure)
				}
			}
			if r.Passed() != (tt.wantFailure == "") {
				t.Errorf("%s: Passed() = %v", tt.name, r.Passed())
			}
		}
	}
}

func TestRunSendsRoundByRound(t *testing.T) {
	t.Parallel()
	adapter, srv := startAdapter(t)
	cases := []fixture.Case{
		newCase("tai-khoan", "a", "202", fixture.Expect{Status: 202}),
		newCase("von-dau-tu", "b", "202", fixture.Expect{Status: 202}),
	}
	if _, err := Run(t.Context(), cases, Options{BaseURL: srv.URL + "/", Repeat: 3}); err != nil {
		t.Fatal(err)
	}
	want := []string{"tai-khoan/HS-a", "von-dau-tu/HS-b", "tai-khoan/HS-a", "von-dau-tu/HS-b", "tai-khoan/HS-a", "von-dau-tu/HS-b"}
	if got := adapter.received(); !reflect.DeepEqual(got, want) {
		t.Fatalf("requests = %v, want %v", got, want)
	}
}

// TestRunConcurrency holds every request until `concurrency` of them are in
// flight together, and checks that never more are.
func TestRunConcurrency(t *testing.T) {
	t.Parallel()
	for _, concurrency := range []int{2, 3} {
		var (
			mu          sync.Mutex
			inFlight    int
			maxInFlight int
			arrived     int
			release     = make(chan struct{})
		)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inFlight++
			arrived++
			maxInFlight = max(maxInFlight, inFlight)
			if arrived == concurrency {
				close(release)
			}
			mu.Unlock()
			status := http.StatusAccepted
			select {
			case <-release:
			case <-time.After(10 * time.Second):
				status = http.StatusServiceUnavailable // requests were not concurrent
			}
			mu.Lock()
			inFlight--
			mu.Unlock()
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		cases := make([]fixture.Case, 3*concurrency)
		for i := range cases {
			cases[i] = newCase("cam-ket-chi", string(rune('a'+i)), "202", fixture.Expect{Status: 202})
		}
		results, err := Run(t.Context(), cases, Options{BaseURL: srv.URL, Concurrency: concurrency})
		if err != nil {
			t.Fatal(err)
		}
		if got := Count(results); got.Failed != 0 {
			t.Errorf("concurrency %d: %d failed: requests were not sent together", concurrency, got.Failed)
		}
		if maxInFlight != concurrency {
			t.Errorf("concurrency %d: %d requests in flight at most", concurrency, maxInFlight)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func answer202(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 202, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
}

// TestRunRate runs in a synctest bubble: its clock moves only when every
// goroutine waits, so the elapsed time is exactly the pacing.
func TestRunRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                       string
		rate                       float64
		cases, repeat, concurrency int
		want                       time.Duration
	}{
		{name: "unlimited", rate: 0, cases: 5, repeat: 1, concurrency: 1, want: 0},
		{name: "10 per second", rate: 10, cases: 5, repeat: 1, concurrency: 1, want: 400 * time.Millisecond},
		{name: "rate is shared by workers", rate: 10, cases: 5, repeat: 1, concurrency: 4, want: 400 * time.Millisecond},
		{name: "repeats are paced too", rate: 2, cases: 2, repeat: 2, concurrency: 2, want: 1500 * time.Millisecond},
		{name: "fractional rate", rate: 0.5, cases: 2, repeat: 1, concurrency: 1, want: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				cases := make([]fixture.Case, tt.cases)
				for i := range cases {
					cases[i] = newCase("p", string(rune('a'+i)), "202", fixture.Expect{Status: 202})
				}
				start := time.Now()
				results, err := Run(t.Context(), cases, Options{
					BaseURL: "http://adapter.test", Rate: tt.rate, Repeat: tt.repeat, Concurrency: tt.concurrency,
					Client: &http.Client{Transport: roundTripFunc(answer202)},
				})
				if err != nil {
					t.Fatal(err)
				}
				if got := time.Since(start); got != tt.want {
					t.Errorf("run took %v, want %v", got, tt.want)
				}
				if c := Count(results); c.Passed != tt.cases {
					t.Errorf("passed %d of %d", c.Passed, tt.cases)
				}
			})
		})
	}
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		hang := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done()
			return nil, r.Context().Err()
		})
		cases := []fixture.Case{newCase("p", "slow", "202", fixture.Expect{Status: 202})}
		results, err := Run(t.Context(), cases, Options{
			BaseURL: "http://adapter.test", Timeout: 2 * time.Second, Client: &http.Client{Transport: hang},
		})
		if err != nil {
			t.Fatal(err)
		}
		a := results[0].Attempts[0]
		if !errors.Is(a.Err, context.DeadlineExceeded) || a.Passed() || a.Duration != 2*time.Second {
			t.Fatalf("attempt = %+v, want a failed 2s deadline", a)
		}
	})
}

func TestRunCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	cases := []fixture.Case{newCase("p", "a", "202", fixture.Expect{Status: 202})}
	results, err := Run(ctx, cases, Options{BaseURL: "http://127.0.0.1:1"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run() error = %v, want canceled", err)
	}
	if len(results) != 1 || results[0].Passed() || len(results[0].Attempts) != 0 {
		t.Fatalf("results = %+v, want one unsent, failed case", results)
	}
	if _, err := Run(t.Context(), cases, Options{}); err == nil {
		t.Fatal("Run() without base url: no error")
	}
}

func TestRunFakeClock(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		now = time.Date(2026, 6, 9, 8, 30, 0, 0, time.UTC)
	)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(12 * time.Millisecond)
		return now
	}
	_, srv := startAdapter(t)
	results, err := Run(t.Context(), []fixture.Case{newCase("p", "a", "202", fixture.Expect{Status: 202})},
		Options{BaseURL: srv.URL, Now: clock, Repeat: 2})
	if err != nil {
		t.Fatal(err)
	}
	if d := results[0].Duration(); d != 24*time.Millisecond {
		t.Fatalf("Duration() = %v, want 24ms", d)
	}
	if !slices.ContainsFunc(results[0].Attempts, func(a Attempt) bool { return a.Duration == 12*time.Millisecond }) {
		t.Fatalf("attempts = %+v", results[0].Attempts)
	}
}

// A business-rule case also names the rules the answer must list, in order.
func TestJudgeBrokenRules(t *testing.T) {
	exp := fixture.Expect{Status: 422, Code: "business-rule-violation", Rules: []string{"tong", "chu"}}
	for _, c := range []struct {
		rules []string
		want  string
	}{
		{[]string{"tong", "chu"}, ""},
		{[]string{"tong"}, "rules [tong], want [tong chu]"},
		{[]string{"chu", "tong"}, "rules [chu tong], want [tong chu]"},
		{nil, "rules [], want [tong chu]"},
	} {
		if got := judge(exp, Attempt{Status: 422, Code: "business-rule-violation", Rules: c.rules}); got != c.want {
			t.Errorf("rules %v: %q, want %q", c.rules, got, c.want)
		}
	}
	if got := judge(fixture.Expect{Status: 422, Code: "business-rule-violation"}, Attempt{Status: 422, Code: "business-rule-violation", Rules: []string{"x"}}); got != "" {
		t.Errorf("rules not expected are compared: %q", got)
	}
}

// NewClient sends a dossier of some KB in one write, head and body
// together: the load generator spends no more than it must, and the
// server reads the request as a portal that has the body at hand sends it.
func TestNewClientWritesADossierAtOnce(t *testing.T) {
	body := bytes.Repeat([]byte(`<dong><maNDKT>6501</maNDKT><soTien>1500000</soTien></dong>`), 20<<10/58)
	if n := wirecount.Post(t, NewClient(4), "application/xml", body); n != 1 {
		t.Errorf("a request of %d bytes took %d writes, want 1", len(body), n)
	}
}
