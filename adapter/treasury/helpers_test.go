package treasury

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/testkit/clock"
)

func newFakeClock() *clock.Clock {
	return clock.New(time.Date(2026, 6, 9, 1, 30, 0, 0, time.UTC))
}

// counter counts requests per "METHOD /path" and answers that were 401.
type counter struct {
	mu     sync.Mutex
	counts map[string]int
	n401   atomic.Int64
}

func (c *counter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		if c.counts == nil {
			c.counts = map[string]int{}
		}
		c.counts[r.Method+" "+r.URL.Path]++
		c.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == http.StatusUnauthorized {
			c.n401.Add(1)
		}
	})
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[key]
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// simEnv is a simulator behind httptest with a client pointed at it.
type simEnv struct {
	sim      *treasurysim.Sim
	srv      *httptest.Server
	count    *counter
	simClock *clock.Clock
	clock    *clock.Clock // the client's clock
	client   *Client
}

func newSimEnv(t testing.TB) *simEnv {
	t.Helper()
	e := &simEnv{count: &counter{}, simClock: newFakeClock(), clock: newFakeClock()}
	e.sim = treasurysim.New(treasurysim.Options{Clock: e.simClock.Now, TokenTTL: 10 * time.Minute})
	e.srv = httptest.NewServer(e.count.wrap(e.sim))
	t.Cleanup(e.srv.Close)
	e.client = newTestClient(t, e.srv.URL, e.clock)
	return e
}

func newTestClient(t testing.TB, baseURL string, clock *clock.Clock) *Client {
	t.Helper()
	c, err := New(Config{
		BaseURL:      baseURL,
		ClientID:     "dvc-adapter",
		ClientSecret: "dev-treasury-secret",
		Timeout:      5 * time.Second,
		Clock:        clock.Now,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stubServer answers login with a token valid 600 s and everything else with h.
func stubServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/login" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"accessToken":"stub-token","expiresIn":600}`))
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// SendDocumentRequest is the body of SendDocument
// (schemas/treasury/send-document-request.schema.json), typed so that tests can build and vary
// documents. Amounts are integer VND.
type SendDocumentRequest struct {
	DocumentType       string         `json:"documentType"`
	Procedure          string         `json:"procedure"`
	ProcedureCode      string         `json:"procedureCode"`
	DossierCode        string         `json:"dossierCode"`
	SupplementNo       int            `json:"supplementNo"`
	BudgetUnitCode     string         `json:"budgetUnitCode"`
	TreasuryOfficeCode string         `json:"treasuryOfficeCode"`
	BudgetYear         int            `json:"budgetYear"`
	SubmittedAt        time.Time      `json:"submittedAt"`
	TotalAmount        int64          `json:"totalAmount"`
	Payee              *Payee         `json:"payee,omitempty"`
	Lines              []Line         `json:"lines,omitempty"`
	Content            map[string]any `json:"content"`
}

// Payee is who receives the money.
type Payee struct {
	Name          string `json:"name"`
	AccountNumber string `json:"accountNumber"`
	BankName      string `json:"bankName,omitempty"`
}

// Line is one budget line of a document.
type Line struct {
	BudgetLine   BudgetLine `json:"budgetLine"`
	Amount       int64      `json:"amount"`
	Description  string     `json:"description,omitempty"`
	PayeeName    string     `json:"payeeName,omitempty"`
	PayeeAccount string     `json:"payeeAccount,omitempty"`
}

// BudgetLine is the chart-of-accounts combination a line is charged to.
type BudgetLine struct {
	Chapter string `json:"chapter"`
	Sector  string `json:"sector"`
	Item    string `json:"item"`
	Source  string `json:"source"`
	Program string `json:"program,omitempty"`
}

// Key returns the document's downstream key, as the simulated treasury derives it.
func (r SendDocumentRequest) Key() string {
	return treasurysim.DownstreamKey(r.Procedure, r.DossierCode, r.SupplementNo)
}

// Map returns the document in the form SendDocument takes: a generic JSON object whose
// integers are json.Number.
func (r SendDocumentRequest) Map() map[string]any {
	raw, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		panic(err)
	}
	return m
}

// document returns a valid request for the simulator, changed by the given functions.
func document(dossier string, changes ...func(*SendDocumentRequest)) SendDocumentRequest {
	req := SendDocumentRequest{
		DocumentType:       "C2-02a/NS",
		Procedure:          "chi-thuong-xuyen",
		ProcedureCode:      "1.009460",
		DossierCode:        dossier,
		BudgetUnitCode:     "1012345",
		TreasuryOfficeCode: "0011",
		BudgetYear:         2026,
		SubmittedAt:        time.Date(2026, 6, 9, 8, 30, 0, 0, time.FixedZone("ICT", 7*3600)),
		TotalAmount:        187_500_000,
		Payee:              &Payee{Name: "Cong ty TNHH Thiet bi Van phong Ha Noi", AccountNumber: "0011004123456", BankName: "Vietcombank"},
		Lines: []Line{
			{BudgetLine: BudgetLine{Chapter: "422", Sector: "071", Item: "6501", Source: "12", Program: "00000"}, Amount: 12_500_000, Description: "Tien dien thang 5/2026"},
			{BudgetLine: BudgetLine{Chapter: "422", Sector: "071", Item: "7001", Source: "12", Program: "00000"}, Amount: 175_000_000, Description: "Mua sam thiet bi"},
		},
		Content: map[string]any{"voucherNumber": "125/2026", "paymentKind": "thuc-chi"},
	}
	for _, c := range changes {
		c(&req)
	}
	return req
}

func oneLine(item string, amount int64) func(*SendDocumentRequest) {
	return func(r *SendDocumentRequest) {
		r.Lines = []Line{{BudgetLine: BudgetLine{Chapter: "422", Sector: "071", Item: item, Source: "12"}, Amount: amount}}
		r.TotalAmount = amount
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// httptestServer serves every route, login included, with h.
func httptestServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
