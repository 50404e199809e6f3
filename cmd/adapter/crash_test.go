package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// batch describes one run of the portal client against a fleet of adapters.
type batch struct {
	tag         string // dossier-code tag, letters and digits
	n           int
	concurrency int
	instances   int
	crashes     [][]string // per instance: DVC_CRASH_AT of its successive processes
	treasury    string     // treasury base URL; "" means the simulator
	timeout     time.Duration
	// during runs alongside the client; its ctx ends when every dossier has
	// a final answer. finished counts the dossiers that have one.
	during func(ctx context.Context, f *fleet, finished *atomic.Int64)
}

type batchResult struct {
	prefix  string
	ds      []*dossier
	outs    []outcome
	docs    []simDocument
	fleet   *fleet
	client  *client
	elapsed time.Duration
}

// runBatch signs b.n dossiers, starts the fleet and submits every dossier
// until it has a final answer, then reads the treasury's documents.
func runBatch(t *testing.T, b batch) *batchResult {
	t.Helper()
	if b.treasury == "" {
		b.treasury = h.simURL
	}
	r := &batchResult{prefix: batchPrefix(t, b.tag)}
	r.ds = makeDossiers(t, r.prefix, b.n)
	r.fleet = startFleet(t, b.instances, b.treasury, redistest.Prefix(t), b.crashes)
	r.client = newClient(r.fleet.pick)
	defer r.client.close()

	ctx, cancel := context.WithTimeoutCause(r.fleet.work, b.timeout, errDeadline)
	defer cancel()
	var finished atomic.Int64
	dctx, stopDuring := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if b.during != nil {
		wg.Go(func() { b.during(dctx, r.fleet, &finished) })
	}
	start := time.Now()
	r.outs = r.client.runAll(ctx, r.ds, b.concurrency, func(outcome) { finished.Add(1) })
	r.elapsed = time.Since(start)
	stopDuring()
	wg.Wait()
	r.docs = treasuryDocuments(t, b.treasury)
	return r
}

func (r *batchResult) problems() []string {
	return exactlyOnceProblems(r.prefix, r.ds, r.outs, r.docs)
}

func (r *batchResult) summary() string {
	crashed, killed := r.fleet.deaths()
	return fmt.Sprintf("%d dossiers in %v; adapter deaths: %d by the crash hook, %d killed by the test; "+
		"recoveries through the treasury's record: %d; answers: %s",
		len(r.ds), r.elapsed.Round(10*time.Millisecond), crashed, killed,
		countInLogs(r.fleet.logs(), "recovered a document sent by an earlier attempt"), r.client.tallyString())
}

// TestCrashAtEveryStep kills the adapter (SIGKILL, by its crashtest hook) at
// each step of the exactly-once path, twice per step, restarts it and keeps
// the portal retrying: every dossier must end with a 202 and exactly one
// treasury document.
func TestCrashAtEveryStep(t *testing.T) {
	steps := []struct {
		step string
		at   []int // the n-th arrival at the step kills the process; one entry per process
	}{
		{"reserved", []int{5, 9}},
		{"claimed", []int{7, 4}},
		{"sent", []int{5, 11}},
		{"answered", []int{9, 6}},
		{"completed", []int{5, 8}},
	}
	for _, s := range steps {
		t.Run(s.step, func(t *testing.T) {
			t.Parallel()
			var crashes []string
			for _, k := range s.at {
				crashes = append(crashes, fmt.Sprintf("%s:%d", s.step, k))
			}
			r := runBatch(t, batch{tag: s.step, n: 48, concurrency: 16, instances: 1,
				crashes: [][]string{crashes}, timeout: 45 * time.Second})
			t.Log(r.summary())
			reportProblems(t, r.problems())
			crashed, _ := r.fleet.deaths()
			if crashed == 0 {
				t.Errorf("the adapter never died at %q: the crash hook did not fire (is it built with -tags crashtest?)", s.step)
			} else if crashed != len(crashes) {
				t.Errorf("the adapter died %d times at %q, want %d (%v)", crashed, s.step, len(crashes), crashes)
			}
			if s.step == "completed" && r.client.seen("202 replayed") == 0 {
				t.Errorf("a dossier whose answer was stored before the crash must be answered by a replay; answers: %s",
					r.client.tallyString())
			}
		})
	}

	// The checks above must be able to fail: a treasury that neither
	// deduplicates nor finds a document by its key lets the dossier that
	// was sent just before the crash be sent again, and the checks must
	// report that duplicate.
	t.Run("forgetful-treasury-is-caught", func(t *testing.T) {
		t.Parallel()
		stub := newForgetfulTreasury()
		srv := httptest.NewServer(stub)
		t.Cleanup(srv.Close)
		r := runBatch(t, batch{tag: "forgetful", n: 12, concurrency: 4, instances: 1,
			crashes: [][]string{{"sent:3"}}, treasury: srv.URL, timeout: 30 * time.Second})
		t.Log(r.summary())
		problems := r.problems()
		if countDuplicates(problems) == 0 {
			t.Fatalf("with a treasury that forgets, a crash after sending must lead to a duplicate and the checks must "+
				"report it; they reported %d problems: %q", len(problems), problems)
		}
		t.Logf("as intended, the checks caught: %s", problems[0])
	})
}

// TestRandomKillsUnderLoad runs 1,000 dossiers through two adapter
// instances sharing Redis while a killer SIGKILLs a random instance every
// few hundred milliseconds (8 times) and it is restarted; the portal fails
// over to whichever instance is up.
func TestRandomKillsUnderLoad(t *testing.T) {
	const (
		n        = 1000
		maxKills = 8
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("killer seed %d", seed)
	var kills, underLoad atomic.Int64
	r := runBatch(t, batch{tag: "kill", n: n, concurrency: 32, instances: 2, timeout: 50 * time.Second,
		during: func(ctx context.Context, f *fleet, finished *atomic.Int64) {
			rng := rand.New(rand.NewPCG(seed, seed))
			for kills.Load() < maxKills {
				select {
				case <-ctx.Done():
					return
				case <-time.After(150*time.Millisecond + time.Duration(rng.Int64N(int64(300*time.Millisecond)))):
				}
				if f.killRandom(rng) {
					kills.Add(1)
					if finished.Load() < n {
						underLoad.Add(1)
					}
				}
			}
		}})
	t.Log(r.summary())
	reportProblems(t, r.problems())
	if underLoad.Load() == 0 {
		t.Errorf("no instance was killed while dossiers were outstanding (%d kills): the test proved nothing", kills.Load())
	}
	if _, killed := r.fleet.deaths(); killed != int(kills.Load()) {
		t.Errorf("the killer killed %d times, the supervisors saw %d kills", kills.Load(), killed)
	}
	checkEvidence(t, r)
}

// TestTwoInstancesOneDossier sends one dossier 100 times at once, 50 times
// to each of two instances: one submission goes through, the others are
// replays of its stored answer or told it is in progress, and the treasury
// holds one document. Once with the derived key, once with an explicit
// Idempotency-Key; then the same dossiers under another key are refused.
func TestTwoInstancesOneDossier(t *testing.T) {
	f := startFleet(t, 2, h.simURL, redistest.Prefix(t), nil)
	prefix := batchPrefix(t, "one")
	ds := makeDossiers(t, prefix, 2)
	c := newClient(f.pick)
	defer c.close()
	ctx, cancel := context.WithTimeout(f.work, 30*time.Second)
	defer cancel()

	first := map[string][]byte{} // dossier code -> the 202 body
	rounds := []struct {
		name string
		d    *dossier
		key  string
	}{
		{"derived-key", ds[0], ""},
		{"explicit-key", ds[1], "portal-" + prefix},
	}
	for _, rd := range rounds {
		t.Run(rd.name, func(t *testing.T) {
			first[rd.d.code] = stampede(ctx, t, c, f, rd.d, rd.key)
		})
	}

	// The same dossiers under another key: already submitted, pointing at
	// the first submission's treasury reference.
	t.Run("another-key", func(t *testing.T) {
		for _, tc := range []struct {
			d   *dossier
			key string
		}{{ds[0], "another-" + prefix}, {ds[1], ""}} {
			a, err := c.post(ctx, f.insts[0].url, tc.d, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if a.status != http.StatusConflict || a.code != "dossier-already-submitted" {
				t.Errorf("%s under key %q: %s, want 409 dossier-already-submitted: %s", tc.d.code, tc.key, a, a.body)
				continue
			}
			var acc accepted
			_ = json.Unmarshal(first[tc.d.code], &acc)
			var p struct {
				TreasuryReference string `json:"treasuryReference"`
			}
			_ = json.Unmarshal(a.body, &p)
			if acc.TreasuryReference == "" || p.TreasuryReference != acc.TreasuryReference {
				t.Errorf("%s: the refusal points at %q, the first submission was sent as %q", tc.d.code, p.TreasuryReference, acc.TreasuryReference)
			}
		}
	})

	docs := treasuryDocuments(t, h.simURL)
	outs := make([]outcome, len(ds))
	for i, d := range ds {
		outs[i] = outcome{d: d, ok: first[d.code] != nil, final: answer{status: http.StatusAccepted, body: first[d.code]},
			failure: "see the sub-test"}
	}
	reportProblems(t, exactlyOnceProblems(prefix, ds, outs, docs))
}

// stampede sends d 100 times at once, half to each instance, and checks the
// answers; it returns the 202 body (nil on failure).
func stampede(ctx context.Context, t *testing.T, c *client, f *fleet, d *dossier, key string) []byte {
	t.Helper()
	const n = 100
	answers := make([]answer, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i], errs[i] = c.post(ctx, f.insts[i%len(f.insts)].url, d, key)
		})
	}
	close(start)
	wg.Wait()

	var body []byte
	fresh, replays, inProgress := 0, 0, 0
	var retry []int
	for i, a := range answers {
		switch {
		case errs[i] != nil:
			t.Errorf("submission %d: %v", i, errs[i])
		case a.status == http.StatusAccepted:
			if f := checkAccepted(d, a); f != "" {
				t.Errorf("submission %d: %s", i, f)
			}
			if a.replayed {
				replays++
			} else {
				fresh++
			}
			if body == nil {
				body = a.body
			} else if !bytes.Equal(body, a.body) {
				t.Errorf("submission %d: 202 body differs:\n%s\nfirst:\n%s", i, a.body, body)
			}
		case a.status == http.StatusConflict && a.code == "request-in-progress":
			inProgress++
			if a.retryAfter == "" {
				t.Errorf("submission %d: 409 request-in-progress without Retry-After", i)
			}
			retry = append(retry, i)
		default:
			t.Errorf("submission %d to %s: unexpected %s: %s", i, f.insts[i%len(f.insts)].name, a, a.body)
		}
	}
	t.Logf("100 simultaneous submissions: %d went through, %d replays, %d in progress", fresh, replays, inProgress)
	if fresh != 1 {
		t.Errorf("%d submissions went through without Idempotent-Replayed, want exactly 1", fresh)
	}
	// Those told to come back get the stored answer, byte for byte.
	for _, i := range retry {
		o := c.submit(ctx, d, key)
		switch {
		case !o.ok:
			t.Errorf("retry of submission %d: %s", i, o.failure)
		case !o.final.replayed:
			t.Errorf("retry of submission %d went through again instead of replaying: %s", i, o.final.body)
		case body != nil && !bytes.Equal(o.final.body, body):
			t.Errorf("retry of submission %d: 202 body differs:\n%s\nfirst:\n%s", i, o.final.body, body)
		}
		if body == nil && o.ok {
			body = o.final.body
		}
	}
	return body
}

// forgetfulTreasury is the simulator behind a front that breaks the
// downstream contract the way a careless treasury would: every accepted
// send is a new document with its own id (no deduplication on the
// Idempotency-Key), and a lookup by key never finds anything. The simulator
// behind it still checks the login, the body and the business rules.
type forgetfulTreasury struct {
	sim  http.Handler
	mu   sync.Mutex
	docs []simDocument
}

func newForgetfulTreasury() *forgetfulTreasury {
	return &forgetfulTreasury{sim: treasurysim.New(treasurysim.Options{})}
}

func (f *forgetfulTreasury) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/sim/documents":
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f.docs)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/documents":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"reasonCode":"NOT_FOUND","message":"no such document"}`))
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/documents":
		var buf bytes.Buffer
		r.Body = readAll(r.Body, &buf)
		rec := httptest.NewRecorder()
		f.sim.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		code := rec.Code
		if code == http.StatusOK || code == http.StatusCreated {
			var req struct {
				Procedure    string `json:"procedure"`
				DossierCode  string `json:"dossierCode"`
				SupplementNo int    `json:"supplementNo"`
			}
			var rc map[string]any
			_ = json.Unmarshal(buf.Bytes(), &req)
			_ = json.Unmarshal(body, &rc)
			f.mu.Lock()
			n := len(f.docs) + 1
			d := simDocument{DocumentID: fmt.Sprintf("STUB-%06d", n), Reference: fmt.Sprintf("STUB-REF-%06d", n),
				Procedure: req.Procedure, DossierCode: req.DossierCode, SupplementNo: req.SupplementNo}
			f.docs = append(f.docs, d)
			f.mu.Unlock()
			rc["documentId"], rc["reference"] = d.DocumentID, d.Reference
			body, _ = json.Marshal(rc)
			code = http.StatusCreated
			rec.Header().Set("Location", "/api/v1/documents/"+d.DocumentID)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(code)
		_, _ = w.Write(body)
	default:
		f.sim.ServeHTTP(w, r)
	}
}

// readAll reads rc into buf and returns a reader of the same bytes.
func readAll(rc io.ReadCloser, buf *bytes.Buffer) io.ReadCloser {
	_, _ = buf.ReadFrom(rc)
	_ = rc.Close()
	return io.NopCloser(bytes.NewReader(buf.Bytes()))
}
