package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/fixturegen"
)

// LoadOptions tune a load run.
type LoadOptions struct {
	BaseURL string       // the adapter, e.g. "http://127.0.0.1:8080"; required
	Client  *http.Client // nil: NewClient(Concurrency)
	// Dossiers is the pool, sent in order, each once; the run ends early
	// (LoadReport.Exhausted) when it runs out before Duration, unless
	// Cycle sends it again from the start (for a target that does not
	// care, such as a bare server measuring the load generator's ceiling).
	Dossiers []fixturegen.LoadDossier
	Cycle    bool
	// Files are uploaded (PUT /v1/attachments/{sha256}) before the run.
	Files       []fixturegen.LoadFile
	Concurrency int     // requests in flight; zero means 1
	Rate        float64 // requests per second over all workers; zero: as fast as answered
	Warmup      time.Duration
	Duration    time.Duration // the measured window after Warmup; required
	Timeout     time.Duration // per request; zero: none
	// Expect is the status of a good answer; zero means 202.
	Expect int
	// Progress, when set, gets a line about every ProgressEvery (zero: 1s).
	Progress      io.Writer
	ProgressEvery time.Duration
}

// LoadReport is what a load run measured. Latencies are in milliseconds;
// the throughput and the latencies count the answers that came within the
// measured window (after the warm-up); the answers and the unexpected ones
// count the whole run, warm-up included.
type LoadReport struct {
	Target      string  `json:"target"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate"` // 0: unlimited
	WarmupS     float64 `json:"warmupSeconds"`
	DurationS   float64 `json:"durationSeconds"`
	// WindowS is the measured window: DurationS, or less when the pool ran
	// out (Exhausted).
	WindowS    float64 `json:"windowSeconds"`
	Exhausted  bool    `json:"exhausted"`
	Sent       int     `json:"sent"`     // whole run
	Measured   int     `json:"measured"` // answered within the window
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50Ms"`
	P90        float64 `json:"p90Ms"`
	P99        float64 `json:"p99Ms"`
	Max        float64 `json:"maxMs"`
	// Answers counts every answer by "<status>" or "<status> <problem
	// code>", or "error: <cause>" when there was none.
	Answers    map[string]int `json:"answers"`
	Unexpected int            `json:"unexpected"`
	// Groups are the counts per procedure and form.
	Groups []LoadGroup `json:"groups"`
	// Timeline holds one entry per second of the run.
	Timeline []LoadSecond `json:"timeline"`
}

// LoadGroup counts one procedure in one form.
type LoadGroup struct {
	Procedure  string         `json:"procedure"`
	Form       string         `json:"form"`
	Sent       int            `json:"sent"`
	Unexpected map[string]int `json:"unexpected,omitempty"`
	TotalMs    float64        `json:"totalMs"`
}

// LoadSecond is one second of the run.
type LoadSecond struct {
	Second     int     `json:"second"` // from the start, warm-up included
	Answered   int     `json:"answered"`
	Unexpected int     `json:"unexpected"`
	P99        float64 `json:"p99Ms"`
}

// loadRecord is one request of the run.
type loadRecord struct {
	index int           // in the pool
	end   time.Duration // answer read, from the start
	dur   time.Duration
	key   string // Answers key
	ok    bool
}

// Load uploads the files, then sends the pool's dossiers for Warmup plus
// Duration and reports. It returns ctx's error, with the report so far,
// when ctx ends first.
func Load(ctx context.Context, o LoadOptions) (LoadReport, error) {
	if o.BaseURL == "" || o.Duration <= 0 || len(o.Dossiers) == 0 {
		return LoadReport{}, errors.New("replay: load: base url, duration and dossiers are required")
	}
	o.Concurrency = max(o.Concurrency, 1)
	if o.Client == nil {
		o.Client = NewClient(o.Concurrency)
	}
	if o.Expect == 0 {
		o.Expect = http.StatusAccepted
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Second
	}
	if err := UploadFiles(ctx, o.Client, o.BaseURL, o.Files); err != nil {
		return LoadReport{}, err
	}

	perWorker := make([][]loadRecord, o.Concurrency)
	var (
		mu       sync.Mutex
		window   []time.Duration // latencies since the last progress line
		wUnexp   int
		answered atomic.Int64
		unexp    atomic.Int64
		wg       sync.WaitGroup
	)
	jobs := make(chan int)
	start := time.Now()
	for w := range o.Concurrency {
		wg.Go(func() {
			for i := range jobs {
				r := loadSend(ctx, o, o.Dossiers[i])
				r.index, r.end = i, time.Since(start)
				perWorker[w] = append(perWorker[w], r)
				answered.Add(1)
				mu.Lock()
				window = append(window, r.dur)
				if !r.ok {
					unexp.Add(1)
					wUnexp++
				}
				mu.Unlock()
			}
		})
	}

	var timeline []LoadSecond
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		tick := time.NewTicker(o.ProgressEvery)
		defer tick.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-tick.C:
			}
			mu.Lock()
			w, u := window, wUnexp
			window, wUnexp = nil, 0
			mu.Unlock()
			elapsed := time.Since(start)
			sec := LoadSecond{Second: int(elapsed.Round(time.Second) / time.Second), Answered: len(w), Unexpected: u, P99: ms(percentile(w, 0.99))}
			timeline = append(timeline, sec)
			if o.Progress != nil {
				phase := "measuring"
				if elapsed <= o.Warmup+o.ProgressEvery/2 {
					phase = "warm-up  "
				}
				_, _ = fmt.Fprintf(o.Progress, "[%4ds] %s answered %7d  %7.0f/s  p99 %7.1f ms  unexpected %d\n",
					sec.Second, phase, answered.Load(), float64(len(w))/o.ProgressEvery.Seconds(), sec.P99, unexp.Load())
			}
		}
	}()

	pace := newPacer(o.Rate)
	end := o.Warmup + o.Duration
	exhausted := true
	var runErr error
dispatch:
	for n := 0; o.Cycle || n < len(o.Dossiers); n++ {
		if err := pace.wait(ctx); err != nil {
			runErr = err
			exhausted = false
			break
		}
		if time.Since(start) >= end {
			exhausted = false
			break
		}
		select {
		case jobs <- n % len(o.Dossiers):
		case <-ctx.Done():
			runErr = ctx.Err()
			exhausted = false
			break dispatch
		}
	}
	close(jobs)
	wg.Wait()
	pace.stop()
	close(stopProgress)
	<-progressDone

	rep := LoadReport{Target: o.BaseURL, Concurrency: o.Concurrency, Rate: o.Rate,
		WarmupS: o.Warmup.Seconds(), DurationS: o.Duration.Seconds(), Exhausted: exhausted,
		Answers: map[string]int{}, Timeline: timeline}
	var records []loadRecord
	for _, rs := range perWorker {
		records = append(records, rs...)
	}
	windowEnd := end
	if exhausted {
		windowEnd = 0
		for _, r := range records {
			windowEnd = max(windowEnd, r.end)
		}
	}
	rep.WindowS = max(windowEnd-o.Warmup, 0).Seconds()
	var lat []time.Duration
	groups := map[string]*LoadGroup{}
	var order []string
	for _, r := range records {
		rep.Sent++
		rep.Answers[r.key]++
		if !r.ok {
			rep.Unexpected++
		}
		if r.end >= o.Warmup && r.end <= windowEnd {
			lat = append(lat, r.dur)
		}
		d := o.Dossiers[r.index]
		form := "xml"
		if d.JSON {
			form = "json"
		}
		gk := d.Procedure + " " + form
		g := groups[gk]
		if g == nil {
			g = &LoadGroup{Procedure: d.Procedure, Form: form}
			groups[gk] = g
			order = append(order, gk)
		}
		g.Sent++
		g.TotalMs += ms(r.dur)
		if !r.ok {
			if g.Unexpected == nil {
				g.Unexpected = map[string]int{}
			}
			g.Unexpected[r.key]++
		}
	}
	sort.Strings(order)
	for _, k := range order {
		rep.Groups = append(rep.Groups, *groups[k])
	}
	rep.Measured = len(lat)
	if rep.WindowS > 0 {
		rep.Throughput = float64(rep.Measured) / rep.WindowS
	}
	slices.Sort(lat)
	rep.P50, rep.P90, rep.P99 = ms(sortedPercentile(lat, 0.50)), ms(sortedPercentile(lat, 0.90)), ms(sortedPercentile(lat, 0.99))
	if len(lat) > 0 {
		rep.Max = ms(lat[len(lat)-1])
	}
	if runErr != nil {
		return rep, fmt.Errorf("replay: load: %w", runErr)
	}
	return rep, nil
}

// UploadFiles puts every file the dossiers list, once
// (PUT /v1/attachments/{sha256}, answered 201 or 200).
func UploadFiles(ctx context.Context, client *http.Client, baseURL string, files []fixturegen.LoadFile) error {
	for _, f := range files {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimRight(baseURL, "/")+"/v1/attachments/"+f.SHA256, bytes.NewReader(f.Data))
		if err != nil {
			return fmt.Errorf("replay: load: upload %s: %w", f.Name, err)
		}
		req.Header.Set("Authorization", "Bearer "+fixturegen.DevPortalToken)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("replay: load: upload %s: %w", f.Name, err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProblemBody))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			return fmt.Errorf("replay: load: upload %s (%s): status %d, want 201 or 200", f.Name, f.Procedure, resp.StatusCode)
		}
	}
	return nil
}

// loadSend sends one dossier and classifies the answer.
func loadSend(ctx context.Context, o LoadOptions, d fixturegen.LoadDossier) loadRecord {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	t0 := time.Now()
	status, code, _, err := SendDossier(ctx, o.Client, o.BaseURL, d)
	dur := time.Since(t0)
	if err != nil {
		return loadRecord{dur: dur, key: "error: " + errorCause(err)}
	}
	key := strconv.Itoa(status)
	if code != "" {
		key += " " + code
	}
	return loadRecord{dur: dur, key: key, ok: status == o.Expect}
}

// SendDossier submits d (POST /v1/procedures/{procedure}/dossiers) and
// returns the status, the problem code ("" when the answer is not
// problem+json) and the Retry-After (zero when absent). The answer body is
// read to its end.
func SendDossier(ctx context.Context, client *http.Client, baseURL string, d fixturegen.LoadDossier) (int, string, time.Duration, error) {
	url := strings.TrimRight(baseURL, "/") + "/v1/procedures/" + d.Procedure + "/dossiers"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		return 0, "", 0, err
	}
	req.Header = d.Header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	var code string
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/problem+json" {
		var p struct {
			Code string `json:"code"`
		}
		if json.NewDecoder(io.LimitReader(resp.Body, maxProblemBody)).Decode(&p) == nil {
			code = p.Code
		}
	}
	var retryAfter time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, code, retryAfter, fmt.Errorf("answer body: %w", err)
	}
	return resp.StatusCode, code, retryAfter, nil
}

// errorCause shortens a transport error to its cause, so that the same
// cause on many connections counts once.
func errorCause(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

// percentile returns the p-quantile of an unsorted sample (nearest rank).
func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return sortedPercentile(s, p)
}

func sortedPercentile(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// WriteLoadSummary writes the report for people: the run, the throughput,
// the latencies and every answer, the unexpected ones marked.
func WriteLoadSummary(w io.Writer, r LoadReport, expect int) error {
	if expect == 0 {
		expect = http.StatusAccepted
	}
	var b strings.Builder
	rate := "unlimited"
	if r.Rate > 0 {
		rate = strconv.FormatFloat(r.Rate, 'f', -1, 64) + "/s"
	}
	fmt.Fprintf(&b, "target %s, concurrency %d, rate %s, warm-up %.0fs, duration %.0fs\n", r.Target, r.Concurrency, rate, r.WarmupS, r.DurationS)
	if r.Exhausted {
		fmt.Fprintf(&b, "the pool ran out after %.1fs of the measured window (raise -pool or set -rate)\n", r.WindowS)
	}
	fmt.Fprintf(&b, "sent %d; measured %d answers in %.1fs: %.1f/s\n", r.Sent, r.Measured, r.WindowS, r.Throughput)
	fmt.Fprintf(&b, "latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", r.P50, r.P90, r.P99, r.Max)
	keys := make([]string, 0, len(r.Answers))
	for k := range r.Answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mark := "  "
		if k != strconv.Itoa(expect) {
			mark = "! "
		}
		fmt.Fprintf(&b, "%sanswer %-40s %d\n", mark, k, r.Answers[k])
	}
	fmt.Fprintf(&b, "%d unexpected answers\n", r.Unexpected)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("replay: load summary: %w", err)
	}
	return nil
}

// LoadResults turns a report into one Result per procedure and form, for
// WriteJUnit: a group fails when any of its answers was unexpected.
func LoadResults(r LoadReport, expect int) []Result {
	if expect == 0 {
		expect = http.StatusAccepted
	}
	var out []Result
	for _, g := range r.Groups {
		a := Attempt{Round: 1, Status: expect, Duration: time.Duration(g.TotalMs * float64(time.Millisecond))}
		if len(g.Unexpected) > 0 {
			keys := make([]string, 0, len(g.Unexpected))
			n := 0
			for k, c := range g.Unexpected {
				keys = append(keys, fmt.Sprintf("%s ×%d", k, c))
				n += c
			}
			sort.Strings(keys)
			a.Failure = fmt.Sprintf("%d of %d answers unexpected: %s", n, g.Sent, strings.Join(keys, ", "))
		}
		out = append(out, Result{Case: loadCase(g, expect), Attempts: []Attempt{a}})
	}
	return out
}
