// Package bench owns cmd/dvc-bench: the end-to-end benchmark (make
// bench-e2e) and the soak run (make soak). It starts the stack as separate
// processes (the adapter on Redis, the treasury simulator without latency,
// the portal simulator), drives it with the load mode of package replay and
// reads the adapter's CPU time and resident set from /proc.
package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/fixturegen"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
	"github.com/kbnn/dvc/adapter/testkit/replay"
	"github.com/kbnn/dvc/adapter/testkit/testpki"
)

const usageText = `usage: dvc-bench [flags]            the end-to-end benchmark (make bench-e2e)
       dvc-bench soak [flags]       the soak run (make soak)

Starts Redis (REDIS_URL, else 127.0.0.1:6379, else a throwaway
redis-server), the treasury simulator without latency, the portal simulator
and the adapter (own ports, own evidence directory and Redis key prefix in a
temporary directory), then measures with the load mode of dvc-replay: XML
and JSON submissions with -concurrency clients, and a bare 200-OK server
under the same load generator as the machine's ceiling; then -payroll
concurrent payroll dossiers of -payroll-lines lines on a fresh adapter.
Prints one table. Run from the repository root (the adapter reads
testdata/pki).

Flags:
`

type config struct {
	bin, templates, pki                  string
	concurrency, xmlPool, jsonPool       int
	payroll, payrollLines                int
	warmup, duration                     time.Duration
	soakDuration, soakSample, soakWarmup time.Duration
	soakBurst                            time.Duration
	soakRate                             float64
	keep                                 bool
	cpuProfile                           string // dir; empty: no profiles
	heapProfile                          string // dir; empty: no heap profiles (soak)
}

func parseFlags(name string, args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.bin, "bin", "bin", "`dir` holding adapter, treasury-sim and portal-sim (make build)")
	fs.StringVar(&c.templates, "templates", "testdata/templates", "template root `dir`")
	fs.StringVar(&c.pki, "pki", "testdata/pki", "test PKI `dir`")
	fs.IntVar(&c.concurrency, "concurrency", 64, "clients (requests in flight)")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "warm-up of each run")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "measured window of each run")
	fs.IntVar(&c.xmlPool, "xml-pool", 0, "XML dossiers signed before the XML run (the run ends early when they are used up); 0: sized by a probe of the adapter's rate")
	fs.IntVar(&c.jsonPool, "json-pool", 0, "JSON dossiers signed before the JSON run; 0: sized by a probe")
	fs.IntVar(&c.payroll, "payroll", 8, "concurrent payroll dossiers (0: none)")
	fs.IntVar(&c.payrollLines, "payroll-lines", 5000, "lines of each payroll dossier")
	fs.DurationVar(&c.soakDuration, "soak-duration", 10*time.Minute, "soak: length of the run")
	fs.DurationVar(&c.soakWarmup, "soak-warmup", time.Minute, "soak: RSS growth is measured from the end of this warm-up")
	fs.DurationVar(&c.soakSample, "soak-sample", 10*time.Second, "soak: RSS sampling interval")
	fs.DurationVar(&c.soakBurst, "soak-burst", 20*time.Second, "soak: before the soak, every client sends as fast as answered for this long, so that the adapter has held as many requests at once as the soak can before the warm-up's RSS is taken (0: none)")
	fs.Float64Var(&c.soakRate, "soak-rate", 0, "soak: XML submissions per second (0: measure the XML rate first, then soak at half of it)")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory (logs, evidence)")
	fs.StringVar(&c.heapProfile, "heapprofile", "", "soak: write the adapter's heap profile after the warm-up and at the end into `dir` (heap-soak-warm.pprof, heap-soak-end.pprof)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write the adapter's CPU profile over each measured window into `dir` (cpu-<run>.pprof, from its admin listener), the load generator's (this process, cpu-load-generator-<run>.pprof), and the treasury simulator's over its life (cpu-treasury-sim.pprof)")
	fs.Usage = func() {
		_, _ = fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.concurrency < 1 || c.xmlPool < 0 || c.jsonPool < 0 || c.payroll < 0 || c.payrollLines < 1 || c.duration <= 0 || c.warmup < 0 {
		return c, errors.New("-concurrency and -payroll-lines must be >= 1, -xml-pool, -json-pool, -payroll and -warmup >= 0, -duration > 0")
	}
	return c, nil
}

// Main runs dvc-bench and returns its exit status: 0 done (targets met or
// not: the table says), 1 unexpected answers, 2 the stack or a run failed.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "bare" {
		return bareMain(ctx, args[1:], stderr)
	}
	soak := len(args) > 0 && args[0] == "soak"
	name := "dvc-bench"
	if soak {
		args, name = args[1:], "dvc-bench soak"
	}
	cfg, err := parseFlags(name, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	b, err := newBench(cfg, stderr)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	defer b.close()
	if soak {
		err = b.soak(ctx, stdout)
	} else {
		err = b.run(ctx, stdout)
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	if b.unexpected > 0 {
		return 1
	}
	return 0
}

// bench is one run of the stack.
type bench struct {
	cfg        config
	log        io.Writer
	tmp        string
	redisURL   string
	redisStop  func() error
	prefix     string
	tag        string
	treasury   *proc
	portal     *proc
	tAddr      string
	pAddr      string
	unexpected int
	admins     map[string]string // adapter base URL → its admin listener's base URL
}

func newBench(cfg config, log io.Writer) (*bench, error) {
	for _, bin := range []string{"adapter", "treasury-sim", "portal-sim"} {
		if _, err := os.Stat(filepath.Join(cfg.bin, bin)); err != nil {
			return nil, fmt.Errorf("%w (run make build)", err)
		}
	}
	tmp, err := os.MkdirTemp("", "dvc-bench-")
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, log: log, tmp: tmp, tag: strings.ToUpper(strconv.FormatInt(time.Now().Unix(), 36))}
	b.prefix = "bench:" + b.tag + ":"
	if b.redisURL, b.redisStop, err = redistest.ForProgram(); err != nil {
		b.close()
		return nil, err
	}
	if b.tAddr, err = freeAddr(); err != nil {
		b.close()
		return nil, err
	}
	if b.pAddr, err = freeAddr(); err != nil {
		b.close()
		return nil, err
	}
	// The simulators log what went wrong only, as the adapter does here
	// (DVC_LOG_LEVEL=warn): a line per document is the simulator's cost,
	// not the stack's.
	targs := []string{"-addr", b.tAddr, "-unlimited-allotments", "-log-level", "warn"}
	if cfg.cpuProfile != "" {
		// The simulator's own cost, over its whole life (it idles while dossiers are signed).
		if err := os.MkdirAll(cfg.cpuProfile, 0o755); err != nil {
			b.close()
			return nil, err
		}
		targs = append(targs, "-cpuprofile", filepath.Join(cfg.cpuProfile, "cpu-treasury-sim.pprof"))
	}
	if b.treasury, err = startProc("treasury-sim", filepath.Join(cfg.bin, "treasury-sim"), targs, nil, ".",
		filepath.Join(tmp, "treasury-sim.log")); err != nil {
		b.close()
		return nil, err
	}
	if b.portal, err = startProc("portal-sim", filepath.Join(cfg.bin, "portal-sim"), []string{"-addr", b.pAddr, "-log-level", "warn"}, nil, ".",
		filepath.Join(tmp, "portal-sim.log")); err != nil {
		b.close()
		return nil, err
	}
	// Both answer before the adapter starts: a simulator that refused
	// its flags (a bin/ older than this tool) stops the run here, with
	// its log named, rather than as unexpected answers.
	for _, s := range []struct {
		p    *proc
		addr string
	}{{b.treasury, b.tAddr}, {b.portal, b.pAddr}} {
		if err := s.p.waitReady("http://" + s.addr + "/sim/admin/faults"); err != nil {
			b.close()
			return nil, err
		}
	}
	return b, nil
}

func (b *bench) close() {
	b.treasury.stop()
	b.portal.stop()
	if b.redisURL != "" {
		ctx, cancel := withTimeout(30 * time.Second)
		if err := redistest.DeletePrefix(ctx, b.redisURL, b.prefix); err != nil {
			_, _ = fmt.Fprintf(b.log, "dvc-bench: deleting the keys under %s: %v\n", b.prefix, err)
		}
		cancel()
	}
	if b.redisStop != nil {
		if err := b.redisStop(); err != nil {
			_, _ = fmt.Fprintf(b.log, "dvc-bench: %v\n", err)
		}
	}
	if b.cfg.keep {
		_, _ = fmt.Fprintf(b.log, "dvc-bench: logs and evidence kept in %s\n", b.tmp)
	} else {
		_ = os.RemoveAll(b.tmp)
	}
}

// startAdapter starts an adapter on Redis with its own listeners, evidence
// directory and key prefix; name tells its log and evidence apart.
func (b *bench) startAdapter(name string) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	u, err := url.Parse(b.redisURL)
	if err != nil {
		return nil, "", err
	}
	p, err := startProc("adapter", filepath.Join(b.cfg.bin, "adapter"), nil, b.adapterEnv(name, addr, admin, u), ".", filepath.Join(b.tmp, "adapter-"+name+".log"))
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := p.waitReady(base + "/readyz"); err != nil {
		p.stop()
		return nil, "", err
	}
	if b.admins == nil {
		b.admins = map[string]string{}
	}
	b.admins[base] = "http://" + admin
	return p, base, nil
}

// adapterEnv is the environment of the adapter startAdapter starts as
// name, on listeners addr and admin and the Redis at u.
func (b *bench) adapterEnv(name, addr, admin string, u *url.URL) []string {
	env := []string{
		"DVC_SERVER_ADDR=" + addr,
		"DVC_SERVER_ADMINADDR=" + admin,
		"DVC_EVIDENCE_DIR=" + filepath.Join(b.tmp, "evidence-"+name),
		"DVC_TREASURY_BASEURL=http://" + b.tAddr,
		"DVC_PORTAL_URL=http://" + b.pAddr + "/api",
		"DVC_STORE_KIND=redis",
		"DVC_STORE_REDIS_ADDRS=" + u.Host,
		// Under the run's prefix (deleted at the end), one of its own: a
		// fresh adapter's empty evidence directory is not refused for the
		// checkpoint another one anchored under the same key.
		"DVC_STORE_REDIS_KEYPREFIX=" + b.prefix + name + ":",
		"DVC_LOG_LEVEL=warn",
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		env = append(env, "DVC_STORE_REDIS_DB="+db)
	}
	if pw, ok := u.User.Password(); ok {
		env = append(env, "DVC_STORE_REDIS_PASSWORD="+pw)
	}
	return env
}

// pool signs n dossiers of form before a run.
func (b *bench) pool(form string, procedures []string, first, n, lines int) ([]fixturegen.LoadDossier, []fixturegen.LoadFile, error) {
	gen, err := fixturegen.NewLoadGenerator(fixturegen.LoadOptions{Templates: b.cfg.templates, PKI: testpki.NewDir(b.cfg.pki),
		Procedures: procedures, Form: form, RunTag: b.tag, Lines: lines})
	if err != nil {
		return nil, nil, err
	}
	_, _ = fmt.Fprintf(b.log, "dvc-bench: signing %d %s dossiers before the run\n", n, form)
	pool, took, err := replay.GeneratePool(gen, first, n, runtime.GOMAXPROCS(0), b.log)
	if err != nil {
		return nil, nil, err
	}
	_, _ = fmt.Fprintf(b.log, "dvc-bench: %d %s dossiers signed in %.1fs (%.0f/s)\n", n, form, took.Seconds(), float64(n)/max(took.Seconds(), 1e-9))
	return pool, gen.Files(), nil
}

// row is one line of the table.
type row struct {
	name      string
	rep       replay.LoadReport
	cpuPerReq float64 // ms; < 0 unknown
	peakMB    float64 // < 0 unknown
	load      string  // load average before the run
	// The CPU per request, in ms (< 0 unknown), of the processes that
	// share the machine with the server: the treasury simulator, Redis
	// (when on this machine) and the load generator (this process).
	simCPU, redisCPU, loadCPU float64
	// Redis's commands and reads from its clients per request over the
	// run (INFO stats; the whole server's, any other client included);
	// < 0 unknown.
	redisCmds, redisReads float64
	bare                  bool   // the ceiling: a server without the stack behind it
	form                  string // the adapter's runs: fixturegen.FormXML or FormJSON
}

// measure runs the load mode against base while watching pid.
func (b *bench) measure(ctx context.Context, name, base string, pid int, o replay.LoadOptions) (row, error) {
	r := row{name: name, cpuPerReq: -1, peakMB: -1, load: loadAverage(), redisCmds: -1, redisReads: -1}
	o.BaseURL = base
	o.Concurrency, o.Warmup, o.Duration = b.cfg.concurrency, b.cfg.warmup, b.cfg.duration
	o.Timeout = 30 * time.Second
	o.Progress = b.log
	o.Client = replay.NewClient(o.Concurrency)
	_, _ = fmt.Fprintf(b.log, "dvc-bench: %s (load average %s)\n", name, r.load)
	rss := watchRSS(pid)
	cpu := measureCPU(pid)
	others := []*cpuSince{measureCPU(b.treasury.pid()), measureCPU(redisPID(ctx, b.redisURL)), measureCPU(os.Getpid())}
	profiled := b.profile(ctx, name, base)
	before, counted := redisStats(ctx, b.redisURL)
	rep, err := replay.Load(ctx, o)
	if after, ok := redisStats(ctx, b.redisURL); counted && ok && rep.Sent > 0 {
		r.redisCmds = float64(after.commands-before.commands) / float64(rep.Sent)
		r.redisReads = float64(after.reads-before.reads) / float64(rep.Sent)
	}
	perReq := func(c *cpuSince) float64 {
		d, err := c.elapsed()
		if err != nil || rep.Sent == 0 {
			return -1
		}
		return float64(d) / float64(time.Millisecond) / float64(rep.Sent)
	}
	cpuPerReq := perReq(cpu)
	r.simCPU, r.redisCPU, r.loadCPU = perReq(others[0]), perReq(others[1]), perReq(others[2])
	r.peakMB = rss.peakMB()
	if perr := <-profiled; perr != nil {
		_, _ = fmt.Fprintf(b.log, "dvc-bench: %s: CPU profile: %v\n", name, perr)
	}
	if err != nil {
		return r, err
	}
	r.cpuPerReq, r.rep = cpuPerReq, rep
	b.unexpected += rep.Unexpected
	return r, nil
}

// profile fetches, with -cpuprofile, the CPU profile of the adapter at base
// over the measured window of a run starting now (after its warm-up) from
// the admin listener's /debug/pprof/profile, with the operator token of the
// embedded configuration, into cpu-<run>.pprof. The channel gets the
// outcome once the profile is written (nil at once without -cpuprofile or
// for a process that is not an adapter).
func (b *bench) profile(ctx context.Context, name, base string) <-chan error {
	done := make(chan error, 1)
	if b.cfg.cpuProfile == "" {
		done <- nil
		return done
	}
	admin, ok := b.admins[base]
	file := filepath.Join(b.cfg.cpuProfile, "cpu-"+profileName(name)+".pprof")
	own := filepath.Join(b.cfg.cpuProfile, "cpu-load-generator-"+profileName(name)+".pprof")
	seconds := max(int(b.cfg.duration/time.Second), 1)
	go func() {
		done <- func() error {
			select {
			case <-time.After(b.cfg.warmup):
			case <-ctx.Done():
				return ctx.Err()
			}
			stop, err := profileSelf(own)
			if err != nil {
				return err
			}
			if ok {
				err = fetchProfile(ctx, admin, "/debug/pprof/profile?seconds="+strconv.Itoa(seconds), file)
			} else {
				select {
				case <-time.After(time.Duration(seconds) * time.Second):
				case <-ctx.Done():
				}
			}
			if serr := stop(); err == nil {
				err = serr
			}
			if err != nil {
				return err
			}
			if ok {
				_, _ = fmt.Fprintf(b.log, "dvc-bench: CPU profile of %q in %s\n", name, file)
			}
			_, _ = fmt.Fprintf(b.log, "dvc-bench: CPU profile of the load generator in %s\n", own)
			return nil
		}()
	}()
	return done
}

// profileSelf starts this process's CPU profile into file (the load
// generator's); stop ends it and closes the file.
func profileSelf(file string) (stop func() error, err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// fetchProfile writes what the admin listener at admin answers to pathQuery
// (a /debug/pprof route), asked with the operator token, into file, creating
// its directory.
func fetchProfile(ctx context.Context, admin, pathQuery, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+pathQuery, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", req.URL.Path, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// operatorToken is the admin credential of the embedded configuration
// (configs/local.yaml), which the benchmark's adapters run on.
const operatorToken = "dev-operator-token"

// profileName turns a run's name into a file name part: "adapter, XML, 64
// clients" → "adapter-xml-64-clients".
func profileName(name string) string {
	var sb strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			sb.WriteRune(r)
			dash = false
		} else if !dash && sb.Len() > 0 {
			sb.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(sb.String(), "-")
}

// sized signs the pool of one form. With size > 0 it signs that many;
// with 0 it first sends a probe pool for a few seconds to estimate the
// adapter's rate, then signs what the warm-up and the window need at that
// rate, three times over (the rate grows once the adapter is warm).
func (b *bench) sized(ctx context.Context, form string, size int, base string, next *int) ([]fixturegen.LoadDossier, []fixturegen.LoadFile, error) {
	if size > 0 {
		pool, files, err := b.pool(form, nil, *next, size, 0)
		*next += size
		return pool, files, err
	}
	probeN := max(8*b.cfg.concurrency, 500)
	probe, files, err := b.pool(form, nil, *next, probeN, 0)
	if err != nil {
		return nil, nil, err
	}
	*next += probeN
	rep, err := replay.Load(ctx, replay.LoadOptions{BaseURL: base, Client: replay.NewClient(b.cfg.concurrency), Dossiers: probe, Files: files,
		Concurrency: b.cfg.concurrency, Duration: 3 * time.Second, Timeout: 30 * time.Second})
	if err != nil {
		return nil, nil, err
	}
	rate := float64(rep.Sent) / max(rep.WindowS, 0.1)
	n := int(math.Ceil(rate*3*(b.cfg.warmup+b.cfg.duration).Seconds())) + b.cfg.concurrency
	_, _ = fmt.Fprintf(b.log, "dvc-bench: probe: %d %s answers in %.1fs (%.0f/s): signing %d for the run\n", rep.Sent, form, rep.WindowS, rate, n)
	pool, files, err := b.pool(form, nil, *next, n, 0)
	*next += n
	return pool, files, err
}

// run is make bench-e2e.
func (b *bench) run(ctx context.Context, stdout io.Writer) error {
	adapter, base, err := b.startAdapter("load")
	if err != nil {
		return err
	}
	defer adapter.stop()
	next := 1
	var rows []row
	xmlPool, files, err := b.sized(ctx, fixturegen.FormXML, b.cfg.xmlPool, base, &next)
	if err != nil {
		return err
	}
	r, err := b.measure(ctx, fmt.Sprintf("adapter, XML, %d clients", b.cfg.concurrency), base, adapter.pid(),
		replay.LoadOptions{Dossiers: xmlPool, Files: files})
	if err != nil {
		return err
	}
	r.form = fixturegen.FormXML
	rows = append(rows, r)
	jsonPool, files, err := b.sized(ctx, fixturegen.FormJSON, b.cfg.jsonPool, base, &next)
	if err != nil {
		return err
	}
	r, err = b.measure(ctx, fmt.Sprintf("adapter, JSON, %d clients", b.cfg.concurrency), base, adapter.pid(),
		replay.LoadOptions{Dossiers: jsonPool, Files: files})
	adapter.stop()
	if err != nil {
		return err
	}
	r.form = fixturegen.FormJSON
	rows = append(rows, r)

	bareAddr, err := freeAddr()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bare, err := startProc("bare-server", self, []string{"bare", "-addr", bareAddr}, nil, ".", filepath.Join(b.tmp, "bare.log"))
	if err != nil {
		return err
	}
	if err := bare.waitReady("http://" + bareAddr + "/"); err != nil {
		bare.stop()
		return err
	}
	r, err = b.measure(ctx, fmt.Sprintf("bare 200-OK Go server, XML bodies, %d clients (ceiling)", b.cfg.concurrency), "http://"+bareAddr, bare.pid(),
		replay.LoadOptions{Dossiers: xmlPool, Cycle: true, Expect: http.StatusOK})
	bare.stop()
	if err != nil {
		return err
	}
	r.bare = true
	rows = append(rows, r)

	var pay *payrollResult
	if b.cfg.payroll > 0 {
		if pay, err = b.payroll(ctx); err != nil {
			return err
		}
	}
	return writeTable(stdout, b.cfg, rows, pay)
}

// payrollResult is the payroll case.
type payrollResult struct {
	lines, bytes int
	times        []time.Duration
	retries      []int
	answers      []string
	peakMB       float64
	load         string
}

// payroll sends cfg.payroll payroll dossiers at once to a fresh adapter;
// each client retries a 503 server-busy after its Retry-After, as a
// client of the cap on large bodies does.
func (b *bench) payroll(ctx context.Context) (*payrollResult, error) {
	pool, files, err := b.pool(fixturegen.FormXML, []string{"chi-thuong-xuyen"}, 9_000_000, b.cfg.payroll, b.cfg.payrollLines)
	if err != nil {
		return nil, err
	}
	adapter, base, err := b.startAdapter("payroll")
	if err != nil {
		return nil, err
	}
	defer adapter.stop()
	client := replay.NewClient(b.cfg.payroll)
	if err := replay.UploadFiles(ctx, client, base, files); err != nil {
		return nil, err
	}
	res := &payrollResult{lines: b.cfg.payrollLines, bytes: len(pool[0].Body), times: make([]time.Duration, len(pool)),
		retries: make([]int, len(pool)), answers: make([]string, len(pool)), load: loadAverage()}
	_, _ = fmt.Fprintf(b.log, "dvc-bench: %d payroll dossiers of %d lines (%.2f MB) at once (load average %s)\n",
		len(pool), b.cfg.payrollLines, float64(res.bytes)/1e6, res.load)
	rss := watchRSS(adapter.pid())
	var wg sync.WaitGroup
	for i, d := range pool {
		wg.Go(func() {
			start := time.Now()
			for {
				status, code, retryAfter, err := replay.SendDossier(ctx, client, base, d)
				switch {
				case err != nil:
					res.answers[i] = "error: " + err.Error()
				case status == http.StatusServiceUnavailable && code == "server-busy":
					res.retries[i]++
					select {
					case <-time.After(retryAfter):
						continue
					case <-ctx.Done():
						res.answers[i] = "cancelled"
					}
				default:
					res.answers[i] = strings.TrimSpace(strconv.Itoa(status) + " " + code)
				}
				break
			}
			res.times[i] = time.Since(start)
		})
	}
	wg.Wait()
	res.peakMB = rss.peakMB()
	for _, a := range res.answers {
		if a != "202" {
			b.unexpected++
		}
	}
	return res, nil
}

// writeTable prints the results as Markdown tables.
func writeTable(w io.Writer, cfg config, rows []row, pay *payrollResult) error {
	var s strings.Builder
	fmt.Fprintf(&s, "\nEnd to end on %d CPUs (GOMAXPROCS %d; the load generator, the adapter, Redis and the simulators share them); warm-up %s, measured %s each.\n\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), cfg.warmup, cfg.duration)
	s.WriteString("| run | answers/s | p50 ms | p90 ms | p99 ms | max ms | unexpected | server CPU ms/request | server peak RSS MB | load avg before | treasury-sim / Redis / load generator CPU ms/request |\n")
	s.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		name := r.name
		if r.rep.Exhausted {
			name += fmt.Sprintf(" (pool used up after %.1fs)", r.rep.WindowS)
		}
		fmt.Fprintf(&s, "| %s | %.0f | %.1f | %.1f | %.1f | %.1f | %d%s | %s | %s | %s | %s / %s / %s |\n", name, r.rep.Throughput,
			r.rep.P50, r.rep.P90, r.rep.P99, r.rep.Max, r.rep.Unexpected, unexpectedDetail(r.rep), orUnknown(r.cpuPerReq, 2), orUnknown(r.peakMB, 0), r.load,
			orUnknown(r.simCPU, 2), orUnknown(r.redisCPU, 2), orUnknown(r.loadCPU, 2))
	}
	writeBounds(&s, runtime.NumCPU(), rows)
	writeRedisWork(&s, rows)
	if pay != nil {
		fmt.Fprintf(&s, "\n%d concurrent payroll dossiers (chi-thuong-xuyen XML, %d lines, %.2f MB each) on a fresh adapter (load avg before %s); a 503 server-busy is retried after its Retry-After:\n\n",
			len(pay.times), pay.lines, float64(pay.bytes)/1e6, pay.load)
		s.WriteString("| dossier | answer | time s | server-busy retries |\n|---|---|---|---|\n")
		for i := range pay.times {
			fmt.Fprintf(&s, "| %d | %s | %.2f | %d |\n", i+1, pay.answers[i], pay.times[i].Seconds(), pay.retries[i])
		}
		fmt.Fprintf(&s, "\nadapter peak RSS during the payroll case: %.0f MB (target < %d MB)\n", pay.peakMB, targetPayrollMB)
	}
	writeTargets(&s, rows, pay)
	_, err := io.WriteString(w, s.String())
	return err
}

// The end-to-end targets of the adapter's speed work, as the team set
// them: XML and JSON rates (XML with its p99), no unexpected answer, the
// payroll case's peak RSS.
const (
	targetXMLPerSecond  = 1500
	targetXMLP99Ms      = 100
	targetJSONPerSecond = 3000
	targetPayrollMB     = 250
)

// writeTargets prints each end-to-end target, met or not, with what the
// run measured; a target the run did not measure says so.
func writeTargets(s *strings.Builder, rows []row, pay *payrollResult) {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	s.WriteString("\nAgainst the targets:\n\n")
	unexpected, runs := 0, 0
	for _, form := range []string{fixturegen.FormXML, fixturegen.FormJSON} {
		i := slices.IndexFunc(rows, func(r row) bool { return r.form == form })
		switch {
		case i < 0:
			fmt.Fprintf(s, "* %s: not measured\n", strings.ToUpper(form))
		case form == fixturegen.FormXML:
			r := rows[i].rep
			fmt.Fprintf(s, "* XML ≥ %d submissions/s with p99 < %d ms: %s (%.0f/s, p99 %.1f ms)\n", targetXMLPerSecond, targetXMLP99Ms,
				verdict(r.Throughput >= targetXMLPerSecond && r.P99 < targetXMLP99Ms), r.Throughput, r.P99)
		default:
			r := rows[i].rep
			fmt.Fprintf(s, "* JSON ≥ %d submissions/s: %s (%.0f/s)\n", targetJSONPerSecond, verdict(r.Throughput >= targetJSONPerSecond), r.Throughput)
		}
		if i >= 0 {
			unexpected += rows[i].rep.Unexpected
			runs++
		}
	}
	if runs > 0 {
		fmt.Fprintf(s, "* no unexpected answer in the adapter's runs: %s (%d)\n", verdict(unexpected == 0), unexpected)
	}
	if pay == nil {
		fmt.Fprintf(s, "* payroll dossiers under %d MB RSS: not measured (-payroll 0)\n", targetPayrollMB)
		return
	}
	bad := 0
	for _, a := range pay.answers {
		if a != "202" {
			bad++
		}
	}
	fmt.Fprintf(s, "* %d concurrent payroll dossiers accepted under %d MB RSS: %s (%.0f MB, %d not accepted)\n", len(pay.answers), targetPayrollMB,
		verdict(bad == 0 && pay.peakMB >= 0 && pay.peakMB < targetPayrollMB), pay.peakMB, bad)
}

// writeBounds prints, for each run whose every CPU column is known, the
// rates the CPU time spent allows on cpus: the whole stack's (no higher
// rate fits on this machine, whatever the latency), the server's alone
// (its processes elsewhere, as in production) and the rest of the stack's
// (the treasury simulator, Redis and the load generator: no server,
// however cheap, answers faster on this machine; the portal simulator,
// idle without callbacks, is not counted). All are bounds from the CPU
// accounting, not measurements.
func writeBounds(s *strings.Builder, cpus int, rows []row) {
	first := true
	for _, r := range rows {
		parts := []float64{r.cpuPerReq, r.simCPU, r.redisCPU, r.loadCPU}
		total := 0.0
		for _, v := range parts {
			if v < 0 {
				total = -1
				break
			}
			total += v
		}
		if total <= 0 || r.cpuPerReq <= 0 || r.bare {
			continue // unknown, or a server without the stack
		}
		if first {
			fmt.Fprintf(s, "\nCPU bounds on %d CPUs (%d ms of CPU per second; from the CPU columns, not measured):\n\n", cpus, cpus*1000)
			s.WriteString("| run | stack CPU ms/request | at most, all on this machine | server CPU ms/request | at most, the server alone on it | the rest of the stack ms/request | at most, were the server free |\n|---|---|---|---|---|---|---|\n")
			first = false
		}
		rest := total - r.cpuPerReq
		fmt.Fprintf(s, "| %s | %.2f | %.0f/s | %.2f | %.0f/s | %.2f | %s |\n", r.name, total, float64(cpus)*1000/total,
			r.cpuPerReq, float64(cpus)*1000/r.cpuPerReq, rest, perSecond(float64(cpus)*1000, rest))
	}
}

// writeRedisWork prints, for each run of the adapter whose Redis counters
// are known, Redis's commands and reads from its clients per request: a
// figure of the stack's design that the machine's speed does not move (a
// round trip is a read; the outbox's polling and other clients of the same
// server add a little).
func writeRedisWork(s *strings.Builder, rows []row) {
	first := true
	for _, r := range rows {
		if r.bare || r.redisCmds < 0 || r.redisReads < 0 {
			continue
		}
		if first {
			s.WriteString("\nRedis's work per request (INFO stats over the run, warm-up included; the whole server's):\n\n")
			s.WriteString("| run | commands/request | reads from clients (round trips)/request |\n|---|---|---|\n")
			first = false
		}
		fmt.Fprintf(s, "| %s | %.1f | %.2f |\n", r.name, r.redisCmds, r.redisReads)
	}
}

// perSecond is how many requests of cost ms of CPU each budget ms of CPU
// per second allows ("unbounded" for a cost of zero).
func perSecond(budget, cost float64) string {
	if cost <= 0 {
		return "unbounded"
	}
	return fmt.Sprintf("%.0f/s", budget/cost)
}

func unexpectedDetail(r replay.LoadReport) string {
	if r.Unexpected == 0 {
		return ""
	}
	var parts []string
	for k, n := range r.Answers {
		if k != "202" && k != "200" {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func orUnknown(v float64, prec int) string {
	if v < 0 {
		return "?"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}
