package replay

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type fixtureSpec struct{ procedure, name, answer, expect string }

// passing is a fixture set the fake adapter answers as expected.
var passing = []fixtureSpec{
	{"chi-thuong-xuyen", "valid-json", "202", `{"status":202}`},
	{"chi-thuong-xuyen", "bad-signature", "400 signature-invalid", `{"status":400,"code":"signature-invalid"}`},
	{"von-dau-tu", "valid-json", "202", `{"status":202}`},
}

func TestMainExitStatus(t *testing.T) {
	t.Parallel()
	mismatch := append(append([]fixtureSpec(nil), passing...),
		fixtureSpec{"von-dau-tu", "expired", "400 signature-invalid", `{"status":400,"code":"certificate-expired"}`})
	rejectedButFiled := append(append([]fixtureSpec(nil), passing...),
		fixtureSpec{"von-dau-tu", "refused", "422 treasury-refused", `{"status":422,"code":"treasury-refused"}`})

	tests := []struct {
		name     string
		fixtures []fixtureSpec
		args     []string // -addr, -fixtures (and -treasury with "TREASURY") are added
		extra    []Document
		treasury int // status of /sim/documents; 0 = 200
		want     int
		lastLine string   // "" = not checked
		contains []string // in stdout
		stderr   string   // substring of stderr
		requests int      // -1 = not checked
	}{
		{name: "all pass", fixtures: passing, want: ExitOK, lastLine: "3 passed, 0 failed", requests: 3,
			contains: []string{"PASS chi-thuong-xuyen/bad-signature status=400 code=signature-invalid (expected 400 signature-invalid) ", "von-dau-tu            1       1       0"}},
		{name: "mismatch fails the run", fixtures: mismatch, want: ExitMismatch, lastLine: "3 passed, 1 failed", requests: 4,
			contains: []string{"FAIL von-dau-tu/expired status=400 code=signature-invalid (expected 400 certificate-expired) ", "von-dau-tu            2       1       1"}},
		{name: "concurrency, rate and repeat", fixtures: passing, args: []string{"-concurrency", "3", "-rate", "1000", "-repeat", "2"},
			want: ExitOK, lastLine: "3 passed, 0 failed", requests: 6, contains: []string{"valid-json#2 "}},
		{name: "procedure filter", fixtures: mismatch, args: []string{"-procedure", "chi-thuong-xuyen"}, want: ExitOK, lastLine: "2 passed, 0 failed", requests: 2},
		{name: "case filter", fixtures: mismatch, args: []string{"-case", "valid"}, want: ExitOK, lastLine: "2 passed, 0 failed", requests: 2},
		{name: "nothing selected", fixtures: passing, args: []string{"-procedure", "tai-khoan"}, want: ExitUsage, stderr: "no fixtures", requests: 0},
		{name: "unknown flag", fixtures: passing, args: []string{"-bogus"}, want: ExitUsage, stderr: "flag provided but not defined", requests: 0},
		{name: "bad value", fixtures: passing, args: []string{"-concurrency", "0"}, want: ExitUsage, stderr: "-concurrency must be >= 1", requests: 0},
		{name: "stray argument", fixtures: passing, args: []string{"now"}, want: ExitUsage, stderr: "unexpected arguments", requests: 0},
		{name: "help", fixtures: passing, args: []string{"-h"}, want: ExitOK, stderr: "usage: dvc-replay", requests: 0},
		{name: "malformed fixture", fixtures: append([]fixtureSpec{{"tai-khoan", "broken", "202", `{"status":202,"x":1}`}}, passing...),
			want: ExitUsage, stderr: filepath.Join("tai-khoan", "broken", "expect.json"), requests: 0},
		{name: "treasury consistent", fixtures: passing, args: []string{"-treasury", "TREASURY"}, want: ExitOK, lastLine: "3 passed, 0 failed", requests: 3},
		{name: "treasury duplicate", fixtures: passing, args: []string{"-treasury", "TREASURY"},
			extra: []Document{{Procedure: "von-dau-tu", DossierCode: "HS-valid-json"}}, want: ExitMismatch, lastLine: "2 passed, 1 failed", requests: 3,
			contains: []string{"FAIL von-dau-tu/valid-json treasury: accepted dossier HS-valid-json has 2 documents, want exactly 1"}},
		{name: "treasury holds a rejected dossier", fixtures: rejectedButFiled, args: []string{"-treasury", "TREASURY"},
			extra: []Document{{Procedure: "von-dau-tu", DossierCode: "HS-refused"}}, want: ExitMismatch, lastLine: "3 passed, 1 failed", requests: 4,
			contains: []string{"FAIL von-dau-tu/refused treasury: rejected dossier HS-refused has 1 document, want none"}},
		{name: "treasury unreadable", fixtures: passing, args: []string{"-treasury", "TREASURY"}, treasury: 500,
			want: ExitUsage, lastLine: "3 passed, 0 failed", stderr: "status 500", requests: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			for _, f := range tt.fixtures {
				writeFixture(t, root, f.procedure, f.name, f.answer, f.expect)
			}
			adapter, srv := startAdapter(t)
			treasury := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.treasury != 0 {
					w.WriteHeader(tt.treasury)
					return
				}
				adapter.mu.Lock()
				docs := append(append([]Document(nil), adapter.docs...), tt.extra...)
				adapter.mu.Unlock()
				_ = json.NewEncoder(w).Encode(docs)
			}))
			defer treasury.Close()

			args := []string{"-addr", srv.URL, "-fixtures", root}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "TREASURY", treasury.URL))
			}
			var stdout, stderr strings.Builder
			got := Main(t.Context(), args, &stdout, &stderr)
			if got != tt.want {
				t.Errorf("Main() = %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tt.want, stdout.String(), stderr.String())
			}
			lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
			if tt.lastLine != "" && lines[len(lines)-1] != tt.lastLine {
				t.Errorf("last line = %q, want %q", lines[len(lines)-1], tt.lastLine)
			}
			for _, want := range tt.contains {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr.String())
			}
			if n := len(adapter.received()); tt.requests >= 0 && n != tt.requests {
				t.Errorf("adapter got %d requests, want %d", n, tt.requests)
			}
		})
	}
}

func TestMainJUnit(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, f := range passing {
		writeFixture(t, root, f.procedure, f.name, f.answer, f.expect)
	}
	writeFixture(t, root, "von-dau-tu", "wrong", "202", `{"status":400,"code":"signature-invalid"}`)
	_, srv := startAdapter(t)
	tests := []struct {
		name string
		path string
		want int
	}{
		{name: "written", path: filepath.Join(t.TempDir(), "report.xml"), want: ExitMismatch},
		{name: "unwritable", path: filepath.Join(t.TempDir(), "missing", "report.xml"), want: ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr strings.Builder
			got := Main(t.Context(), []string{"-addr", srv.URL, "-fixtures", root, "-junit", tt.path}, &stdout, &stderr)
			if got != tt.want {
				t.Fatalf("Main() = %d, want %d; stderr %s", got, tt.want, stderr.String())
			}
			if tt.want == ExitUsage {
				if !strings.Contains(stderr.String(), "junit") {
					t.Errorf("stderr = %q", stderr.String())
				}
				return
			}
			data, err := os.ReadFile(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			var report readSuites
			if err := xml.Unmarshal(data, &report); err != nil {
				t.Fatalf("report: %v\n%s", err, data)
			}
			if report.Tests != 4 || report.Failures != 1 || report.Errors != 0 || len(report.Suites) != 2 {
				t.Fatalf("report totals = %+v", report)
			}
		})
	}
}

func TestMainAdapterDown(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeFixture(t, root, "tai-khoan", "valid", "202", `{"status":202}`)
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	var stdout, stderr strings.Builder
	if got := Main(t.Context(), []string{"-addr", addr, "-fixtures", root, "-timeout", "5s"}, &stdout, &stderr); got != ExitMismatch {
		t.Fatalf("Main() = %d, want %d", got, ExitMismatch)
	}
	if !strings.Contains(stdout.String(), "FAIL tai-khoan/valid status=- code=- (expected 202)") ||
		!strings.HasSuffix(stdout.String(), "0 passed, 1 failed\n") {
		t.Fatalf("stdout:\n%s", stdout.String())
	}
}
