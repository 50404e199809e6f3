package treasury

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/sim/treasurysim"
)

func TestSendDocumentAndStatus(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t)
	ctx := context.Background()
	req := document("G09.20-20260609-0092637")
	r, err := e.client.SendDocument(ctx, req.Key(), req.Map())
	if err != nil {
		t.Fatal(err)
	}
	if r.DocumentID != "KB-2026-000001" || r.Reference != "KBNN-0011-2026-000001" ||
		r.Status != StatusReceived || r.Replayed || r.ReceivedAt.IsZero() {
		t.Errorf("receipt = %+v", r)
	}
	again, err := e.client.SendDocument(ctx, req.Key(), req.Map())
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replayed || again.DocumentID != r.DocumentID || again.Reference != r.Reference {
		t.Errorf("replayed receipt = %+v, want %+v replayed", again, r)
	}
	if n := len(e.sim.Documents()); n != 1 {
		t.Errorf("%d documents at the treasury, want 1", n)
	}
	noLines := document("G09.20-20260609-0000002", func(r *SendDocumentRequest) {
		r.Procedure, r.Lines, r.TotalAmount, r.Payee, r.Content = "tai-khoan", nil, 0, nil, map[string]any{}
	})
	if _, err := e.client.SendDocument(ctx, noLines.Key(), noLines.Map()); err != nil {
		t.Errorf("document without lines, payee or content fields: %v", err)
	}

	tests := []struct {
		name    string
		get     func() (Status, error)
		wantErr error
	}{
		{"by id", func() (Status, error) { return e.client.DocumentStatus(ctx, r.DocumentID) }, nil},
		{"by key", func() (Status, error) { return e.client.FindByKey(ctx, req.Key()) }, nil},
		{"unknown id", func() (Status, error) { return e.client.DocumentStatus(ctx, "KB-2026-999999") }, ErrNotFound},
		{"id needing escape", func() (Status, error) { return e.client.DocumentStatus(ctx, "KB/../x") }, ErrNotFound},
		{"unknown key", func() (Status, error) { return e.client.FindByKey(ctx, strings.Repeat("0", 64)) }, ErrNotFound},
		{"empty id", func() (Status, error) { return e.client.DocumentStatus(ctx, "") }, ErrInvalidRequest},
		{"malformed key", func() (Status, error) { return e.client.FindByKey(ctx, "ABC") }, ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.get()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if s.DocumentID != r.DocumentID || s.Reference != r.Reference || s.Status != StatusReceived ||
				s.DossierCode != req.DossierCode || s.Procedure != req.Procedure || !s.UpdatedAt.Equal(r.ReceivedAt) {
				t.Errorf("status = %+v", s)
			}
		})
	}
	if n := e.count.get("POST /api/v1/login"); n != 1 {
		t.Errorf("%d logins, want 1 (token cached)", n)
	}
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t)
	const n = 50
	receipts := make([]Receipt, 2*n)
	errs := make([]error, 2*n)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range n {
		same := document("G09.20-20260609-0000099") // every goroutine: the same dossier
		other := document(fmt.Sprintf("G09.20-20260609-%07d", i))
		wg.Go(func() { receipts[i], errs[i] = e.client.SendDocument(ctx, same.Key(), same.Map()) })
		wg.Go(func() { receipts[n+i], errs[n+i] = e.client.SendDocument(ctx, other.Key(), other.Map()) })
	}
	wg.Wait()
	fresh := 0
	for i := range n {
		if errs[i] != nil || errs[n+i] != nil {
			t.Fatalf("send %d: %v / %v", i, errs[i], errs[n+i])
		}
		if !receipts[i].Replayed {
			fresh++
		}
		if receipts[i].DocumentID != receipts[0].DocumentID {
			t.Errorf("send %d got document %s, send 0 %s", i, receipts[i].DocumentID, receipts[0].DocumentID)
		}
	}
	if fresh != 1 {
		t.Errorf("%d receipts for the same dossier were fresh, want 1", fresh)
	}
	if got := len(e.sim.Documents()); got != n+1 {
		t.Errorf("%d documents at the treasury, want %d", got, n+1)
	}
	if got := e.count.get("POST /api/v1/login"); got != 1 {
		t.Errorf("%d logins, want 1 shared by every caller", got)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		req        SendDocumentRequest
		key        string // empty: req.Key()
		reason     string // a *Refusal with this code, or
		wantErr    error  // this kind
		wantOnWire bool   // whether the document reached the treasury
	}{
		{"unknown budget unit", document("D-1", func(r *SendDocumentRequest) { r.BudgetUnitCode = "1999999" }), "", ReasonUnknownBudgetUnit, nil, true},
		{"unknown office", document("D-1", func(r *SendDocumentRequest) { r.TreasuryOfficeCode = "9999" }), "", ReasonUnknownOffice, nil, true},
		{"no allotment", document("D-1", oneLine("6999", 1000)), "", ReasonNoAllotment, nil, true},
		{"over allotment", document("D-1", oneLine("6001", 10_000_000_000_001)), "", ReasonOverAllotment, nil, true},
		{"contract violation", document("D-1", func(r *SendDocumentRequest) { r.BudgetUnitCode = "12345" }), "", "", ErrInvalidRequest, true},
		{"key of another dossier", document("D-1"), document("D-2").Key(), "", ErrInvalidRequest, true},
		{"malformed key", document("D-1"), "not-a-key", "", ErrInvalidRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newSimEnv(t)
			key := tt.key
			if key == "" {
				key = tt.req.Key()
			}
			_, err := e.client.SendDocument(context.Background(), key, tt.req.Map())
			var ref *Refusal
			switch {
			case tt.reason != "":
				if !errors.As(err, &ref) || ref.ReasonCode != tt.reason || ref.Message == "" {
					t.Fatalf("err = %v, want refusal %s", err, tt.reason)
				}
			case !errors.Is(err, tt.wantErr) || errors.As(err, &ref):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := e.count.get("POST /api/v1/documents") > 0; got != tt.wantOnWire {
				t.Errorf("sent = %v, want %v", got, tt.wantOnWire)
			}
			if n := len(e.sim.Documents()); n != 0 {
				t.Errorf("%d documents created", n)
			}
		})
	}
}

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		between    func(e *simEnv) // runs between the two sends
		wantLogins int
		want401s   int64
	}{
		{"cached", func(*simEnv) {}, 1, 0},
		{"renewed shortly before expiry", func(e *simEnv) { e.clock.Advance(9*time.Minute + 31*time.Second) }, 2, 0},
		{"still fresh", func(e *simEnv) { e.clock.Advance(9*time.Minute + 29*time.Second) }, 1, 0},
		{"treasury forgot the token", func(e *simEnv) { e.sim.InvalidateTokens() }, 2, 1},
		{"expired by the treasury's clock", func(e *simEnv) { e.simClock.Advance(11 * time.Minute) }, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newSimEnv(t)
			ctx := context.Background()
			first := document("D-1")
			if _, err := e.client.SendDocument(ctx, first.Key(), first.Map()); err != nil {
				t.Fatal(err)
			}
			tt.between(e)
			second := document("D-2")
			if _, err := e.client.SendDocument(ctx, second.Key(), second.Map()); err != nil {
				t.Fatalf("second send: %v", err)
			}
			if n := e.count.get("POST /api/v1/login"); n != tt.wantLogins {
				t.Errorf("%d logins, want %d", n, tt.wantLogins)
			}
			if n := e.count.n401.Load(); n != tt.want401s {
				t.Errorf("%d answers 401, want %d", n, tt.want401s)
			}
			if n := len(e.sim.Documents()); n != 2 {
				t.Errorf("%d documents, want 2", n)
			}
		})
	}
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	t.Run("token always refused", func(t *testing.T) {
		t.Parallel()
		var calls int
		srv := stubServer(t, func(w http.ResponseWriter, _ *http.Request) {
			calls++
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"reasonCode":"INVALID_TOKEN"}`))
		})
		c := newTestClient(t, srv.URL, newFakeClock())
		_, err := c.DocumentStatus(context.Background(), "KB-2026-000001")
		if !errors.Is(err, ErrUnauthorized) || !contains(err.Error(), "INVALID_TOKEN") {
			t.Errorf("err = %v, want ErrUnauthorized", err)
		}
		if calls != 2 {
			t.Errorf("%d calls, want the call and one repetition", calls)
		}
	})
	t.Run("credentials refused", func(t *testing.T) {
		t.Parallel()
		e := newSimEnv(t)
		c, err := New(Config{BaseURL: e.srv.URL, ClientID: "dvc-adapter", ClientSecret: "s3cret-wrong"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		req := document("D-1")
		_, err = c.SendDocument(context.Background(), req.Key(), req.Map())
		if !errors.Is(err, ErrUnauthorized) || !contains(err.Error(), ReasonInvalidClient) {
			t.Fatalf("err = %v, want ErrUnauthorized with %s", err, ReasonInvalidClient)
		}
		if contains(err.Error(), "s3cret-wrong") {
			t.Error("the error shows the secret")
		}
		if n := e.count.get("POST /api/v1/documents"); n != 0 {
			t.Errorf("%d documents sent without a token", n)
		}
	})
}

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"valid", Config{BaseURL: "http://127.0.0.1:8081/", ClientID: "a", ClientSecret: "b"}, true},
		{"https", Config{BaseURL: "https://kbnn.example", ClientID: "a", ClientSecret: "b"}, true},
		{"no base URL", Config{ClientID: "a", ClientSecret: "b"}, false},
		{"relative base URL", Config{BaseURL: "/api", ClientID: "a", ClientSecret: "b"}, false},
		{"ftp", Config{BaseURL: "ftp://host", ClientID: "a", ClientSecret: "b"}, false},
		{"no secret", Config{BaseURL: "http://host", ClientID: "a"}, false},
		{"negative timeout", Config{BaseURL: "http://host", ClientID: "a", ClientSecret: "b", Timeout: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nil)
			if (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// validKey accepts exactly the downstream key's form: 64 lower-case hex digits.
func TestValidKey(t *testing.T) {
	t.Parallel()
	key := treasurysim.DownstreamKey("chi-thuong-xuyen", "G09.20-20260609-0092637", 0)
	for _, tt := range []struct {
		key  string
		want bool
	}{
		{key, true},
		{strings.ToUpper(key), false},
		{key[1:], false},
		{key + "0", false},
		{key[:63] + "g", false},
		{"", false},
	} {
		if got := validKey(tt.key); got != tt.want {
			t.Errorf("validKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

// A document is required; nothing is sent without one.
func TestSendDocumentWithoutDocument(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t)
	_, err := e.client.SendDocument(context.Background(), document("D-1").Key(), nil)
	if !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("err = %v, want ErrInvalidRequest", err)
	}
	if n := e.count.get("POST /api/v1/documents"); n != 0 {
		t.Errorf("%d documents sent", n)
	}
}
