package app

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/testkit/fixture"
)

var benchCases = []string{
	"chi-thuong-xuyen/valid-xml",
	"chi-thuong-xuyen/valid-json",
	"von-dau-tu/valid-xml",
	"chi-thuong-xuyen/large-payroll",
}

func loadCase(b *testing.B, name string) fixture.Case {
	b.Helper()
	c, err := fixture.Load(filepath.Join(repo, "testdata/fixtures", name))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkVerify is everything the adapter does to a dossier before the
// treasury call: parse, verify every signature and chain, check roles,
// convert and validate against the procedure's definition.
func BenchmarkVerify(b *testing.B) {
	e := start(b)
	a := e.app
	for _, name := range benchCases {
		c := loadCase(b, name)
		sub := intake.Submission{Procedure: c.Procedure, ContentType: c.Header.Get("Content-Type"),
			Body: c.Body, JWSSignature: c.Header.Get("X-JWS-Signature"), ReceivedAt: receipt}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.Body)))
			for b.Loop() {
				if _, err := a.Intake.Verify(sub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSubmitHTTP is one whole submission over HTTP, through mapping and
// the treasury client to the in-process simulator (which answers repeats
// from its idempotency record).
func BenchmarkSubmitHTTP(b *testing.B) {
	e := start(b)
	for _, name := range benchCases {
		c := loadCase(b, name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.Body)))
			for b.Loop() {
				req, _ := c.Request(e.adapter.URL)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

// BenchmarkSubmitBreakerOpen is a JSON submission refused by an open
// breaker: verification still runs, the treasury is not called.
func BenchmarkSubmitBreakerOpen(b *testing.B) {
	e := startWith(b, func(c *config.Config) {
		c.Treasury.Resilience = config.Resilience{MinRequests: 1, FailureRatio: 0.5, OpenTimeout: time.Hour, Retries: -1}
	})
	c := loadCase(b, "tai-khoan/valid-json")
	e.treasuryDown.Store(true)
	e.send(b, c, "")
	b.ReportAllocs()
	for b.Loop() {
		if a := e.send(b, c, ""); a.status != 503 {
			b.Fatalf("status %d", a.status)
		}
	}
}

// BenchmarkSubmitEvidence is the end-to-end JSON submission with the
// evidence log off, on without the bodies and on with them, in the same
// run, from 64 concurrent clients (as make bench-e2e):
// each submission is fresh (a dossier code of its own, signed before the
// timer starts) until the pool runs out, then a replay of one. With the log
// on, a fresh submission appends two leaves (received, accepted) and a
// replay one, each durable (fsync shared by the appends waiting together),
// and, with the bodies, archives its body in the same group commit.
func BenchmarkSubmitEvidence(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(repo, "testdata/templates/chi-thuong-xuyen/dossier.json"))
	if err != nil {
		b.Fatal(err)
	}
	const pool = 1000
	type signed struct {
		body []byte
		jws  string
	}
	dossiers := make([]signed, pool)
	for i := range dossiers {
		body := bytes.Replace(raw, []byte("G09.20-20260609-0000001"), fmt.Appendf(nil, "G09.20-20260609-%07d", 9000000+i), 1)
		dossiers[i] = signed{body, signJSON(b, body)}
	}
	for _, mode := range []string{"log=off", "log=on,bodies=off", "log=on"} {
		b.Run(mode, func(b *testing.B) {
			e := startWith(b, func(c *config.Config) {
				c.Evidence.Enabled = mode != "log=off"
				c.Evidence.ArchiveBodies = mode == "log=on"
			})
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(32) // 64 clients on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d := dossiers[int(next.Add(1)-1)%pool]
					req, _ := http.NewRequest(http.MethodPost, e.adapter.URL+"/v1/procedures/chi-thuong-xuyen/dossiers", bytes.NewReader(d.body))
					req.Header.Set("Authorization", "Bearer dev-portal-token")
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-JWS-Signature", d.jws)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			if n := next.Load(); n > pool {
				b.ReportMetric(float64(n-pool)/float64(n), "replays/op")
			}
		})
	}
}
