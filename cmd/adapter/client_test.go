package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	minBackoff    = 20 * time.Millisecond
	maxBackoff    = 500 * time.Millisecond // transport errors
	retryAfterCap = 500 * time.Millisecond // Retry-After is honoured up to this
	requestTO     = 15 * time.Second       // one HTTP exchange
)

// answer is one HTTP answer of the adapter.
type answer struct {
	status     int
	code       string // problem code, for errors
	retryAfter string
	replayed   bool
	body       []byte
}

func (a answer) String() string {
	if a.status == 0 {
		return "transport error"
	}
	if a.code != "" {
		return fmt.Sprintf("%d %s", a.status, a.code)
	}
	return strconv.Itoa(a.status)
}

// outcome is the end of one dossier's submissions.
type outcome struct {
	d        *dossier
	ok       bool   // got a 202
	final    answer // the 202, or the last answer
	failure  string // why it is not ok
	attempts int
}

// accepted is the part of a 202 body the checks read.
type accepted struct {
	MaHoSo             string `json:"maHoSo"`
	Procedure          string `json:"procedure"`
	TreasuryReference  string `json:"treasuryReference"`
	TreasuryDocumentID string `json:"treasuryDocumentId"`
}

// client is the portal: it retries every dossier until a final answer.
type client struct {
	http *http.Client
	pick func() string // base URL of the instance to try next

	mu    sync.Mutex
	tally map[string]int // every answer seen, by kind

	// observe, when set, sees every attempt's answer (or transport error)
	// as it arrives; set it before the first request.
	observe func(a answer, err error)
}

func newClient(pick func() string) *client {
	tr := &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	return &client{http: &http.Client{Transport: tr, Timeout: requestTO}, pick: pick, tally: map[string]int{}}
}

func (c *client) close() { c.http.CloseIdleConnections() }

func (c *client) count(kind string) {
	c.mu.Lock()
	c.tally[kind]++
	c.mu.Unlock()
}

// seen counts the answers of one kind.
func (c *client) seen(kind string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tally[kind]
}

// tallyString lists the answers seen, most frequent first.
func (c *client) tallyString() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	kinds := make([]string, 0, len(c.tally))
	for k := range c.tally {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return c.tally[kinds[i]] > c.tally[kinds[j]] })
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s ×%d", k, c.tally[k])
	}
	return strings.Join(parts, ", ")
}

// post sends d once to base, under key ("" for the derived key).
func (c *client) post(ctx context.Context, base string, d *dossier, key string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		base+"/v1/procedures/"+d.procedure+"/dossiers", bytes.NewReader(d.body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+portalToken)
	req.Header.Set("X-JWS-Signature", d.jws)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, body: body, retryAfter: resp.Header.Get("Retry-After"),
		replayed: resp.Header.Get("Idempotent-Replayed") == "true"}
	if resp.StatusCode >= 400 {
		var p struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(body, &p)
		a.code = p.Code
	}
	return a, nil
}

// submit posts d until a final answer or the end of ctx: 202 is done; 503,
// 504, 409 request-in-progress and transport errors are retried (honouring
// Retry-After up to retryAfterCap); anything else fails the dossier.
func (c *client) submit(ctx context.Context, d *dossier, key string) outcome {
	o := outcome{d: d}
	backoff := minBackoff
	for {
		if err := ctx.Err(); err != nil {
			o.failure = fmt.Sprintf("no final answer after %d attempts (%v); last: %s", o.attempts, context.Cause(ctx), o.final)
			return o
		}
		o.attempts++
		a, err := c.post(ctx, c.pick(), d, key)
		o.final = a
		if c.observe != nil && ctx.Err() == nil {
			c.observe(a, err)
		}
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				continue
			}
			c.count("transport error")
			wait = backoff
			backoff = min(2*backoff, maxBackoff)
		case a.status == http.StatusAccepted:
			if a.replayed {
				c.count("202 replayed")
			} else {
				c.count("202")
			}
			o.ok = true
			if f := checkAccepted(d, a); f != "" {
				o.ok, o.failure = false, f
			}
			return o
		case a.status == http.StatusServiceUnavailable, a.status == http.StatusGatewayTimeout,
			a.status == http.StatusConflict && a.code == "request-in-progress":
			c.count(a.String())
			if a.retryAfter == "" && a.status != http.StatusGatewayTimeout {
				o.failure = fmt.Sprintf("%s without Retry-After: %s", a, a.body)
				return o
			}
			wait = retryAfterCap
			if s, err := strconv.Atoi(a.retryAfter); err == nil {
				wait = min(time.Duration(s)*time.Second, retryAfterCap)
			}
		default:
			// 409 dossier-already-submitted cannot happen with one key per
			// dossier; any other 4xx or 5xx is a wrong answer.
			c.count(a.String())
			o.failure = fmt.Sprintf("unexpected answer %s: %s", a, a.body)
			return o
		}
		jitter := time.Duration(rand.Int64N(int64(wait)/4 + 1))
		select {
		case <-ctx.Done():
		case <-time.After(wait + jitter):
		}
	}
}

// checkAccepted checks that a 202 is about d.
func checkAccepted(d *dossier, a answer) string {
	var acc accepted
	if err := json.Unmarshal(a.body, &acc); err != nil {
		return fmt.Sprintf("202 body is not JSON: %v: %s", err, a.body)
	}
	if acc.MaHoSo != d.code || acc.Procedure != d.procedure || acc.TreasuryDocumentID == "" || acc.TreasuryReference == "" {
		return fmt.Sprintf("202 body does not describe %s or lacks the treasury's ids: %s", d.id(), a.body)
	}
	return ""
}

// runAll submits every dossier with concurrency workers, each under its
// derived key, until each has a final answer or ctx ends. onDone, if set,
// is called after each outcome.
func (c *client) runAll(ctx context.Context, ds []*dossier, concurrency int, onDone func(outcome)) []outcome {
	out := make([]outcome, len(ds))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for i := range jobs {
				out[i] = c.submit(ctx, ds[i], "")
				if onDone != nil {
					onDone(out[i])
				}
			}
		})
	}
	for i := range ds {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return out
}

// simDocument is one treasury document as GET /sim/documents lists it.
type simDocument struct {
	DocumentID   string `json:"documentId"`
	Reference    string `json:"reference"`
	Procedure    string `json:"procedure"`
	DossierCode  string `json:"dossierCode"`
	SupplementNo int    `json:"supplementNo"`
	Replays      int    `json:"replays"`
}

// treasuryDocuments lists the documents a treasury (simulator or stub) holds.
func treasuryDocuments(t testing.TB, base string) []simDocument {
	t.Helper()
	resp, err := http.Get(base + "/sim/documents")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /sim/documents: %s", resp.Status)
	}
	var docs []simDocument
	if err := json.NewDecoder(resp.Body).Decode(&docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

// exactlyOnceProblems checks a batch against the treasury's documents:
// every dossier got a 202 (none lost), each has exactly one treasury
// document (no duplicate) and its 202 names that document; no dossier code
// of the batch (codes start with prefix) appears twice or unasked for.
// Duplicates come first in the list.
func exactlyOnceProblems(prefix string, ds []*dossier, outs []outcome, docs []simDocument) []string {
	var dups, others []string
	byCode := map[string][]simDocument{}
	for _, d := range docs {
		if strings.HasPrefix(d.DossierCode, prefix+"-") {
			byCode[d.DossierCode] = append(byCode[d.DossierCode], d)
		}
	}
	asked := map[string]bool{}
	for i, d := range ds {
		asked[d.code] = true
		o := outs[i]
		got := byCode[d.code]
		if len(got) > 1 {
			ids := make([]string, len(got))
			for j, g := range got {
				ids[j] = fmt.Sprintf("%s/%s %s (%s, replays %d)", g.Procedure, g.DossierCode, g.DocumentID, g.Reference, g.Replays)
			}
			dups = append(dups, fmt.Sprintf("DUPLICATE: dossier %s has %d treasury documents: %s", d.id(), len(got), strings.Join(ids, "; ")))
		}
		if !o.ok {
			others = append(others, fmt.Sprintf("LOST: dossier %s has no 202 after %d attempts: %s (treasury documents: %d)",
				d.id(), o.attempts, o.failure, len(got)))
			continue
		}
		if len(got) == 0 {
			others = append(others, fmt.Sprintf("dossier %s got a 202 but the treasury holds no document: %s", d.id(), o.final.body))
			continue
		}
		if got[0].Procedure != d.procedure {
			others = append(others, fmt.Sprintf("dossier %s reached the treasury as procedure %s", d.id(), got[0].Procedure))
		}
		var acc accepted
		_ = json.Unmarshal(o.final.body, &acc)
		if len(got) == 1 && (acc.TreasuryDocumentID != got[0].DocumentID || acc.TreasuryReference != got[0].Reference) {
			others = append(others, fmt.Sprintf("dossier %s: the 202 names %s/%s, the treasury holds %s/%s",
				d.id(), acc.TreasuryDocumentID, acc.TreasuryReference, got[0].DocumentID, got[0].Reference))
		}
	}
	var unasked []string
	for code := range byCode {
		if !asked[code] {
			unasked = append(unasked, code)
		}
	}
	slices.Sort(unasked)
	for _, code := range unasked {
		others = append(others, fmt.Sprintf("the treasury holds %d documents for %s, which was never submitted", len(byCode[code]), code))
	}
	return append(dups, others...)
}

// reportProblems fails t with the problems, duplicates first, a bounded number.
func reportProblems(t testing.TB, problems []string) {
	t.Helper()
	const show = 25
	for i, p := range problems {
		if i == show {
			t.Errorf("... and %d more problems", len(problems)-show)
			break
		}
		t.Error(p)
	}
}

// countDuplicates counts the DUPLICATE problems.
func countDuplicates(problems []string) int {
	n := 0
	for _, p := range problems {
		if strings.HasPrefix(p, "DUPLICATE") {
			n++
		}
	}
	return n
}

// errDeadline ends a batch that takes too long.
var errDeadline = errors.New("test deadline for the batch passed")

// TestExactlyOnceChecks shows that the checks of the process tests report
// each kind of violation: a duplicate, a lost dossier, a 202 without a
// document, a 202 naming another document, a document nobody asked for.
func TestExactlyOnceChecks(t *testing.T) {
	const prefix = "chk.000000"
	mk := func(i int) *dossier {
		return &dossier{procedure: "chi-thuong-xuyen", code: fmt.Sprintf("%s-20260609-%07d", prefix, i)}
	}
	ok := func(d *dossier, docID string) outcome {
		body, _ := json.Marshal(accepted{MaHoSo: d.code, Procedure: d.procedure, TreasuryDocumentID: docID, TreasuryReference: "R-" + docID})
		return outcome{d: d, ok: true, final: answer{status: http.StatusAccepted, body: body}}
	}
	doc := func(d *dossier, id string) simDocument {
		return simDocument{DocumentID: id, Reference: "R-" + id, Procedure: d.procedure, DossierCode: d.code}
	}
	ds := []*dossier{mk(1), mk(2), mk(3), mk(4), mk(5)}
	outs := []outcome{
		ok(ds[0], "D1"),                        // fine
		ok(ds[1], "D2"),                        // duplicate
		{d: ds[2], failure: "no final answer"}, // lost
		ok(ds[3], "D4"),                        // no document
		ok(ds[4], "D5"),                        // names another document
	}
	docs := []simDocument{doc(ds[0], "D1"), doc(ds[1], "D2"), doc(ds[1], "D2b"), doc(ds[4], "D9"),
		doc(mk(6), "D6"), // never submitted
		{DocumentID: "X", Procedure: "chi-thuong-xuyen", DossierCode: "other-20260609-0000001"}, // another batch
	}
	got := exactlyOnceProblems(prefix, ds, outs, docs)
	want := []string{
		"DUPLICATE: dossier chi-thuong-xuyen|" + ds[1].code,
		"LOST: dossier chi-thuong-xuyen|" + ds[2].code,
		"dossier chi-thuong-xuyen|" + ds[3].code + " got a 202 but the treasury holds no document",
		"dossier chi-thuong-xuyen|" + ds[4].code + ": the 202 names D5/R-D5, the treasury holds D9/R-D9",
		"the treasury holds 1 documents for " + mk(6).code + ", which was never submitted",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s...", i, got[i], want[i])
		}
	}
	if countDuplicates(got) != 1 {
		t.Errorf("countDuplicates = %d, want 1", countDuplicates(got))
	}
	if p := exactlyOnceProblems(prefix, ds[:1], outs[:1], docs[:1]); len(p) != 0 {
		t.Errorf("a clean batch reported problems: %q", p)
	}
}
