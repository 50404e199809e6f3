package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/testkit/clock"
)

// Tokens of callers restricted to units (auth.bearerTokens[i].units).
const (
	unitBToken  = "dev-unit-b-token-0001" // unit 1045678 only
	unitsAToken = "dev-unit-a-token-0001" // units 1012345 and 1999999
)

func withUnitCallers(c *config.Config) {
	c.Auth.BearerTokens = append(c.Auth.BearerTokens,
		config.BearerToken{Name: "unit-b", Token: unitBToken, Units: []string{"1045678"}},
		config.BearerToken{Name: "unit-a", Token: unitsAToken, Units: []string{"1999999", "1012345"}})
}

// postAs sends body (XML, or JSON with jws) to path as the caller of token.
func (e *env) postAs(t *testing.T, token, path string, body []byte, jws string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.adapter.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/xml")
	if jws != "" {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-JWS-Signature", jws)
	}
	return exchange(t, req)
}

// getAs reads path as the caller of token.
func (e *env) getAs(t *testing.T, token, path string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.adapter.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return exchange(t, req)
}

// A caller restricted to units submits, withdraws, lists and reads only
// their dossiers: another unit's submission or withdrawal is 403
// unit-not-allowed and reaches nothing; another unit's dossier is 404
// not-found (read, withdrawn, or its evidence log entry) and never listed,
// so its existence does not leak. An unrestricted caller and operators see
// every unit.
func TestCallerUnits(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			e := startClocked(t, func(c *config.Config) { st.edit(t, c); withUnitCallers(c) }, clock.New(receipt))
			const proc = "chi-thuong-xuyen"
			const codeA, codeB = "G09.20-20260609-0000881", "G09.20-20260609-0000882"
			path := "/v1/procedures/" + proc + "/dossiers"

			// A dry run names the same refusal.
			v := e.postAs(t, unitBToken, path+":validate", signedForUnit(t, proc, codeA, "1012345"), "")
			var rep struct {
				Valid    bool
				Problems []struct{ Code string }
			}
			if err := json.Unmarshal(v.body, &rep); err != nil || v.status != 200 || rep.Valid ||
				!slices.ContainsFunc(rep.Problems, func(p struct{ Code string }) bool { return p.Code == "unit-not-allowed" }) {
				t.Fatalf("validation of another unit's dossier: %d %s", v.status, v.body)
			}

			docs := len(e.sim.Documents())
			if a := e.postAs(t, unitBToken, path, signedForUnit(t, proc, codeA, "1012345"), ""); a.status != http.StatusForbidden || a.code() != "unit-not-allowed" {
				t.Fatalf("another unit's submission: %d %s", a.status, a.body)
			}
			if n := len(e.sim.Documents()) - docs; n != 0 {
				t.Fatalf("%d documents reached the treasury for a refused unit", n)
			}
			if a := e.postAs(t, unitsAToken, path, signedForUnit(t, proc, codeA, "1012345"), ""); a.status != http.StatusAccepted {
				t.Fatalf("own unit's submission: %d %s", a.status, a.body)
			}
			b := e.postAs(t, unitBToken, path, signedForUnit(t, proc, codeB, "1045678"), "")
			if b.status != http.StatusAccepted {
				t.Fatalf("own unit's submission: %d %s", b.status, b.body)
			}

			// The evidence log's leaf of unit b's dossier.
			var acc struct{ Receipt struct{ LogIndex int } }
			if err := json.Unmarshal(b.body, &acc); err != nil {
				t.Fatal(err)
			}
			entry := fmt.Sprintf("/v1/audit/entries/%d", acc.Receipt.LogIndex)
			for _, tt := range []struct {
				token  string
				status int
			}{{unitBToken, 200}, {"dev-portal-token", 200}, {unitsAToken, 404}} {
				if a := e.getAs(t, tt.token, entry); a.status != tt.status {
					t.Errorf("%s read by %s: %d %s, want %d", entry, tt.token, a.status, a.body, tt.status)
				}
			}

			// Reading the status.
			for _, tt := range []struct {
				token, code string
				status      int
			}{
				{unitBToken, codeA, 404}, {unitsAToken, codeA, 200}, {"dev-portal-token", codeA, 200},
				{unitsAToken, codeB, 404}, {unitBToken, codeB, 200},
			} {
				a := e.getAs(t, tt.token, path+"/"+tt.code)
				if a.status != tt.status || (tt.status == 404 && a.code() != "not-found") {
					t.Errorf("%s read by %s: %d %s, want %d", tt.code, tt.token, a.status, a.body, tt.status)
				}
			}

			// Listing.
			for _, tt := range []struct {
				token, query string
				want         []string
			}{
				{unitBToken, "", []string{codeB}},
				{unitBToken, "unit=1012345", nil},
				{unitBToken, "unit=1045678", []string{codeB}},
				{unitsAToken, "", []string{codeA}},
				{unitsAToken, "unit=1045678", nil},
				{unitsAToken, "procedure=" + proc, []string{codeA}},
				{"dev-portal-token", "", []string{codeB, codeA}},
				{"dev-operator-token", "", []string{codeB, codeA}},
			} {
				l := e.list(t, tt.token, tt.query)
				if l.status != 200 {
					t.Fatalf("list %q by %s: %d %s", tt.query, tt.token, l.status, l.code)
				}
				if got := codesOf(l.page.Dossiers); !slices.Equal(got, tt.want) {
					t.Errorf("list %q by %s: %v, want %v", tt.query, tt.token, got, tt.want)
				}
			}
			// A page of a restricted walk carries on restricted.
			first := e.list(t, unitsAToken, "limit=1")
			if first.page.Next == nil || *first.page.Next != "" {
				t.Fatalf("one dossier, one page: next %v", first.page.Next)
			}

			// Withdrawing another unit's dossier.
			wpath := path + "/" + codeA + "/withdrawal"
			withdrawal := func(unit string) ([]byte, string) {
				return signedWithdrawal(t, proc, "chu-tai-khoan", func(v map[string]any) {
					v["maHoSo"], v["maDVQHNS"] = codeA, unit
				})
			}
			body, jws := withdrawal("1012345")
			if a := e.postAs(t, unitBToken, wpath, body, jws); a.status != http.StatusForbidden || a.code() != "unit-not-allowed" {
				t.Fatalf("withdrawal naming another unit: %d %s", a.status, a.body)
			}
			body, jws = withdrawal("1045678")
			if a := e.postAs(t, unitBToken, wpath, body, jws); a.status != http.StatusNotFound || a.code() != "not-found" {
				t.Fatalf("withdrawal of another unit's dossier: %d %s", a.status, a.body)
			}
			if n := e.withdrawalsAtTreasury(); n != 0 {
				t.Fatalf("%d withdrawals reached the treasury", n)
			}
			body, jws = withdrawal("1012345")
			if a := e.postAs(t, unitsAToken, wpath, body, jws); a.status != http.StatusAccepted {
				t.Fatalf("own unit's withdrawal: %d %s", a.status, a.body)
			}
		})
	}
}

// A caller restricted to units that submits its own dossier under a code
// another unit's dossier holds learns nothing of that dossier: 409, the
// code is taken, without its treasury reference, its place, its unit or
// its status; as a first submission and as a supplement. The unit's own
// retry under another key is still told where its dossier is.
func TestCodeOfAnotherUnitTellsNothing(t *testing.T) {
	e := startClocked(t, func(c *config.Config) { withUnitCallers(c) }, clock.New(receipt))
	const proc = "chi-thuong-xuyen"
	const codeA = "G09.20-20260609-0000891"
	path := "/v1/procedures/" + proc + "/dossiers"
	first := e.postAs(t, unitsAToken, path, signedForUnit(t, proc, codeA, "1012345"), "")
	if first.status != http.StatusAccepted {
		t.Fatalf("own unit's submission: %d %s", first.status, first.body)
	}
	ref := receiptOf(t, first.body)
	var acc struct {
		TreasuryReference string `json:"treasuryReference"`
	}
	_ = json.Unmarshal(first.body, &acc)
	for name, body := range map[string][]byte{
		"first submission": signedForUnit(t, proc, codeA, "1045678"),
		"supplement": signedTemplateEdited(t, proc, func(root *etree.Element) {
			root.CreateAttr("Id", "HS-"+codeA)
			root.FindElement("maHoSo").SetText(codeA)
			root.FindElement("maDVQHNS").SetText("1045678")
			root.FindElement("soBoSung").SetText("1")
		}),
	} {
		b := e.postAs(t, unitBToken, path, body, "")
		if b.status != http.StatusConflict || b.code() != "dossier-already-submitted" {
			t.Fatalf("%s: %d %s, want 409 dossier-already-submitted", name, b.status, b.body)
		}
		for _, leak := range []string{acc.TreasuryReference, "1012345", "treasuryReference", "first", ref.LeafHash} {
			if leak != "" && strings.Contains(string(b.body), leak) {
				t.Errorf("%s: the answer names %q: %s", name, leak, b.body)
			}
		}
		if loc := b.header.Get("Location"); loc != "" {
			t.Errorf("%s: Location %q", name, loc)
		}
	}
	// The owning unit under another key: told where its dossier is.
	req, _ := http.NewRequest(http.MethodPost, e.adapter.URL+path, bytes.NewReader(signedForUnit(t, proc, codeA, "1012345")))
	req.Header.Set("Authorization", "Bearer "+unitsAToken)
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("Idempotency-Key", "another-key-0001")
	if a := exchange(t, req); a.status != http.StatusConflict || !strings.Contains(string(a.body), acc.TreasuryReference) || a.header.Get("Location") == "" {
		t.Errorf("the owning unit under another key: %d %v %s", a.status, a.header, a.body)
	}
}

// A caller restricted to units walks its whole listing page by page with
// the next each page gives, whether it has one unit or several, on both
// stores; no page names another unit's dossier.
func TestRestrictedCallerPagesThrough(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		const proc = "chi-thuong-xuyen"
		var mine []string
		for i, unit := range []string{"1012345", "1045678", "1012345", "1012345"} {
			code := fmt.Sprintf("G09.20-20260609-000090%d", i)
			if a := e.post(t, proc, "application/xml", signedForUnit(t, proc, code, unit), ""); a.status != http.StatusAccepted {
				t.Fatalf("%s: %d %s", code, a.status, a.body)
			}
			if unit != "1045678" {
				mine = append(mine, code)
			}
		}
		for token, want := range map[string][]string{unitsAToken: mine, unitBToken: {"G09.20-20260609-0000901"}} {
			var got []string
			query := "limit=1"
			for range 10 {
				l := e.list(t, token, query)
				if l.status != http.StatusOK {
					t.Fatalf("%s, %q: %d %s", token, query, l.status, l.code)
				}
				got = append(got, codesOf(l.page.Dossiers)...)
				if *l.page.Next == "" {
					break
				}
				query = "limit=1&cursor=" + url.QueryEscape(*l.page.Next)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s walked %v, want %v", token, got, want)
			}
		}
	}, withUnitCallers)
}

// Once unit A's claim on a dossier code is gone (past the claims'
// retention; equally a memory store's restart or a claim lost in a
// failover), unit B's first submission under that code is still told only
// that the code is taken: sent, it would go under A's treasury key, and the
// treasury would answer A's document, A's reference to B with a 202.
func TestCodeOfAnotherUnitAfterItsClaim(t *testing.T) {
	clk := clock.New(receipt)
	e := startClocked(t, withUnitCallers, clk)
	const proc, code = "chi-thuong-xuyen", "G09.20-20260609-0000891"
	path := "/v1/procedures/" + proc + "/dossiers"
	first := e.postAs(t, unitsAToken, path, signedForUnit(t, proc, code, "1012345"), "")
	if first.status != http.StatusAccepted {
		t.Fatalf("A: %d %s", first.status, first.body)
	}
	var acc struct{ TreasuryReference string }
	if err := json.Unmarshal(first.body, &acc); err != nil || acc.TreasuryReference == "" {
		t.Fatalf("A's answer %s: %v", first.body, err)
	}
	clk.Advance(31 * 24 * time.Hour)
	seedTemplateFiles(t, e.app)
	b := e.postAs(t, unitBToken, path, signedForUnit(t, proc, code, "1045678"), "")
	if b.status != http.StatusConflict || strings.Contains(string(b.body), acc.TreasuryReference) || !strings.Contains(string(b.body), "may not see") {
		t.Errorf("B: %d %s; want 409, the code taken, nothing of A's", b.status, b.body)
	}
	if g := e.getAs(t, unitBToken, path+"/"+code); g.status == http.StatusOK {
		t.Errorf("unit B reads A's dossier: %s", g.body)
	}
}
