package replay

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/fixture"
	"github.com/kbnn/dvc/adapter/tlsconf"
)

// Exit statuses of Main.
const (
	ExitOK       = 0 // every case passed
	ExitMismatch = 1 // at least one case failed
	ExitUsage    = 2 // bad flags, unreadable fixtures, I/O errors
)

const usageText = `usage: dvc-replay [flags]

Sends every fixture case (testdata/fixtures/<procedure>/<case>/) to a running
adapter, checks each answer against expect.json, prints one line per attempt,
a summary per procedure and a last line "N passed, M failed". A case's
uploads/ are sent first (PUT /v1/attachments/{sha256}) and its parts/ with
the dossier as multipart/related; with -treasury, each accepted case must have
one treasury document and its files at the treasury byte for byte.
Exit status: 0 all passed, 1 any mismatch, 2 usage or I/O error.
"dvc-replay load -h" describes the load mode.

Flags:
`

// config holds the parsed flags.
type config struct {
	addr, fixtures, procedure, caseFilter, junit, treasury string
	caFile, certFile, keyFile                              string // TLS towards the adapter (and the treasury simulator)
	rate                                                   float64
	concurrency, repeat                                    int
	timeout                                                time.Duration
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("dvc-replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "http://127.0.0.1:8080", "adapter base `URL`")
	fs.StringVar(&c.fixtures, "fixtures", "testdata/fixtures", "fixture root `dir`")
	fs.StringVar(&c.procedure, "procedure", "", "replay only the procedure `id` (folder name)")
	fs.StringVar(&c.caseFilter, "case", "", "replay only cases whose name contains `substring`")
	fs.StringVar(&c.junit, "junit", "", "write a JUnit XML report to `file`")
	fs.Float64Var(&c.rate, "rate", 0, "send at most `N` requests per second over all workers; 0 = unlimited")
	fs.IntVar(&c.concurrency, "concurrency", 1, "keep up to `N` requests in flight")
	fs.IntVar(&c.repeat, "repeat", 1, "send each case `N` times")
	fs.StringVar(&c.treasury, "treasury", "", "treasury simulator `URL`: after the run, check its /sim/documents against the answers")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "bound each request by this `duration`")
	fs.StringVar(&c.caFile, "cacert", "", "for https: CAs (PEM `file`) the adapter's certificate chains to (default: the system's)")
	fs.StringVar(&c.certFile, "cert", "", "for mutual TLS: the client certificate (PEM `file`), with -key")
	fs.StringVar(&c.keyFile, "key", "", "the private key (PEM `file`) of -cert")
	fs.Usage = func() {
		_, _ = fmt.Fprint(fs.Output(), usageText)
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
	if c.treasury != "" {
		if err := checkURL(c.treasury); err != nil {
			problems = append(problems, "-treasury: "+err.Error())
		}
	}
	if (c.certFile == "") != (c.keyFile == "") {
		problems = append(problems, "-cert and -key go together")
	}
	if c.rate < 0 {
		problems = append(problems, "-rate must be >= 0")
	}
	if c.concurrency < 1 {
		problems = append(problems, "-concurrency must be >= 1")
	}
	if c.repeat < 1 {
		problems = append(problems, "-repeat must be >= 1")
	}
	if c.timeout <= 0 {
		problems = append(problems, "-timeout must be > 0")
	}
	if len(problems) > 0 {
		err := errors.New(strings.Join(problems, "; "))
		_, _ = fmt.Fprintf(stderr, "dvc-replay: %v\n", err)
		fs.Usage()
		return c, err
	}
	return c, nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want http(s)://host[:port]", s)
	}
	return nil
}

// selectCases keeps the cases of procedure (all when "") whose name
// contains caseFilter.
func selectCases(all []fixture.Case, procedure, caseFilter string) []fixture.Case {
	var out []fixture.Case
	for _, c := range all {
		if (procedure == "" || c.Procedure == procedure) && strings.Contains(c.Name, caseFilter) {
			out = append(out, c)
		}
	}
	return out
}

// Main runs the replay tool with the given arguments (without the program
// name) and returns its exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "load" {
		return LoadMain(ctx, args[1:], stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitUsage
	}
	fail := func(err error) int {
		_, _ = fmt.Fprintf(stderr, "dvc-replay: %v\n", err)
		return ExitUsage
	}

	all, err := fixture.LoadAll(cfg.fixtures)
	if err != nil {
		return fail(err)
	}
	cases := selectCases(all, cfg.procedure, cfg.caseFilter)
	if len(cases) == 0 {
		return fail(fmt.Errorf("no fixtures under %s match -procedure %q -case %q", cfg.fixtures, cfg.procedure, cfg.caseFilter))
	}

	client := NewClient(cfg.concurrency)
	if cfg.caFile != "" || cfg.certFile != "" {
		tc, err := tlsconf.Client(tlsconf.ClientOptions{CAFile: cfg.caFile, CertFile: cfg.certFile, KeyFile: cfg.keyFile})
		if err != nil {
			return fail(err)
		}
		client.Transport.(*http.Transport).TLSClientConfig = tc
	}
	results, runErr := Run(ctx, cases, Options{
		BaseURL:     cfg.addr,
		Concurrency: cfg.concurrency,
		Repeat:      cfg.repeat,
		Rate:        cfg.rate,
		Timeout:     cfg.timeout,
		Client:      client,
		Progress: func(c fixture.Case, a Attempt) { // called serially by Run
			// A broken stdout is reported by WriteSummary at the end.
			_, _ = fmt.Fprintln(stdout, FormatAttempt(c, a, cfg.repeat))
		},
	})
	status := ExitOK
	if runErr != nil {
		_, _ = fmt.Fprintf(stderr, "dvc-replay: run cut short: %v\n", runErr)
		status = ExitUsage
	}

	if cfg.treasury != "" && runErr == nil {
		tctx, cancel := context.WithTimeout(ctx, cfg.timeout)
		docs, err := FetchDocuments(tctx, client, cfg.treasury)
		cancel()
		if err != nil {
			_, _ = fmt.Fprintf(stderr, "dvc-replay: %v\n", err)
			status = ExitUsage
		} else {
			CheckTreasury(results, docs)
			actx, cancel := context.WithTimeout(ctx, cfg.timeout)
			CheckAttachments(actx, client, cfg.treasury, results)
			cancel()
			for _, r := range results {
				for _, f := range r.Failures {
					_, _ = fmt.Fprintln(stdout, FormatFailure(r.Case, f))
				}
			}
		}
	}

	if cfg.junit != "" {
		if err := writeJUnitFile(cfg.junit, results); err != nil {
			_, _ = fmt.Fprintf(stderr, "dvc-replay: %v\n", err)
			status = ExitUsage
		}
	}
	_, _ = fmt.Fprintln(stdout)
	if err := WriteSummary(stdout, results); err != nil {
		return fail(err)
	}
	if status == ExitOK && Count(results).Failed > 0 {
		status = ExitMismatch
	}
	return status
}

func writeJUnitFile(path string, results []Result) error {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, "dvc-replay", results); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("replay: junit: %w", err)
	}
	return nil
}
