package treasurysim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Only the latest KeepRequests documents keep their request: an older one
// keeps the rest of its record, says its request is dropped, answers its
// original 404 naming the limit, and is still found by its key (a replay
// answers its receipt) and withdrawn with its lines given back.
func TestKeepRequests(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, Options{KeepRequests: 2})
	original := []byte("<HoSo>signed</HoSo>")
	s := sha256.Sum256(original)
	sum := hex.EncodeToString(s[:])
	before, _ := h.sim.Remaining("1012345", "422", "6001")
	var reqs []map[string]any
	var ids []string
	for i := range 3 {
		req := request(fmt.Sprintf("G09.20-20260609-00011%02d", i), set("evidence", evidenceOf(original, sum)))
		reqs = append(reqs, req)
		ids = append(ids, h.mustSend(req))
	}
	docs := h.sim.Documents()
	if len(docs) != 3 {
		t.Fatalf("%d documents, want 3", len(docs))
	}
	for i, d := range docs {
		if dropped := i == 0; d.RequestDropped != dropped || (len(d.Request) == 0) != dropped {
			t.Errorf("document %d: requestDropped %v with %d request bytes, want dropped %v", i, d.RequestDropped, len(d.Request), dropped)
		}
		if d.DocumentID != ids[i] || d.LineCount != 2 || d.TotalAmount != 1500 {
			t.Errorf("document %d lost its record: %+v", i, d)
		}
	}
	got := h.get("/sim/documents/" + ids[0] + "/original")
	if got.Code != http.StatusNotFound || !strings.Contains(got.Body.String(), "latest 2 documents") {
		t.Errorf("original of a dropped request: %d %s", got.Code, got.Body)
	}
	if got := h.get("/sim/documents/" + ids[1] + "/original"); got.Code != http.StatusOK || got.Body.String() != string(original) {
		t.Errorf("original of a kept request: %d %s", got.Code, got.Body)
	}
	if again := h.send(reqs[0]); again.Code != http.StatusOK {
		t.Errorf("replay of the first document: %d %s", again.Code, again.Body)
	}
	if after, _ := h.sim.Remaining("1012345", "422", "6001"); after != before-3000 {
		t.Fatalf("remaining %d after three documents, want %d", after, before-3000)
	}
	if rec := h.withdraw(ids[0], withdrawalKeyOf(reqs[0]), withdrawalOf(reqs[0])); rec.Code != http.StatusCreated {
		t.Fatalf("withdraw: %d %s", rec.Code, rec.Body)
	}
	if after, _ := h.sim.Remaining("1012345", "422", "6001"); after != before-2000 {
		t.Errorf("remaining %d after withdrawing a document whose request was dropped, want %d", after, before-2000)
	}
}

// A negative KeepRequests keeps every request; zero keeps the default number.
func TestKeepRequestsAll(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, Options{KeepRequests: -1})
	for i := range 3 {
		h.mustSend(request(fmt.Sprintf("G09.20-20260609-00012%02d", i)))
	}
	for i, d := range h.sim.Documents() {
		if d.RequestDropped || len(d.Request) == 0 {
			t.Errorf("document %d: request dropped with KeepRequests -1", i)
		}
	}
	if k := newHarness(t).sim.store.keep; k != DefaultKeepRequests {
		t.Errorf("zero KeepRequests keeps %d, want %d", k, DefaultKeepRequests)
	}
}

// With unlimited allotments nothing is deducted, so a withdrawal gives
// nothing back: the allotment stays whole.
func TestWithdrawalUnlimitedAllotments(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, Options{UnlimitedAllotments: true})
	before, _ := h.sim.Remaining("1012345", "422", "6001")
	req := request("G09.20-20260609-0001301")
	id := h.mustSend(req)
	if rec := h.withdraw(id, withdrawalKeyOf(req), withdrawalOf(req)); rec.Code != http.StatusCreated {
		t.Fatalf("withdraw: %d %s", rec.Code, rec.Body)
	}
	if after, _ := h.sim.Remaining("1012345", "422", "6001"); after != before {
		t.Errorf("remaining %d after a withdrawal with unlimited allotments, want %d", after, before)
	}
}
