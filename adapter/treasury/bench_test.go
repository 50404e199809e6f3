package treasury

import (
	"context"
	"fmt"
	"io"
	"maps"
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
	run := func(b *testing.B, h http.Handler, next func(i int) (string, map[string]any)) {
		srv := httptestServer(b, h.ServeHTTP)
		c, err := New(Config{BaseURL: srv.URL, ClientID: "dvc-adapter", ClientSecret: "dev-treasury-secret"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		key, doc := next(-1)
		if _, err := c.SendDocument(ctx, key, doc); err != nil { // logs in
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			key, doc := next(i)
			if _, err := c.SendDocument(ctx, key, doc); err != nil {
				b.Fatal(err)
			}
		}
	}
	newSim := func() *treasurysim.Sim {
		return treasurysim.New(treasurysim.Options{TokenTTL: time.Hour})
	}
	same := func(req SendDocumentRequest) func(int) (string, map[string]any) {
		key, doc := req.Key(), req.Map()
		return func(int) (string, map[string]any) { return key, doc }
	}
	b.Run("sim", func(b *testing.B) {
		base := document("").Map()
		run(b, newSim(), func(i int) (string, map[string]any) {
			code := fmt.Sprintf("G09.20-20260609-%07d", i+2)
			doc := maps.Clone(base)
			doc["dossierCode"] = code
			return treasurysim.DownstreamKey("chi-thuong-xuyen", code, 0), doc
		})
	})
	b.Run("replay", func(b *testing.B) {
		run(b, newSim(), same(document("G09.20-20260609-0000001")))
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
		run(b, stub, same(document("G09.20-20260609-0000001")))
	})
}
