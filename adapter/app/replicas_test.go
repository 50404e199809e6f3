package app

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// shortfallCount reads dvc_store_replication_shortfalls_total{op} from the
// admin listener's /metrics.
func (e *env) shortfallCount(t *testing.T, op string) int {
	t.Helper()
	resp, err := http.Get(e.adminSrv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^dvc_store_replication_shortfalls_total\{op="` + op + `"\} (\d+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no dvc_store_replication_shortfalls_total{op=%q} in /metrics", op)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// With store.redis.minReplicas 1 and the replica stalled, a submission
// whose treasury answer could not be replicated answers 503, and its retry
// replays the answer once the replica is back, without a second send; a
// callback answers 503 and its retry is acknowledged once the replica is
// back.
func TestReplicaShortfallAnswers503(t *testing.T) {
	r := redistest.StartReplicated(t, 1)
	var pauseAtAnswered atomic.Bool
	e := startStatusOpts(t, Options{Hook: func(step string) {
		if step == "answered" && pauseAtAnswered.CompareAndSwap(true, false) {
			r.Pause(t, 0)
		}
	}}, func(c *config.Config) {
		c.Store.Kind = "redis"
		c.Store.Redis.Addrs = []string{r.Addr}
		c.Store.Redis.KeyPrefix = "dvc:"
		c.Store.Redis.MinReplicas = 1
		c.Store.Redis.ReplicaTimeout = 200 * time.Millisecond
	})

	// Replica up: an ordinary 202.
	procedure, code := e.submit(t, "tai-khoan/valid-xml")

	// The replica stalls after the treasury's answer, before the record of
	// the final answer.
	completeBefore, replayBefore := e.shortfallCount(t, "idempotency_complete"), e.shortfallCount(t, "idempotency_replay")
	c := fx(t, "tai-khoan/valid-json")
	code2, _ := c.DossierCode()
	pauseAtAnswered.Store(true)
	a := e.send(t, c, "key-replicas-1")
	if a.status != http.StatusServiceUnavailable || a.code() != "store-unavailable" || a.header.Get("Retry-After") == "" {
		t.Fatalf("answer with the replica stalled: %d %v %s", a.status, a.header, a.body)
	}
	calls := e.documentCalls.Load()
	if n := e.docsFor(t, code2); n != 1 {
		t.Fatalf("%d documents at the treasury after the first attempt, want 1", n)
	}
	// The retry while the replica is still stalled: 503 again, nothing sent.
	if a := e.send(t, c, "key-replicas-1"); a.status != http.StatusServiceUnavailable || a.code() != "store-unavailable" {
		t.Fatalf("retry with the replica stalled: %d %s", a.status, a.body)
	}
	r.Resume(t, 0)
	a = e.send(t, c, "key-replicas-1")
	if a.status != http.StatusAccepted || a.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry after the replica is back: %d %v %s", a.status, a.header, a.body)
	}
	if got := e.documentCalls.Load(); got != calls {
		t.Errorf("the retries made %d more treasury calls, want none", got-calls)
	}
	if n := e.docsFor(t, code2); n != 1 {
		t.Errorf("%d documents at the treasury, want 1", n)
	}
	if d := e.shortfallCount(t, "idempotency_complete") - completeBefore; d != 1 {
		t.Errorf("idempotency_complete shortfalls +%d, want +1", d)
	}
	if d := e.shortfallCount(t, "idempotency_replay") - replayBefore; d != 1 {
		t.Errorf("idempotency_replay shortfalls +%d, want +1", d)
	}

	// A callback with the replica stalled: 503, counted; its retry is
	// acknowledged once the replica is back.
	appendBefore := e.shortfallCount(t, "outbox_append")
	ev := e.build(t, treasurysim.EventRequest{DossierCode: code, Status: "PROCESSING"})
	r.Pause(t, 0)
	if a := e.postCallback(t, ev.Header, ev.Body); a.status != http.StatusServiceUnavailable || a.code() != "store-unavailable" || a.header.Get("Retry-After") == "" {
		t.Fatalf("callback with the replica stalled: %d %v %s", a.status, a.header, a.body)
	}
	if d := e.shortfallCount(t, "outbox_append") - appendBefore; d != 1 {
		t.Errorf("outbox_append shortfalls +%d, want +1", d)
	}
	r.Resume(t, 0)
	if a := e.postCallback(t, ev.Header, ev.Body); a.status/100 != 2 {
		t.Fatalf("callback retry after the replica is back: %d %s", a.status, a.body)
	}
	// Delivered with the replica stalled: the portal takes the move, but
	// the dossier's record (another slot than the outbox's) is not known
	// on a replica, so the event is not acknowledged: a failover could
	// keep the acknowledgement and lose the record.
	recordBefore := e.shortfallCount(t, "status_record")
	var paused atomic.Bool
	e.mu.Lock()
	e.onWrite = func(service string) {
		// The replica stalls once the portal took the move: the claim
		// before it was replicated, the record's settlement after it is not.
		if service == "CapNhatTienDoHoSoMC" && paused.CompareAndSwap(false, true) {
			r.Pause(t, 0)
		}
	}
	e.mu.Unlock()
	e.clock.Advance(2 * time.Second)
	e.poll(t)
	if !paused.Load() {
		t.Fatal("the portal got no progress write")
	}
	if d := e.shortfallCount(t, "status_record") - recordBefore; d != 1 {
		t.Errorf("status_record shortfalls +%d, want +1", d)
	}
	took := len(e.received(t, code))
	if took == 0 {
		t.Fatalf("the portal got nothing for %s %s", procedure, code)
	}
	st, err := e.app.Outbox.Stats(t.Context())
	if err != nil || st.Pending != 1 || st.Dead != 0 {
		t.Fatalf("outbox with the record unconfirmed: %+v %v, want the event still held", st, err)
	}
	// The replica back: the retry finds the move settled and acknowledges
	// it, sending the portal nothing more.
	r.Resume(t, 0)
	e.drain(t)
	if st, err := e.app.Outbox.Stats(t.Context()); err != nil || st.Pending != 0 {
		t.Fatalf("outbox after the replica is back: %+v %v", st, err)
	}
	if n := len(e.received(t, code)); n != took {
		t.Errorf("the portal got %d calls after the retry, want the %d of the first attempt", n, took)
	}

	// The account opened with the replica stalled: the specimen's signers
	// are registered on the primary but not known on a replica (their slot
	// is not the outbox's), so the callback is 503 and nothing is stored;
	// its retry once the replica is back is taken.
	registerBefore := e.shortfallCount(t, "signers_register")
	opened := e.build(t, treasurysim.EventRequest{DossierCode: code, Status: "ACCOUNT_OPENED"})
	r.Pause(t, 0)
	if a := e.postCallback(t, opened.Header, opened.Body); a.status != http.StatusServiceUnavailable || a.code() != "store-unavailable" {
		t.Fatalf("ACCOUNT_OPENED with the replica stalled: %d %s", a.status, a.body)
	}
	if d := e.shortfallCount(t, "signers_register") - registerBefore; d != 1 {
		t.Errorf("signers_register shortfalls +%d, want +1", d)
	}
	if st, err := e.app.Outbox.Stats(t.Context()); err != nil || st.Pending != 0 {
		t.Fatalf("outbox after the refused callback: %+v %v, want nothing stored", st, err)
	}
	r.Resume(t, 0)
	if a := e.postCallback(t, opened.Header, opened.Body); a.status != http.StatusAccepted {
		t.Fatalf("ACCOUNT_OPENED retried: %d %s", a.status, a.body)
	}
	if rec := e.view(t, procedure, code); rec.SpecimenRegisteredAt.IsZero() {
		t.Errorf("the specimen is not registered after the retry")
	}
}
