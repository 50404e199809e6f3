package app

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// switchProxy forwards TCP to target while up; when down it refuses new
// connections and cuts the open ones, as a Redis outage does.
type switchProxy struct {
	ln     net.Listener
	target string
	up     atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func newSwitchProxy(t *testing.T, target string) *switchProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.up.Store(true)
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.up.Load() {
				_ = c.Close()
				continue
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *switchProxy) pipe(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
	_, _ = io.Copy(c, s)
	_ = c.Close()
}

func (p *switchProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

func (p *switchProxy) set(up bool) {
	p.up.Store(up)
	if !up {
		p.cut()
	}
}

func get(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// With Redis gone the adapter fails closed: 503 with Retry-After, not
// ready, nothing sent to the treasury; it recovers by itself.
func TestRedisDownFailsClosed(t *testing.T) {
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
	if a := e.send(t, fx(t, "tai-khoan/valid-xml"), ""); a.status != 202 {
		t.Fatalf("before the outage: %d %s", a.status, a.body)
	}
	if s := get(t, e.adapter.URL+"/readyz"); s != 200 {
		t.Fatalf("readyz %d", s)
	}

	proxy.set(false)
	c := fx(t, "tai-khoan/valid-json")
	code, _ := c.DossierCode()
	a := e.send(t, c, "")
	if a.status != 503 || a.code() != "store-unavailable" || a.header.Get("Retry-After") == "" {
		t.Fatalf("during the outage: %d %v %s", a.status, a.header, a.body)
	}
	if s := get(t, e.adapter.URL+"/readyz"); s != 503 {
		t.Fatalf("readyz during the outage: %d", s)
	}
	if n := e.docsFor(t, code); n != 0 {
		t.Fatalf("%d documents sent without an idempotency record", n)
	}

	proxy.set(true)
	if a := e.send(t, c, ""); a.status != 202 {
		t.Fatalf("after the outage: %d %s", a.status, a.body)
	}
	if s := get(t, e.adapter.URL+"/readyz"); s != 200 {
		t.Fatalf("readyz after the outage: %d", s)
	}
	if n := e.docsFor(t, code); n != 1 {
		t.Fatalf("%d documents", n)
	}
}

// An adapter whose clock is far from the Redis server's is not ready: its
// leases and retry times would be read on other instances' clocks. The
// test adapter runs on the fixtures' receipt time, months from Redis's.
func TestReadyzRefusesASkewedClock(t *testing.T) {
	u, err := url.Parse(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		max  time.Duration
		want int
	}{{2 * time.Second, 503}, {-1, 200}} {
		e := startWith(t, func(c *config.Config) {
			c.Store.Kind = "redis"
			c.Store.Redis.Addrs = []string{u.Host}
			c.Store.Redis.KeyPrefix = redistest.Prefix(t)
			c.Store.Redis.MaxClockSkew = tt.max
		})
		if s := get(t, e.adapter.URL+"/readyz"); s != tt.want {
			t.Errorf("maxClockSkew %v, clock months off: readyz %d, want %d", tt.max, s, tt.want)
		}
		if tt.max > 0 {
			// The skew read is exported: the receipt time is months behind.
			resp, err := http.Get(e.adminSrv.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			m := regexp.MustCompile(`(?m)^dvc_store_clock_skew_seconds (\S+)$`).FindSubmatch(body)
			if m == nil {
				t.Fatal("no dvc_store_clock_skew_seconds in /metrics")
			}
			if v, err := strconv.ParseFloat(string(m[1]), 64); err != nil || v > -30*24*3600 {
				t.Errorf("dvc_store_clock_skew_seconds %s, want months behind", m[1])
			}
		}
	}
}
