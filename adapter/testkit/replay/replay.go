// Package replay sends fixture cases (package fixture) to a running adapter
// and judges each answer against the case's expectation; it also checks the
// treasury simulator's documents against the answers and writes the console
// and JUnit reports. It owns the logic of cmd/dvc-replay.
package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/fixture"
)

// maxProblemBody bounds how much of a problem+json answer is read.
const maxProblemBody = 1 << 20

// Options tune a run. The zero value sends each case once, one at a time,
// as fast as the adapter answers, with no per-request timeout.
type Options struct {
	// BaseURL of the adapter, e.g. "http://127.0.0.1:8080". Required.
	BaseURL string
	// Concurrency is the number of requests in flight; zero means 1.
	Concurrency int
	// Repeat is how many times each case is sent; zero means 1. All cases
	// are sent once, then all again, and so on.
	Repeat int
	// Rate caps requests per second over all workers; zero means unlimited.
	Rate float64
	// Timeout bounds each request, answer body included; zero means none.
	Timeout time.Duration
	// Client sends the requests; nil means a client that does not follow
	// redirects.
	Client *http.Client
	// Now reads the clock for durations; nil means time.Now.
	Now func() time.Time
	// Progress, if set, is called once per finished attempt, never
	// concurrently, in completion order.
	Progress func(fixture.Case, Attempt)
}

// Attempt is one send of a case.
type Attempt struct {
	Round    int           // 1-based repetition number
	Status   int           // HTTP status; 0 when there was no answer
	Code     string        // problem+json "code"; "" when none
	Rules    []string      // ids of the broken business rules listed, each once; nil when none
	Duration time.Duration // request sent to answer body read
	Err      error         // no usable answer (transport, timeout, unreadable problem body)
	Failure  string        // why the attempt does not match; "" when it does
}

// Passed reports whether the answer matched the expectation.
func (a Attempt) Passed() bool { return a.Failure == "" }

// Result is the outcome of one case over all its attempts.
type Result struct {
	Case     fixture.Case
	Attempts []Attempt // in round order; fewer than Repeat when the run was cut short
	Failures []string  // case-level failures found after the run (treasury check)
}

// Passed reports whether the case was sent and every attempt and check passed.
func (r Result) Passed() bool {
	if len(r.Attempts) == 0 || len(r.Failures) > 0 {
		return false
	}
	for _, a := range r.Attempts {
		if !a.Passed() {
			return false
		}
	}
	return true
}

// Duration is the sum of the attempts' durations.
func (r Result) Duration() time.Duration {
	var d time.Duration
	for _, a := range r.Attempts {
		d += a.Duration
	}
	return d
}

// clientWriteBuffer is the write buffer of each client connection: larger
// than the dossiers the load mode sends (a payroll dossier of megabytes
// leaves in several writes).
const clientWriteBuffer = 64 << 10

// NewClient returns the client used when Options.Client is nil: it reports
// redirects as answers instead of following them and keeps up to
// concurrency idle connections.
func NewClient(concurrency int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(concurrency, 1)
	// A dossier's request leaves in one write, head and body, as a client
	// that has the body at hand sends it: with net/http's 4 KB buffer a
	// dossier of some KB took two writes and a 32 KB copy buffer per
	// request, which the server saw as a request arriving in parts.
	tr.WriteBufferSize = clientWriteBuffer
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

type job struct{ index, round int }

// Run sends every case Repeat times and returns one Result per case, in the
// order of cases. It returns ctx's error, with the results so far, when ctx
// ends before every attempt was made.
func Run(ctx context.Context, cases []fixture.Case, opts Options) ([]Result, error) {
	if opts.BaseURL == "" {
		return nil, errors.New("replay: no base url")
	}
	opts.Concurrency = max(opts.Concurrency, 1)
	opts.Repeat = max(opts.Repeat, 1)
	if opts.Client == nil {
		opts.Client = NewClient(opts.Concurrency)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}

	attempts := make([][]Attempt, len(cases))
	done := make([][]bool, len(cases))
	for i := range cases {
		attempts[i] = make([]Attempt, opts.Repeat)
		done[i] = make([]bool, opts.Repeat)
	}

	jobs := make(chan job)
	var (
		wg       sync.WaitGroup
		progress sync.Mutex
	)
	for range opts.Concurrency {
		wg.Go(func() {
			for j := range jobs {
				a := send(ctx, cases[j.index], j.round, opts)
				progress.Lock()
				attempts[j.index][j.round-1] = a
				done[j.index][j.round-1] = true
				if opts.Progress != nil {
					opts.Progress(cases[j.index], a)
				}
				progress.Unlock()
			}
		})
	}

	pace := newPacer(opts.Rate)
	err := dispatch(ctx, len(cases), opts.Repeat, pace, jobs)
	close(jobs)
	wg.Wait()
	pace.stop()

	results := make([]Result, len(cases))
	for i, c := range cases {
		results[i].Case = c
		for r, ok := range done[i] {
			if ok {
				results[i].Attempts = append(results[i].Attempts, attempts[i][r])
			}
		}
	}
	if err != nil {
		return results, fmt.Errorf("replay: %w", err)
	}
	return results, nil
}

// dispatch hands out the jobs round by round, paced.
func dispatch(ctx context.Context, n, repeat int, pace *pacer, jobs chan<- job) error {
	for round := 1; round <= repeat; round++ {
		for i := range n {
			if err := pace.wait(ctx); err != nil {
				return err
			}
			select {
			case jobs <- job{index: i, round: round}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// send makes one attempt and judges it.
func send(ctx context.Context, c fixture.Case, round int, opts Options) Attempt {
	a := Attempt{Round: round}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	start := opts.Now()
	a.Status, a.Code, a.Rules, a.Err = exchange(ctx, opts.Client, c, opts.BaseURL)
	a.Duration = opts.Now().Sub(start)
	a.Failure = judge(c.Expect, a)
	return a
}

// exchange sends the case and reads the status and, for a problem+json
// answer, its code and the ids of the business rules it lists. A case with
// uploads sends them first (PUT /v1/attachments/{sha256}, each answered 201
// or 200); a case with parts goes as multipart/related (fixture.Case.Request).
func exchange(ctx context.Context, client *http.Client, c fixture.Case, baseURL string) (int, string, []string, error) {
	if err := upload(ctx, client, c, baseURL); err != nil {
		return 0, "", nil, err
	}
	req, err := c.Request(baseURL)
	if err != nil {
		return 0, "", nil, err
	}
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return 0, "", nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var code string
	var rules []string
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/problem+json" {
		var p struct {
			Code  string `json:"code"`
			Rules []struct {
				ID string `json:"id"`
			} `json:"rules"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxProblemBody)).Decode(&p); err != nil {
			return resp.StatusCode, "", nil, fmt.Errorf("problem body: %w", err)
		}
		code = p.Code
		for _, r := range p.Rules {
			if len(rules) == 0 || rules[len(rules)-1] != r.ID {
				rules = append(rules, r.ID) // a rule broken by several documents is listed once per document
			}
		}
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, code, rules, fmt.Errorf("answer body: %w", err)
	}
	return resp.StatusCode, code, rules, nil
}

// upload sends the case's uploads before its dossier.
func upload(ctx context.Context, client *http.Client, c fixture.Case, baseURL string) error {
	reqs, err := c.UploadRequests(baseURL)
	if err != nil {
		return err
	}
	for _, req := range reqs {
		resp, err := client.Do(req.WithContext(ctx))
		if err != nil {
			return fmt.Errorf("upload %s: %w", req.URL.Path, err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProblemBody))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			return fmt.Errorf("upload %s: status %d, want 201 or 200", req.URL.Path, resp.StatusCode)
		}
	}
	return nil
}

// judge returns why the attempt does not meet the expectation, or "". The
// code is compared only when the expectation names one.
func judge(exp fixture.Expect, a Attempt) string {
	switch {
	case a.Err != nil:
		return a.Err.Error()
	case a.Status != exp.Status:
		return fmt.Sprintf("status %d, want %d", a.Status, exp.Status)
	case exp.Code != "" && a.Code != exp.Code:
		return fmt.Sprintf("code %q, want %q", a.Code, exp.Code)
	case len(exp.Rules) > 0 && !slices.Equal(a.Rules, exp.Rules):
		return fmt.Sprintf("rules %v, want %v", a.Rules, exp.Rules)
	}
	return ""
}

// pacer spaces sends 1/rate apart with a time.Ticker: the first send goes at
// once, each later one waits for a tick. A nil pacer never waits.
type pacer struct {
	ticker  *time.Ticker
	started bool
}

func newPacer(rate float64) *pacer {
	if rate <= 0 {
		return nil
	}
	interval := max(time.Duration(float64(time.Second)/rate), time.Nanosecond)
	return &pacer{ticker: time.NewTicker(interval)}
}

func (p *pacer) wait(ctx context.Context) error {
	if p == nil {
		return ctx.Err()
	}
	if !p.started {
		p.started = true
		return ctx.Err()
	}
	select {
	case <-p.ticker.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pacer) stop() {
	if p != nil {
		p.ticker.Stop()
	}
}
