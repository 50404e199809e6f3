package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/fixturegen"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
	"github.com/kbnn/dvc/adapter/testkit/replay"
)

func TestProcReadings(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Fatalf("this tool reads /proc (Linux): %v", err)
	}
	pid := os.Getpid()
	before, err := cpuTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if after, _ := cpuTime(pid); after > before {
			break
		}
		_ = bytes.Repeat([]byte("x"), 1<<16) // burn CPU until a tick is counted
	}
	if after, err := cpuTime(pid); err != nil || after <= before {
		t.Errorf("CPU time %v then %v (%v): does not grow", before, after, err)
	}
	w := watchRSS(pid)
	if mb := w.peakMB(); mb <= 1 || mb > 1e5 {
		t.Errorf("peak RSS %.1f MB", mb)
	}
	if la := loadAverage(); la == "?" || len(strings.Fields(la)) != 3 {
		t.Errorf("load average %q", la)
	}
}

func TestBareServerAnswers200(t *testing.T) {
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- bareMain(ctx, []string{"-addr", addr}, io.Discard) }()
	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; {
		if resp, err = http.Post("http://"+addr+"/v1/procedures/x/dossiers", "application/xml", strings.NewReader("<a/>")); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // the server starts in its goroutine
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
	cancel()
	if status := <-done; status != 0 {
		t.Errorf("exit status %d", status)
	}
}

func TestTable(t *testing.T) {
	rows := []row{
		{name: "adapter, XML, 64 clients", rep: replay.LoadReport{Throughput: 612.4, P50: 80, P90: 100, P99: 150.25, Max: 300, Answers: map[string]int{"202": 10}},
			cpuPerReq: 2.5, peakMB: 90, load: "1.00 1.00 1.00", simCPU: 0.554, redisCPU: 0.38, loadCPU: 0.2},
		{name: "adapter, JSON, 64 clients", rep: replay.LoadReport{Throughput: 900, Unexpected: 2, Exhausted: true, WindowS: 12.5,
			Answers: map[string]int{"202": 10, "409 dossier-already-submitted": 2}}, cpuPerReq: -1, peakMB: -1, simCPU: -1, redisCPU: -1, loadCPU: 0.1},
	}
	pay := &payrollResult{lines: 5000, bytes: 1_700_000, times: []time.Duration{3 * time.Second}, retries: []int{2}, answers: []string{"202"}, peakMB: 210}
	var b bytes.Buffer
	if err := writeTable(&b, config{warmup: 3 * time.Second, duration: 20 * time.Second}, rows, pay); err != nil {
		t.Fatal(err)
	}

	for _, s := range []string{
		"| adapter, XML, 64 clients | 612 | 80.0 | 100.0 | 150.2 | 300.0 | 0 | 2.50 | 90 | 1.00 1.00 1.00 | 0.55 / 0.38 / 0.20 |",
		"| ? / ? / 0.10 |",
		"(pool used up after 12.5s)", "| 2 (409 dossier-already-submitted ×2) | ? | ? |",
		"| 1 | 202 | 3.00 | 2 |", "adapter peak RSS during the payroll case: 210 MB (target < 250 MB)",
		"CPU bounds on", "Against the targets:",
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
}

// The CPU bounds: the whole stack's CPU per request and the server's
// alone, against the CPUs' time; none for a run with an unknown column or
// for the bare server, which has no stack.
func TestBounds(t *testing.T) {
	rows := []row{
		{name: "adapter, XML, 64 clients", cpuPerReq: 2.5, simCPU: 0.554, redisCPU: 0.38, loadCPU: 0.2},
		{name: "adapter, JSON, 64 clients", cpuPerReq: 1.2, simCPU: -1, redisCPU: 0.3, loadCPU: 0.1},
		{name: "bare 200-OK Go server", cpuPerReq: 0.04, simCPU: 0.001, redisCPU: 0.002, loadCPU: 0.06, bare: true},
	}
	var s strings.Builder
	writeBounds(&s, 2, rows)
	// 2.5 + 0.554 + 0.38 + 0.2 = 3.634 ms: 2,000/3.634 = 550/s; 2,000/2.5 = 800/s;
	// the rest, 1.134 ms: 2,000/1.134 = 1,764/s
	if want := "| adapter, XML, 64 clients | 3.63 | 550/s | 2.50 | 800/s | 1.13 | 1764/s |"; !strings.Contains(s.String(), want) {
		t.Errorf("bounds lack %q:\n%s", want, s.String())
	}
	if strings.Contains(s.String(), "JSON") || strings.Contains(s.String(), "bare") {
		t.Errorf("bounds for a run without them:\n%s", s.String())
	}
	s.Reset()
	writeBounds(&s, 2, rows[1:])
	if s.Len() != 0 {
		t.Errorf("bounds without a run that has them:\n%s", s.String())
	}
}

// Each target is met or not as the run measured it; one the run did not
// measure says so.
func TestTargets(t *testing.T) {
	xml := row{form: fixturegen.FormXML, rep: replay.LoadReport{Throughput: 1600, P99: 99.9}}
	json := row{form: fixturegen.FormJSON, rep: replay.LoadReport{Throughput: 2999}}
	pay := &payrollResult{answers: []string{"202", "202"}, peakMB: 249}
	for _, c := range []struct {
		name string
		rows []row
		pay  *payrollResult
		want []string
	}{
		{"as measured", []row{xml, json}, pay, []string{
			"* XML ≥ 1500 submissions/s with p99 < 100 ms: met (1600/s, p99 99.9 ms)",
			"* JSON ≥ 3000 submissions/s: **not met** (2999/s)",
			"* no unexpected answer in the adapter's runs: met (0)",
			"* 2 concurrent payroll dossiers accepted under 250 MB RSS: met (249 MB, 0 not accepted)"}},
		{"p99 too long", []row{{form: fixturegen.FormXML, rep: replay.LoadReport{Throughput: 2000, P99: 100}}}, nil, []string{
			"* XML ≥ 1500 submissions/s with p99 < 100 ms: **not met** (2000/s, p99 100.0 ms)",
			"* JSON: not measured", "payroll dossiers under 250 MB RSS: not measured (-payroll 0)"}},
		{"unexpected answers, a refused payroll", []row{{form: fixturegen.FormJSON, rep: replay.LoadReport{Throughput: 3000, Unexpected: 3}}},
			&payrollResult{answers: []string{"202", "503 server-busy"}, peakMB: 100}, []string{
				"* JSON ≥ 3000 submissions/s: met (3000/s)",
				"* no unexpected answer in the adapter's runs: **not met** (3)",
				"accepted under 250 MB RSS: **not met** (100 MB, 1 not accepted)"}},
		{"payroll over the memory", []row{xml}, &payrollResult{answers: []string{"202"}, peakMB: 250}, []string{
			"accepted under 250 MB RSS: **not met** (250 MB, 0 not accepted)"}},
	} {
		var s strings.Builder
		writeTargets(&s, c.rows, c.pay)
		for _, w := range c.want {
			if !strings.Contains(s.String(), w) {
				t.Errorf("%s: lacks %q:\n%s", c.name, w, s.String())
			}
		}
	}
}

func TestPerSecond(t *testing.T) {
	for _, c := range []struct {
		budget, cost float64
		want         string
	}{{2000, 1.134, "1764/s"}, {2000, 0.5, "4000/s"}, {2000, 0, "unbounded"}} {
		if got := perSecond(c.budget, c.cost); got != c.want {
			t.Errorf("perSecond(%v, %v) = %q, want %q", c.budget, c.cost, got, c.want)
		}
	}
}

// The load generator's own profile is a CPU profile pprof reads, written
// when stopped.
func TestProfileSelf(t *testing.T) {
	if f := flag.Lookup("test.cpuprofile"); f != nil && f.Value.String() != "" {
		t.Skip("go test -cpuprofile holds this process's CPU profile")
	}
	file := filepath.Join(t.TempDir(), "cpu-load-generator.pprof")
	stop, err := profileSelf(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := profileSelf(filepath.Join(t.TempDir(), "second.pprof")); err == nil {
		t.Error("a second profile started while one runs")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// A profile is gzip-compressed protobuf whose string table names its
	// sample type.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a profile (%d bytes): %v", len(raw), err)
	}
	pb, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(pb, []byte("samples")) || !bytes.Contains(pb, []byte("cpu")) {
		t.Errorf("profile of %d bytes names no CPU samples", len(pb))
	}
}

func TestProfileName(t *testing.T) {
	for in, want := range map[string]string{
		"adapter, XML, 64 clients": "adapter-xml-64-clients",
		"XML rate before the soak": "xml-rate-before-the-soak",
		"  odd -- name (ceiling) ": "odd-name-ceiling",
	} {
		if got := profileName(in); got != want {
			t.Errorf("profileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMain(m *testing.M) { redistest.Main(m) }

// The Redis the tests use runs here: its process is found and its CPU
// time read; a server elsewhere is not looked for.
func TestRedisPID(t *testing.T) {
	pid := redisPID(context.Background(), redistest.URL(t))
	if pid <= 0 {
		t.Fatalf("pid %d for the local Redis", pid)
	}
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil || !strings.HasPrefix(string(comm), "redis-server") {
		t.Fatalf("process %d is %q (%v), want redis-server", pid, comm, err)
	}
	if _, err := cpuTime(pid); err != nil {
		t.Fatal(err)
	}
	if pid := redisPID(context.Background(), "redis://192.0.2.1:6379"); pid != 0 {
		t.Fatalf("a remote Redis gave pid %d", pid)
	}
}

func TestParseRedisStats(t *testing.T) {
	info := "# Stats\r\ntotal_connections_received:12\r\ntotal_commands_processed:828851\r\ninstantaneous_ops_per_sec:3\r\ntotal_reads_processed:90210\r\n"
	w, ok := parseRedisStats(info)
	if !ok || w.commands != 828851 || w.reads != 90210 {
		t.Errorf("parsed %+v %v, want 828851 commands and 90210 reads", w, ok)
	}
	for _, bad := range []string{
		"# Stats\r\ntotal_commands_processed:5\r\n", // a server that does not count reads
		"total_commands_processed:x\r\ntotal_reads_processed:1\r\n",
		"",
	} {
		if w, ok := parseRedisStats(bad); ok {
			t.Errorf("%q parsed as %+v", bad, w)
		}
	}
}

// Redis's work per request is printed for the adapter's runs whose counters
// are known, not for the bare server's.
func TestWriteRedisWork(t *testing.T) {
	rows := []row{
		{name: "adapter, XML, 64 clients", redisCmds: 41.25, redisReads: 3.046},
		{name: "adapter, JSON, 64 clients", redisCmds: -1, redisReads: -1},
		{name: "bare 200-OK Go server", redisCmds: 0, redisReads: 0, bare: true},
	}
	var s strings.Builder
	writeRedisWork(&s, rows)
	if want := "| adapter, XML, 64 clients | 41.2 | 3.05 |"; !strings.Contains(s.String(), want) {
		t.Errorf("lacks %q:\n%s", want, s.String())
	}
	if strings.Contains(s.String(), "JSON") || strings.Contains(s.String(), "bare") {
		t.Errorf("a run without counters, or the bare server, printed:\n%s", s.String())
	}
	s.Reset()
	writeRedisWork(&s, rows[1:])
	if s.Len() != 0 {
		t.Errorf("printed without a run that has counters:\n%s", s.String())
	}
}

// Each adapter a run starts has a Redis key prefix of its own under the
// run's (which the run deletes): the payroll case's fresh adapter, with an
// empty evidence directory, is not refused for the checkpoint the load
// adapter anchored, as it was under one shared prefix.
func TestAdaptersHaveKeyPrefixesOfTheirOwn(t *testing.T) {
	b := &bench{prefix: "bench:T:", tmp: t.TempDir()}
	u, err := url.Parse("redis://127.0.0.1:6379/3")
	if err != nil {
		t.Fatal(err)
	}
	prefix := func(name string) string {
		for _, kv := range b.adapterEnv(name, "127.0.0.1:1", "127.0.0.1:2", u) {
			if v, ok := strings.CutPrefix(kv, "DVC_STORE_REDIS_KEYPREFIX="); ok {
				return v
			}
		}
		t.Fatalf("%s: no key prefix", name)
		return ""
	}
	load, payroll := prefix("load"), prefix("payroll")
	if load == payroll || !strings.HasPrefix(load, b.prefix) || !strings.HasPrefix(payroll, b.prefix) {
		t.Fatalf("key prefixes %q and %q: want two, under %q", load, payroll, b.prefix)
	}
}
