package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/fixture"
	"github.com/kbnn/dvc/adapter/testkit/fixturegen"
	"github.com/kbnn/dvc/adapter/testkit/testpki"
	"github.com/kbnn/dvc/adapter/tlsconf"
)

const loadUsageText = `usage: dvc-replay load [flags]

Load mode: makes a pool of unique valid dossiers from the templates (fresh
maHoSo codes <agency>.<run tag>-<date>-<sequence>, signed with the test PKI
before the run, by -sign-workers goroutines in parallel, so the run does not
measure its own signing), uploads the files they list
(PUT /v1/attachments/{sha256}), then sends the pool for -warmup plus
-duration with -concurrency requests in flight, at most -rate a second. A
progress line goes to stderr every second; then stdout gets the throughput
and latencies of the measured window (after the warm-up) and every answer by
status and problem code, each unexpected one (anything but 202) marked "!".
Without -rate, the pool is -pool dossiers and the run ends early when they
are used up (the report says so). Exit status: 0 no unexpected answer, 1 any
unexpected answer, 2 usage or I/O error.

Flags:
`

// loadConfig holds the parsed flags of the load mode.
type loadConfig struct {
	addr, templates, pki, procedures, form, runTag, junit, report string
	caFile, certFile, keyFile                                     string
	rate                                                          float64
	concurrency, pool, signWorkers, lines, expect, first          int
	warmup, duration, timeout                                     time.Duration
}

func parseLoadFlags(args []string, stderr io.Writer) (loadConfig, error) {
	var c loadConfig
	fs := flag.NewFlagSet("dvc-replay load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "http://127.0.0.1:8080", "adapter base `URL`")
	fs.StringVar(&c.templates, "templates", "testdata/templates", "template root `dir`")
	fs.StringVar(&c.pki, "pki", "testdata/pki", "test PKI `dir` (TEST ONLY keys)")
	fs.StringVar(&c.procedures, "procedure", "", "comma-separated procedure `ids` to send, in turn (default: every template)")
	fs.StringVar(&c.form, "form", "xml", "`xml`, json or mixed (XML and JSON in turn)")
	fs.StringVar(&c.runTag, "run-tag", "", "letters and digits (at most 8) that make this run's codes unique (default: the start time in base 36)")
	fs.IntVar(&c.first, "first", 1, "first `sequence` number of the codes")
	fs.Float64Var(&c.rate, "rate", 0, "send at most `N` requests per second; 0 = as fast as answered")
	fs.IntVar(&c.concurrency, "concurrency", 64, "keep up to `N` requests in flight")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "send for this `duration` before measuring")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "measure for this `duration`")
	fs.IntVar(&c.pool, "pool", 0, "dossiers to generate (default: rate × (warmup + duration) + concurrency with -rate, else 20000)")
	fs.IntVar(&c.signWorkers, "sign-workers", runtime.GOMAXPROCS(0), "sign the pool with `N` goroutines")
	fs.IntVar(&c.lines, "lines", 0, "replicate each dossier's lines to `N` (payroll dossiers; procedures with largeLines only)")
	fs.IntVar(&c.expect, "expect", http.StatusAccepted, "the `status` of a good answer")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "bound each request by this `duration`")
	fs.StringVar(&c.junit, "junit", "", "write a JUnit XML report to `file` (one case per procedure and form)")
	fs.StringVar(&c.report, "report", "", "write the report's data (JSON: percentiles, answers, groups, one entry per second) to `file`")
	fs.StringVar(&c.caFile, "cacert", "", "for https: CAs (PEM `file`) the adapter's certificate chains to (default: the system's)")
	fs.StringVar(&c.certFile, "cert", "", "for mutual TLS: the client certificate (PEM `file`), with -key")
	fs.StringVar(&c.keyFile, "key", "", "the private key (PEM `file`) of -cert")
	fs.Usage = func() {
		_, _ = fmt.Fprint(fs.Output(), loadUsageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if err := checkURL(c.addr); err != nil {
		problems = append(problems, "-addr: "+err.Error())
	}
	if (c.certFile == "") != (c.keyFile == "") {
		problems = append(problems, "-cert and -key go together")
	}
	switch c.form {
	case fixturegen.FormXML, fixturegen.FormJSON, fixturegen.FormMixed:
	default:
		problems = append(problems, "-form must be xml, json or mixed")
	}
	if c.rate < 0 {
		problems = append(problems, "-rate must be >= 0")
	}
	if c.concurrency < 1 {
		problems = append(problems, "-concurrency must be >= 1")
	}
	if c.warmup < 0 {
		problems = append(problems, "-warmup must be >= 0")
	}
	if c.duration <= 0 {
		problems = append(problems, "-duration must be > 0")
	}
	if c.pool < 0 {
		problems = append(problems, "-pool must be >= 0")
	}
	if c.signWorkers < 1 {
		problems = append(problems, "-sign-workers must be >= 1")
	}
	if c.lines < 0 {
		problems = append(problems, "-lines must be >= 0")
	}
	if c.first < 1 {
		problems = append(problems, "-first must be >= 1")
	}
	if c.timeout <= 0 {
		problems = append(problems, "-timeout must be > 0")
	}
	if len(problems) > 0 {
		err := errors.New(strings.Join(problems, "; "))
		_, _ = fmt.Fprintf(stderr, "dvc-replay load: %v\n", err)
		fs.Usage()
		return c, err
	}
	if c.runTag == "" {
		c.runTag = strings.ToUpper(strconv.FormatInt(time.Now().Unix(), 36))
	}
	if c.pool == 0 {
		c.pool = 20000
		if c.rate > 0 {
			c.pool = int(math.Ceil(c.rate*(c.warmup+c.duration).Seconds())) + c.concurrency
		}
	}
	return c, nil
}

// LoadMain runs the load mode with the given arguments (after "load") and
// returns its exit status.
func LoadMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseLoadFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitUsage
	}
	fail := func(err error) int {
		_, _ = fmt.Fprintf(stderr, "dvc-replay load: %v\n", err)
		return ExitUsage
	}
	var procs []string
	if cfg.procedures != "" {
		procs = strings.Split(cfg.procedures, ",")
	}
	gen, err := fixturegen.NewLoadGenerator(fixturegen.LoadOptions{Templates: cfg.templates, PKI: testpki.NewDir(cfg.pki),
		Procedures: procs, Form: cfg.form, RunTag: cfg.runTag, Lines: cfg.lines})
	if err != nil {
		return fail(err)
	}
	pool, took, err := GeneratePool(gen, cfg.first, cfg.pool, cfg.signWorkers, stderr)
	if err != nil {
		return fail(err)
	}
	_, _ = fmt.Fprintf(stdout, "pool: %d %s dossiers (run tag %s) signed in %.1fs by %d workers (%.0f/s), before the run\n",
		len(pool), cfg.form, cfg.runTag, took.Seconds(), cfg.signWorkers, float64(len(pool))/max(took.Seconds(), 1e-9))

	client := NewClient(cfg.concurrency)
	if cfg.caFile != "" || cfg.certFile != "" {
		tc, err := tlsconf.Client(tlsconf.ClientOptions{CAFile: cfg.caFile, CertFile: cfg.certFile, KeyFile: cfg.keyFile})
		if err != nil {
			return fail(err)
		}
		client.Transport.(*http.Transport).TLSClientConfig = tc
	}
	rep, runErr := Load(ctx, LoadOptions{BaseURL: cfg.addr, Client: client, Dossiers: pool, Files: gen.Files(),
		Concurrency: cfg.concurrency, Rate: cfg.rate, Warmup: cfg.warmup, Duration: cfg.duration, Timeout: cfg.timeout,
		Expect: cfg.expect, Progress: stderr})
	status := ExitOK
	if runErr != nil {
		_, _ = fmt.Fprintf(stderr, "dvc-replay load: run cut short: %v\n", runErr)
		status = ExitUsage
		if rep.Target == "" { // nothing was sent (the uploads failed)
			return status
		}
	}
	if cfg.junit != "" {
		var buf bytes.Buffer
		if err := WriteJUnit(&buf, "dvc-replay load", LoadResults(rep, cfg.expect)); err != nil {
			return fail(err)
		}
		if err := os.WriteFile(cfg.junit, buf.Bytes(), 0o644); err != nil {
			return fail(fmt.Errorf("junit: %w", err))
		}
	}
	if cfg.report != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fail(err)
		}
		if err := os.WriteFile(cfg.report, append(data, '\n'), 0o644); err != nil {
			return fail(fmt.Errorf("report: %w", err))
		}
	}
	if err := WriteLoadSummary(stdout, rep, cfg.expect); err != nil {
		return fail(err)
	}
	if status == ExitOK && rep.Unexpected > 0 {
		status = ExitMismatch
	}
	return status
}

// GeneratePool signs n dossiers from sequence first with workers
// goroutines, writing a progress line to progress (when not nil) about every
// second, and returns them with the time it took.
func GeneratePool(gen *fixturegen.LoadGenerator, first, n, workers int, progress io.Writer) ([]fixturegen.LoadDossier, time.Duration, error) {
	start := time.Now()
	var last atomic.Int64
	pool, err := gen.Generate(first, n, workers, func(done int) {
		if progress == nil {
			return
		}
		seen := last.Load()
		if sec := int64(time.Since(start) / time.Second); sec > seen && last.CompareAndSwap(seen, sec) {
			_, _ = fmt.Fprintf(progress, "[%4ds] signing the pool: %d of %d\n", sec, done, n)
		}
	})
	return pool, time.Since(start), err
}

// loadCase names a procedure and form in the JUnit report.
func loadCase(g LoadGroup, expect int) fixture.Case {
	return fixture.Case{Procedure: "load", Name: g.Procedure + "-" + g.Form, Expect: fixture.Expect{Status: expect}}
}
