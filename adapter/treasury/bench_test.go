package treasury

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/sim/treasurysim"
)

// BenchmarkSendDocument measures SendDocument through the client over loopback HTTP:
//   - sim: against the simulator (schema validation, rules, ledger), every document new;
//   - replay: against the simulator, the same document again (dedup path);
//   - stub: against a handler with a canned receipt, so the numbers are mostly the client's
//     and net/http's.
//
// Allocations are counted for the whole process, the in-process server included.
func BenchmarkSendDocument(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, h http.Handler, next func(i int) SendDocumentRequest) {
		srv := httptestServer(b, h.ServeHTTP)
		c, err := New(Config{BaseURL: srv.URL, ClientID: "dvc-adapter", ClientSecret: "dev-treasury-secret"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		warm := next(-1)
		if _, err := c.SendDocument(ctx, warm.Key(), warm); err != nil { // logs in
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			req := next(i)
			if _, err := c.SendDocument(ctx, req.Key(), req); err != nil {
				b.Fatal(err)
			}
		}
	}
	newSim := func() *treasurysim.Sim {
		return treasurysim.New(treasurysim.Options{TokenTTL: time.Hour})
	}
	b.Run("sim", func(b *testing.B) {
		run(b, newSim(), func(i int) SendDocumentRequest {
			return document(fmt.Sprintf("G09.20-20260609-%07d", i+1))
		})
	})
	b.Run("replay", func(b *testing.B) {
		req := document("G09.20-20260609-0000001")
		run(b, newSim(), func(int) SendDocumentRequest { return req })
	})
	b.Run("stub", func(b *testing.B) {
		const receipt = `{"documentId":"KB-2026-000001","reference":"KBNN-0011-2026-000001","status":"RECEIVED","receivedAt":"2026-06-09T08:30:02+07:00"}`
		stub := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			if strings.HasSuffix(r.URL.Path, "/login") {
				_, _ = io.WriteString(w, `{"accessToken":"t","expiresIn":3600}`)
				return
			}
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, receipt)
		})
		req := document("G09.20-20260609-0000001")
		run(b, stub, func(int) SendDocumentRequest { return req })
	})
}
