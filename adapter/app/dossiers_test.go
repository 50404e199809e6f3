package app

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/testkit/clock"
)

// startClocked starts the adapter and the treasury simulator on a settable
// clock, so that each submission gets its own receipt time.
func startClocked(t *testing.T, edit func(*config.Config), clk *clock.Clock) *env {
	t.Helper()
	sim := treasurysim.New(treasurysim.Options{Clock: clk.Now})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	cfg := testConfig(t, ts.URL)
	if edit != nil {
		edit(cfg)
	}
	a, err := New(cfg, Options{Clock: clk.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	seedTemplateFiles(t, a)
	as := httptest.NewServer(a.Handler)
	t.Cleanup(as.Close)
	return &env{app: a, adapter: as, treasury: ts, sim: sim}
}

// signedForUnit signs the procedure's XML template as dossier code of unit.
func signedForUnit(t *testing.T, procedure, code, unit string) []byte {
	t.Helper()
	return signedTemplateEdited(t, procedure, func(root *etree.Element) {
		root.CreateAttr("Id", "HS-"+code)
		root.FindElement("maHoSo").SetText(code)
		root.FindElement("maDVQHNS").SetText(unit)
	})
}

type listAnswer struct {
	status int
	code   string
	header http.Header
	page   struct {
		Dossiers []dossier.Item `json:"dossiers"`
		Next     *string        `json:"next"`
	}
}

func (e *env) list(t *testing.T, token, query string) listAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.adapter.URL+"/v1/dossiers?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	a := listAnswer{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		var p struct{ Code string }
		_ = json.Unmarshal(body, &p)
		a.code = p.Code
		return a
	}
	if err := json.Unmarshal(body, &a.page); err != nil || a.page.Next == nil || a.page.Dossiers == nil {
		t.Fatalf("%s: %v", body, err)
	}
	return a
}

func codesOf(items []dossier.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.MaHoSo
	}
	return out
}

// Fixtures submitted end to end are listed newest first with their unit,
// status, treasury reference and receipt time, to the portal's callers and
// to operators; each filter, the pages and the refusals behave as
// documented.
func TestFindDossiersEndToEnd(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			clk := clock.New(receipt)
			e := startClocked(t, func(c *config.Config) { st.edit(t, c) }, clk)
			type sent struct {
				procedure, code, unit, reference string
				at                               time.Time
			}
			var accepted []sent // in submission order, one minute apart
			submit := func(req *http.Request) answer {
				t.Helper()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = resp.Body.Close() }()
				body, _ := io.ReadAll(resp.Body)
				return answer{resp.StatusCode, resp.Header, body}
			}
			accept := func(procedure, unit string, a answer) {
				t.Helper()
				var acc struct{ MaHoSo, TreasuryReference string }
				if err := json.Unmarshal(a.body, &acc); err != nil || a.status != 202 {
					t.Fatalf("%d %s", a.status, a.body)
				}
				accepted = append(accepted, sent{procedure, acc.MaHoSo, unit, acc.TreasuryReference, clk.Now()})
				clk.Advance(time.Minute)
			}
			for _, name := range []string{"chi-thuong-xuyen/valid-xml", "tai-khoan/valid-xml", "von-dau-tu/valid-json",
				"cam-ket-chi/valid-xml", "tai-khoan/valid-json"} {
				c := fx(t, name)
				req, err := c.Request(e.adapter.URL)
				if err != nil {
					t.Fatal(err)
				}
				accept(filepath.Dir(name), "1012345", submit(req))
			}
			// a dossier of another unit
			other, err := http.NewRequest(http.MethodPost, e.adapter.URL+"/v1/procedures/chi-thuong-xuyen/dossiers",
				bytes.NewReader(signedForUnit(t, "chi-thuong-xuyen", "G09.20-20260609-0000777", "1045678")))
			if err != nil {
				t.Fatal(err)
			}
			other.Header.Set("Content-Type", "application/xml")
			other.Header.Set("Authorization", "Bearer dev-portal-token")
			accept("chi-thuong-xuyen", "1045678", submit(other))
			// a refused dossier is not listed
			c := fx(t, "tai-khoan/treasury-refusal")
			refused, err := c.Request(e.adapter.URL)
			if err != nil {
				t.Fatal(err)
			}
			if a := submit(refused); a.status != 422 {
				t.Fatalf("refusal: %d %s", a.status, a.body)
			}

			newestFirst := func(keep func(sent) bool) []string {
				var out []string
				for i := len(accepted) - 1; i >= 0; i-- {
					if keep(accepted[i]) {
						out = append(out, accepted[i].code)
					}
				}
				return out
			}
			all := func(sent) bool { return true }

			// Everything, to the portal and to an operator.
			for _, token := range []string{"dev-portal-token", "dev-operator-token"} {
				a := e.list(t, token, "")
				if a.status != 200 || *a.page.Next != "" {
					t.Fatalf("%s: %d %s", token, a.status, a.code)
				}
				if got, want := codesOf(a.page.Dossiers), newestFirst(all); !slices.Equal(got, want) {
					t.Fatalf("%s: %v, want %v", token, got, want)
				}
			}
			items := e.list(t, "dev-portal-token", "").page.Dossiers
			for i, it := range items {
				s := accepted[len(accepted)-1-i]
				if it.Procedure != s.procedure || it.Unit != s.unit || it.TrangThai != 1 || it.SoBoSung != 0 ||
					it.TreasuryReference != s.reference || !it.ReceivedAt.Equal(s.at) || !it.UpdatedAt.Equal(s.at) {
					t.Errorf("item %+v, sent %+v", it, s)
				}
			}
			// The dossier's own view carries its unit and receipt time too.
			var view dossier.Record
			viewReq, _ := http.NewRequest(http.MethodGet, e.adapter.URL+"/v1/procedures/chi-thuong-xuyen/dossiers/G09.20-20260609-0000777", nil)
			viewReq.Header.Set("Authorization", "Bearer dev-portal-token")
			vr, err := http.DefaultClient.Do(viewReq)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.NewDecoder(vr.Body).Decode(&view); err != nil || view.Unit != "1045678" || view.ReceivedAt.IsZero() {
				t.Errorf("view %+v %v", view, err)
			}
			_ = vr.Body.Close()

			// Each filter.
			day := receipt.Format(time.DateOnly)
			from, to := accepted[1].at, accepted[3].at
			for _, tt := range []struct {
				query string
				keep  func(sent) bool
			}{
				{"unit=1045678", func(s sent) bool { return s.unit == "1045678" }},
				{"unit=1012345&procedure=tai-khoan", func(s sent) bool { return s.unit == "1012345" && s.procedure == "tai-khoan" }},
				{"procedure=chi-thuong-xuyen", func(s sent) bool { return s.procedure == "chi-thuong-xuyen" }},
				{"status=1", all},
				{"status=4,9", func(sent) bool { return false }},
				{"from=" + day + "&to=" + day, all},
				{"to=" + receipt.AddDate(0, 0, -1).Format(time.DateOnly), func(sent) bool { return false }},
				{"from=" + url.QueryEscape(from.Format(time.RFC3339)) + "&to=" + url.QueryEscape(to.Format(time.RFC3339)),
					func(s sent) bool { return !s.at.Before(from) && !s.at.After(to) }},
			} {
				a := e.list(t, "dev-portal-token", tt.query)
				if a.status != 200 {
					t.Fatalf("%s: %d %s", tt.query, a.status, a.code)
				}
				if got, want := codesOf(a.page.Dossiers), newestFirst(tt.keep); !slices.Equal(got, want) {
					t.Errorf("%s: %v, want %v", tt.query, got, want)
				}
			}

			// Pages of two, followed to the end.
			var walked []string
			q := url.Values{"limit": {"2"}}
			for range 10 {
				a := e.list(t, "dev-operator-token", q.Encode())
				if a.status != 200 || len(a.page.Dossiers) > 2 {
					t.Fatalf("page: %d %s %v", a.status, a.code, a.page.Dossiers)
				}
				walked = append(walked, codesOf(a.page.Dossiers)...)
				if *a.page.Next == "" {
					break
				}
				q.Set("cursor", *a.page.Next)
			}
			if want := newestFirst(all); !slices.Equal(walked, want) {
				t.Errorf("pages: %v, want %v", walked, want)
			}

			// Refusals.
			first := e.list(t, "dev-portal-token", "limit=1")
			for _, tt := range []struct {
				token, query, code string
				status             int
			}{
				{"", "", "unauthorized", 401},
				{"not-a-token", "", "unauthorized", 401},
				{"dev-portal-token", "procedure=no-such-procedure", "invalid-query", 400},
				{"dev-portal-token", "status=11", "invalid-query", 400},
				{"dev-portal-token", "unit=12345", "invalid-query", 400},
				{"dev-portal-token", "from=yesterday", "invalid-query", 400},
				{"dev-portal-token", "limit=500", "invalid-query", 400},
				{"dev-portal-token", "page=2", "invalid-query", 400},
				{"dev-portal-token", "cursor=bm90LWEtY3Vyc29y", "invalid-query", 400},
				{"dev-portal-token", "unit=1012345&cursor=" + *first.page.Next, "invalid-query", 400},
			} {
				a := e.list(t, tt.token, tt.query)
				if a.status != tt.status || a.code != tt.code {
					t.Errorf("%q with %q: %d %s, want %d %s", tt.query, tt.token, a.status, a.code, tt.status, tt.code)
				}
				if tt.status == 401 && a.header.Get("WWW-Authenticate") != `Bearer realm="dvc-adapter"` {
					t.Errorf("challenge %q", a.header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}
