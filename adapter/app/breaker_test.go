package app

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

func breakerGauge(t *testing.T, e *env, endpoint string) string {
	t.Helper()
	resp, err := http.Get(e.adminSrv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, `dvc_upstream_breaker_state{endpoint="treasury/`+endpoint+`"}`) {
			return strings.Fields(l)[1]
		}
	}
	return ""
}

// A treasury outage opens the breaker of the first call a submission makes
// after minRequests failures (the dossier lists files, and the adapter is
// set to upload every one: the attachment upload, which comes before the
// document); while open, submissions are refused with Retry-After without a
// call to the treasury; after recovery a probe closes it again.
func TestBreakerOpensAndCloses(t *testing.T) {
	e := startWith(t, func(c *config.Config) {
		c.Treasury.Resilience = config.Resilience{MinRequests: 4, FailureRatio: 0.5,
			OpenTimeout: 300 * time.Millisecond, HalfOpenMax: 1, Retries: -1}
		c.Treasury.InlineAttachmentBytes = -1
	})
	c := fx(t, "von-dau-tu/valid-xml")
	if g := breakerGauge(t, e, "attachment"); g != "0" {
		t.Fatalf("breaker gauge before: %q", g)
	}
	e.treasuryDown.Store(true)
	for i := 0; i < 4; i++ {
		if a := e.send(t, c, ""); a.status != 503 || a.code() != "treasury-unavailable" {
			t.Fatalf("failure %d: %d %s", i, a.status, a.body)
		}
	}
	before := e.documentCalls.Load()
	a := e.send(t, c, "")
	if a.status != 503 || a.code() != "treasury-unavailable" || a.header.Get("Retry-After") == "" {
		t.Fatalf("open breaker: %d %v %s", a.status, a.header, a.body)
	}
	if e.documentCalls.Load() != before {
		t.Fatal("an open breaker let a call through to the treasury")
	}
	if g := breakerGauge(t, e, "attachment"); g != "2" {
		t.Fatalf("breaker gauge while open: %q", g)
	}
	e.treasuryDown.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := e.send(t, c, "")
		if a.status == 202 {
			break
		}
		if a.status != 503 || time.Now().After(deadline) {
			t.Fatalf("after recovery: %d %s", a.status, a.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if g := breakerGauge(t, e, "attachment"); g != "0" {
		t.Fatalf("breaker gauge after recovery: %q", g)
	}
}

// outboxLines scrapes /metrics once and returns its dvc_outbox_* lines.
func outboxLines(t *testing.T, e *env) []string {
	t.Helper()
	resp, err := http.Get(e.adminSrv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "dvc_outbox_") {
			out = append(out, l)
		}
	}
	return out
}

// One scrape gives each of the outbox's four depths once, and the count of
// failed reads.
func TestOutboxMetricsExported(t *testing.T) {
	e := start(t)
	got := outboxLines(t, e)
	want := []string{
		`dvc_outbox_events{state="dead"} 0`,
		`dvc_outbox_events{state="in_flight"} 0`,
		`dvc_outbox_events{state="pending"} 0`,
		`dvc_outbox_events{state="waiting"} 0`,
		`dvc_outbox_stats_errors_total 0`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("/metrics outbox series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// With the outbox's Redis gone, a scrape counts the failed read and gives
// no depth rather than a made-up one.
func TestOutboxStatsErrorCounted(t *testing.T) {
	u, err := url.Parse(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newSwitchProxy(t, u.Host)
	e := startWith(t, func(c *config.Config) {
		c.Store.Kind = "redis"
		c.Store.Redis.Addrs = []string{proxy.ln.Addr().String()}
		c.Store.Redis.KeyPrefix = redistest.Prefix(t)
	})
	if got := outboxLines(t, e); len(got) != 5 || got[4] != "dvc_outbox_stats_errors_total 0" {
		t.Fatalf("before the outage: %q", got)
	}
	proxy.set(false)
	if got, want := outboxLines(t, e), []string{"dvc_outbox_stats_errors_total 1"}; !slices.Equal(got, want) {
		t.Fatalf("during the outage: %q, want %q", got, want)
	}
	proxy.set(true)
	if got := outboxLines(t, e); len(got) != 5 || got[4] != "dvc_outbox_stats_errors_total 1" {
		t.Fatalf("after the outage: %q", got)
	}
}

// Resilience settings that escaped config.Validate (a Config built or
// edited in code) stop New with the key; they are never replaced by
// defaults.
func TestNewRefusesInvalidResilience(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *config.Config)
		want string
	}{
		{"treasury ratio", func(c *config.Config) { c.Treasury.Resilience.FailureRatio = 1.5 },
			"treasury.resilience: treasury: upstream: settings: FailureRatio: must be in (0, 1]"},
		{"treasury max below base", func(c *config.Config) {
			c.Treasury.Resilience.BaseDelay, c.Treasury.Resilience.MaxDelay = time.Second, time.Millisecond
		}, "treasury.resilience: treasury: upstream: settings: MaxDelay: "},
		{"portal bulkhead", func(c *config.Config) { c.Portal.Resilience.MaxConcurrent = -1 },
			"portal.resilience: portal: upstream: settings: MaxConcurrent: "},
		{"portal retries", func(c *config.Config) { c.Portal.Resilience.Retries = -2 },
			"portal.resilience: portal: upstream: settings: Retries: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, "http://127.0.0.1:1")
			tt.edit(cfg)
			a, err := New(cfg, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err == nil {
				_ = a.Close()
				t.Fatal("New accepted invalid resilience settings")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to start with %q", err, tt.want)
			}
		})
	}
}

// The events the status flow settled are exported by how, each outcome
// from zero.
func TestStatusEventsExported(t *testing.T) {
	e := start(t)
	resp, err := http.Get(e.adminSrv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	for _, d := range []string{"delivered", "stale", "not-allowed", "deferred", "dead-letter"} {
		if l := `dvc_status_events_total{delivery="` + d + `"} 0`; !strings.Contains(string(b), l) {
			t.Errorf("/metrics lacks %s", l)
		}
	}
}
