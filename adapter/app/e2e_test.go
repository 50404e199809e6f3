package app

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/testkit/fixture"
	"github.com/kbnn/dvc/configs"
)

var update = flag.Bool("update", false, "rewrite the golden treasury requests under testdata/golden")

const repo = "../.."

// receipt is the fixed receipt time of the end-to-end tests.
var receipt = time.Date(2026, 6, 9, 9, 0, 0, 0, time.FixedZone("ICT", 7*3600))

// captured records the bodies the treasury simulator received, by dossier code.
type captured struct {
	mu     sync.Mutex
	bodies map[string][]byte
	api    atomic.Int64 // requests to the treasury's API (/api/...)
}

func (c *captured) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			c.api.Add(1)
		}
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/documents" {
			b, _ := io.ReadAll(r.Body)
			var head struct {
				DossierCode string `json:"dossierCode"`
			}
			_ = json.Unmarshal(b, &head)
			c.mu.Lock()
			c.bodies[head.DossierCode] = b
			c.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		h.ServeHTTP(w, r)
	})
}

// outage answers 503 to the treasury API while down is set.
func outage(down, sendsDown *atomic.Bool, calls *atomic.Int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v1/documents") {
			calls.Add(1)
		}
		send := r.Method == http.MethodPost && r.URL.Path == "/api/v1/documents"
		if (down.Load() && strings.HasPrefix(r.URL.Path, "/api/")) || (sendsDown.Load() && send) {
			http.Error(w, `{"reasonCode":"UNAVAILABLE","message":"down"}`, http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// testConfig is configs/local.yaml with paths made relative to this package.
func testConfig(t testing.TB, treasuryURL string) *config.Config {
	t.Helper()
	cfg, err := config.Load(configs.Local, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The tests' adapters run on the fixtures' receipt time, months from
	// Redis's clock: no skew check (TestReadyzRefusesASkewedClock and
	// TestClockHold set one).
	cfg.Store.Redis.MaxClockSkew = -1
	fix := func(ps []string) {
		for i, p := range ps {
			ps[i] = filepath.Join(repo, p)
		}
	}
	fix(cfg.Signatures.TrustRoots)
	fix(cfg.Signatures.Intermediates)
	fix(cfg.Signatures.CRLs)
	cfg.Treasury.BaseURL = treasuryURL
	cfg.Evidence.Dir = t.TempDir()
	cfg.Evidence.KeyFile = filepath.Join(repo, cfg.Evidence.KeyFile)
	return cfg
}

type env struct {
	// treasuryDown makes the treasury answer 503 to every API call.
	treasuryDown *atomic.Bool
	// sendsDown makes it answer 503 to every document sent, and store
	// none (attachments and lookups are answered).
	sendsDown *atomic.Bool
	// documentCalls counts calls to the treasury's document routes.
	documentCalls *atomic.Int64
	app           *Adapter
	adapter       *httptest.Server // the public listener
	adminSrv      *httptest.Server // the admin listener
	treasury      *httptest.Server
	sim           *treasurysim.Sim
	seen          *captured
}

func start(t testing.TB) *env { return startWith(t, nil) }

// startWith starts the adapter after edit has adjusted its configuration.
func startWith(t testing.TB, edit func(*config.Config)) *env {
	t.Helper()
	return startOpts(t, edit, Options{})
}

// startOpts is startWith with o's Log, Hook and Clock; a nil Log discards,
// a nil Clock stands still at the fixtures' receipt time.
func startOpts(t testing.TB, edit func(*config.Config), o Options) *env {
	t.Helper()
	sim := treasurysim.New(treasurysim.Options{Clock: func() time.Time { return receipt }, MaxBodyBytes: 64 << 20})
	seen := &captured{bodies: map[string][]byte{}}
	down, sendsDown, calls := &atomic.Bool{}, &atomic.Bool{}, &atomic.Int64{}
	ts := httptest.NewServer(outage(down, sendsDown, calls, seen.wrap(sim)))
	t.Cleanup(ts.Close)
	cfg := testConfig(t, ts.URL)
	if edit != nil {
		edit(cfg)
	}
	if o.Clock == nil {
		o.Clock = func() time.Time { return receipt }
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	seedTemplateFiles(t, a)
	as := httptest.NewServer(a.Handler)
	t.Cleanup(as.Close)
	adm := httptest.NewServer(a.Admin)
	t.Cleanup(adm.Close)
	return &env{treasuryDown: down, sendsDown: sendsDown, documentCalls: calls, app: a, adapter: as, adminSrv: adm, treasury: ts, sim: sim, seen: seen}
}

type simDocument struct {
	Procedure   string `json:"procedure"`
	DossierCode string `json:"dossierCode"`
}

func (e *env) documents(t *testing.T) []simDocument {
	t.Helper()
	resp, err := http.Get(e.treasury.URL + "/sim/documents")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var docs []simDocument
	if err := json.NewDecoder(resp.Body).Decode(&docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

// Every fixture of every procedure gets its expected answer; every accepted
// one reaches the treasury exactly once with the golden request, and no
// refused one reaches it at all.
func TestFixturesEndToEnd(t *testing.T) {
	cases, err := fixture.LoadAll(filepath.Join(repo, "testdata/fixtures"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 4*20 {
		t.Fatalf("only %d fixtures", len(cases))
	}
	// The 1.5 MB payroll dossier under the race detector on a busy machine
	// can take longer than the production deadlines; this test is about
	// answers, not time.
	e := startOpts(t, func(c *config.Config) {
		c.Treasury.Timeout = 2 * time.Minute
		for id, p := range c.Procedures {
			p.Deadline = 2 * time.Minute
			c.Procedures[id] = p
		}
	}, Options{})
	accepted := map[string]string{} // dossier code -> procedure/case
	refused := map[string]string{}
	for _, c := range cases {
		code, _ := c.DossierCode()
		t.Run(c.String(), func(t *testing.T) {
			uploadFiles(t, e.adapter.URL, c)
			req, err := c.Request(e.adapter.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.Expect.Status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.Expect.Status, body)
			}
			if resp.StatusCode == http.StatusAccepted {
				accepted[code] = c.String()
				var acc map[string]any
				if err := json.Unmarshal(body, &acc); err != nil {
					t.Fatal(err)
				}
				for _, k := range []string{"maHoSo", "procedure", "trangThai", "treasuryReference", "receivedAt"} {
					if acc[k] == nil || acc[k] == "" {
						t.Errorf("202 body lacks %s: %s", k, body)
					}
				}
				if acc["maHoSo"] != code {
					t.Errorf("maHoSo %v, want %s", acc["maHoSo"], code)
				}
				return
			}
			if code != "" {
				refused[code] = c.String()
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			var p struct {
				Code, Type, Title, Detail, Instance string
				Status                              int
				Errors                              []struct{ Path string }
				Rules                               []struct{ ID string }
			}
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Code != c.Expect.Code || p.Status != resp.StatusCode || p.Instance == "" || p.Type == "" || p.Title == "" {
				t.Fatalf("problem %+v, want code %s", p, c.Expect.Code)
			}
			if (p.Code == "schema-violation" || p.Code == "business-rule-violation") && len(p.Errors) == 0 {
				t.Fatalf("%s without field paths: %s", p.Code, body)
			}
			if len(c.Expect.Rules) > 0 {
				var ids []string
				for _, r := range p.Rules {
					if !slices.Contains(ids, r.ID) {
						ids = append(ids, r.ID)
					}
				}
				if !slices.Equal(ids, c.Expect.Rules) {
					t.Fatalf("broken rules %v, want %v: %s", ids, c.Expect.Rules, body)
				}
			}
		})
	}
	count := map[string]int{}
	for _, d := range e.documents(t) {
		count[d.DossierCode]++
	}
	for code, name := range accepted {
		if count[code] != 1 {
			t.Errorf("%s (%s): %d treasury documents, want 1", name, code, count[code])
		}
		if strings.HasSuffix(name, "/large-payroll") {
			checkLarge(t, e.seen.bodies[code])
			continue
		}
		checkGolden(t, name, e.seen.bodies[code])
	}
	sameRequestFromBothForms(t, accepted, e.seen.bodies)
	for code, name := range accepted {
		e.checkStatusView(t, strings.SplitN(name, "/", 2)[0], code)
	}
	for code, name := range refused {
		if _, ok := accepted[code]; !ok && count[code] != 0 {
			t.Errorf("%s (%s) was refused but reached the treasury", name, code)
		}
	}
}

// checkStatusView: GET on an accepted dossier shows status 1 and its history.
func (e *env) checkStatusView(t *testing.T, procedure, code string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.adapter.URL+"/v1/procedures/"+procedure+"/dossiers/"+code, nil)
	req.Header.Set("Authorization", "Bearer dev-portal-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var rec struct {
		MaHoSo            string
		TrangThai         int
		TreasuryReference string
		History           []struct{ TrangThai int }
	}
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/%s: %d %v", procedure, code, resp.StatusCode, err)
	}
	if rec.MaHoSo != code || rec.TrangThai != 1 || rec.TreasuryReference == "" || len(rec.History) != 1 {
		t.Errorf("status view of %s/%s: %+v", procedure, code, rec)
	}
}

// sameRequestFromBothForms: the XML and the JSON form of a procedure's valid
// dossier (which differ only in their dossier code) give the same request.
func sameRequestFromBothForms(t *testing.T, accepted map[string]string, bodies map[string][]byte) {
	t.Helper()
	byCase := map[string]map[string]any{}
	for code, name := range accepted {
		var v map[string]any
		if err := json.Unmarshal(bodies[code], &v); err != nil {
			continue
		}
		delete(v, "dossierCode")
		delete(v, "evidence") // the received bytes differ by form
		byCase[name] = v
	}
	for _, p := range []string{"chi-thuong-xuyen", "von-dau-tu", "tai-khoan", "cam-ket-chi"} {
		x, j := byCase[p+"/valid-xml"], byCase[p+"/valid-json"]
		if x == nil || j == nil {
			t.Errorf("%s: valid-xml or valid-json was not accepted", p)
			continue
		}
		if !reflect.DeepEqual(x, j) {
			t.Errorf("%s: the XML and JSON forms give different treasury requests", p)
		}
	}
}

// checkLarge checks the payroll dossier's request without a megabyte golden:
// every line arrived, and the lines add up to the total.
func checkLarge(t *testing.T, body []byte) {
	t.Helper()
	var req struct {
		TotalAmount int64 `json:"totalAmount"`
		Lines       []struct {
			Amount    int64  `json:"amount"`
			PayeeName string `json:"payeeName"`
		} `json:"lines"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, l := range req.Lines {
		sum += l.Amount
	}
	if len(req.Lines) != 5000 || sum != req.TotalAmount || req.TotalAmount == 0 {
		t.Fatalf("payroll request: %d lines, sum %d, total %d", len(req.Lines), sum, req.TotalAmount)
	}
}

// checkGolden compares a treasury request with testdata/golden/<procedure>/<case>.request.json.
func checkGolden(t *testing.T, name string, body []byte) {
	t.Helper()
	if body == nil {
		t.Errorf("%s: no treasury request captured", name)
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	pretty, _ := json.MarshalIndent(v, "", "  ")
	pretty = append(pretty, '\n')
	path := filepath.Join(repo, "testdata/golden", name+".request.json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, pretty, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v (run go test ./adapter/app -update)", name, err)
		return
	}
	if !bytes.Equal(want, pretty) {
		t.Errorf("%s: treasury request differs from %s:\n%s", name, path, firstDiff(string(want), string(pretty)))
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "line " + strconv.Itoa(i+1) + ":\n- " + al[i] + "\n+ " + bl[i]
		}
	}
	return "lengths differ"
}
