package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/fixturegen"
)

// loadTarget answers each dossier 202, but 409 dossier-already-submitted
// for a code it has seen, and 503 server-busy for the codes in busy; it
// keeps the uploads.
type loadTarget struct {
	mu      sync.Mutex
	seen    map[string]bool
	busy    map[string]bool
	uploads []string
}

func (f *loadTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodPut {
		f.uploads = append(f.uploads, r.URL.Path)
		w.WriteHeader(http.StatusCreated)
		return
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(r.Body)
	code := buf.String()
	switch {
	case f.busy[code]:
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprint(w, `{"status":503,"code":"server-busy"}`)
	case f.seen[code]:
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusConflict)
		_, _ = fmt.Fprint(w, `{"status":409,"code":"dossier-already-submitted"}`)
	default:
		f.seen[code] = true
		w.WriteHeader(http.StatusAccepted)
	}
}

func pool(codes ...string) []fixturegen.LoadDossier {
	var out []fixturegen.LoadDossier
	for i, c := range codes {
		out = append(out, fixturegen.LoadDossier{Procedure: "chi-thuong-xuyen", Code: c, JSON: i%2 == 1, Body: []byte(c),
			Header: http.Header{"Content-Type": {"application/xml"}}})
	}
	return out
}

func TestLoadCountsEveryUnexpectedAnswer(t *testing.T) {
	t.Parallel()
	target := &loadTarget{seen: map[string]bool{}, busy: map[string]bool{"c5": true}}
	srv := httptest.NewServer(target)
	t.Cleanup(srv.Close)
	var progress bytes.Buffer
	rep, err := Load(context.Background(), LoadOptions{
		BaseURL:  srv.URL,
		Dossiers: pool("c1", "c2", "c3", "c1", "c5", "c6"), // c1 twice: 409 the second time
		Files:    []fixturegen.LoadFile{{Name: "a.pdf", SHA256: "abc", Data: []byte("a")}},
		Duration: 10 * time.Second, Concurrency: 1, Progress: &progress, ProgressEvery: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Exhausted || rep.Sent != 6 || rep.Unexpected != 2 {
		t.Errorf("exhausted %v, sent %d, unexpected %d; want true, 6, 2", rep.Exhausted, rep.Sent, rep.Unexpected)
	}
	want := map[string]int{"202": 4, "409 dossier-already-submitted": 1, "503 server-busy": 1}
	if fmt.Sprint(rep.Answers) != fmt.Sprint(want) {
		t.Errorf("answers %v, want %v", rep.Answers, want)
	}
	if len(target.uploads) != 1 || target.uploads[0] != "/v1/attachments/abc" {
		t.Errorf("uploads %v", target.uploads)
	}
	if rep.Measured != 6 || rep.P50 <= 0 || rep.Max < rep.P99 || rep.P99 < rep.P90 || rep.P90 < rep.P50 {
		t.Errorf("measured %d, p50 %v p90 %v p99 %v max %v", rep.Measured, rep.P50, rep.P90, rep.P99, rep.Max)
	}
	var sum strings.Builder
	if err := WriteLoadSummary(&sum, rep, 0); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"! answer 409 dossier-already-submitted", "! answer 503 server-busy", "  answer 202 ", "2 unexpected answers", "the pool ran out"} {
		if !strings.Contains(sum.String(), line) {
			t.Errorf("summary lacks %q:\n%s", line, sum.String())
		}
	}
	var junit bytes.Buffer
	if err := WriteJUnit(&junit, "load", LoadResults(rep, 0)); err != nil {
		t.Fatal(err)
	}
	// Odd indexes are JSON: the repeated c1 (index 3) fails the JSON group,
	// c5 (index 4) the XML group.
	for _, s := range []string{`tests="2" failures="2"`, "1 of 3 answers unexpected: 409 dossier-already-submitted ×1", "1 of 3 answers unexpected: 503 server-busy ×1"} {
		if !strings.Contains(junit.String(), s) {
			t.Errorf("junit lacks %q:\n%s", s, junit.String())
		}
	}
}

func TestLoadStopsAtTheDuration(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(&loadTarget{seen: map[string]bool{}})
	t.Cleanup(srv.Close)
	codes := make([]string, 1000)
	for i := range codes {
		codes[i] = fmt.Sprint("c", i)
	}
	rep, err := Load(context.Background(), LoadOptions{BaseURL: srv.URL, Dossiers: pool(codes...),
		Rate: 100, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	// 100/s for 0.25 s is about 25 sends; the pool holds 1000.
	if rep.Exhausted || rep.Sent == 0 || rep.Sent > 100 || rep.Unexpected != 0 || rep.WindowS != 0.2 {
		t.Errorf("exhausted %v, sent %d, unexpected %d, window %v", rep.Exhausted, rep.Sent, rep.Unexpected, rep.WindowS)
	}
}

// A cycled pool is sent again from its start until the duration ends.
func TestLoadCyclesThePool(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(&loadTarget{seen: map[string]bool{}})
	t.Cleanup(srv.Close)
	rep, err := Load(context.Background(), LoadOptions{BaseURL: srv.URL, Dossiers: pool("a", "b"), Cycle: true,
		Rate: 200, Duration: 100 * time.Millisecond, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Exhausted || rep.Sent <= 2 || rep.Answers["202"] != 2 || rep.Answers["409 dossier-already-submitted"] != rep.Sent-2 {
		t.Errorf("exhausted %v, sent %d, answers %v", rep.Exhausted, rep.Sent, rep.Answers)
	}
}

func TestLoadMainAgainstAFakeAdapter(t *testing.T) {
	t.Parallel()
	target := &loadTarget{seen: map[string]bool{}}
	srv := httptest.NewTLSServer(target) // the load mode reads -cacert like the replay
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	junit, report := filepath.Join(dir, "j.xml"), filepath.Join(dir, "r.json")
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	root := filepath.Join("..", "..", "..")
	status := Main(context.Background(), []string{"load", "-addr", srv.URL, "-cacert", ca, "-templates", filepath.Join(root, "testdata", "templates"),
		"-pki", filepath.Join(root, "testdata", "pki"), "-form", "mixed", "-pool", "8", "-warmup", "0s", "-duration", "5s",
		"-run-tag", "T", "-junit", junit, "-report", report}, &stdout, &stderr)
	if status != ExitOK {
		t.Fatalf("status %d\nstdout:\n%s\nstderr:\n%s", status, stdout.String(), stderr.String())
	}
	for _, s := range []string{"pool: 8 mixed dossiers (run tag T)", "answer 202 ", "0 unexpected answers"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
		}
	}
	if len(target.seen) != 8 || len(target.uploads) == 0 {
		t.Errorf("%d distinct dossiers, %d uploads", len(target.seen), len(target.uploads))
	}
	var rep LoadReport
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil || rep.Sent != 8 || len(rep.Groups) != 8 {
		t.Errorf("report: %v, sent %d, %d groups", err, rep.Sent, len(rep.Groups))
	}
	if data, err := os.ReadFile(junit); err != nil || !bytes.Contains(data, []byte(`tests="8" failures="0"`)) {
		t.Errorf("junit: %v\n%s", err, data)
	}

	for _, args := range [][]string{{"load", "-form", "yaml"}, {"load", "-duration", "0s"}, {"load", "-concurrency", "0"}} {
		if got := Main(context.Background(), args, &stdout, &stderr); got != ExitUsage {
			t.Errorf("%v: status %d, want %d", args, got, ExitUsage)
		}
	}
}
