package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Token lifetimes the BearerTransport believes.
const (
	// DefaultTokenTTL is assumed when a token answer has no expires_in.
	DefaultTokenTTL = 5 * time.Minute
	// maxTokenTTL caps the lifetime a token answer may claim.
	maxTokenTTL = 24 * time.Hour
)

// BearerConfig configures a BearerTransport.
type BearerConfig struct {
	// BaseURL is the integration platform's service root; each service is POSTed to
	// BaseURL/<service>, e.g. http://127.0.0.1:8082/api/DongBoHoSoMC. Required.
	BaseURL string
	// TokenURL is the OAuth2 token endpoint, e.g. http://127.0.0.1:8082/oauth/token. Required.
	TokenURL string
	// ClientID and ClientSecret are sent with HTTP Basic authentication in a
	// client_credentials grant (RFC 6749 §4.4). Required.
	ClientID     string
	ClientSecret string
	// Scope is sent as the grant's scope when not empty.
	Scope string
	// MaDonVi, when not empty, is added as "madonvi" to every payload.
	MaDonVi string
	// Timeout bounds one Call, including the token request it may need and its one repetition
	// after a 401. Zero: 10 seconds.
	Timeout time.Duration
	// RefreshMargin is how long before its expiry a cached token is replaced; never more than
	// half the token's lifetime. Zero: 30 seconds.
	RefreshMargin time.Duration
	// DstCode, when not empty, is sent as the dstcode header on every request, the token
	// request included.
	DstCode string
	// ErrorCodes classifies the error codes; the zero value has "-1" as the session-expired
	// code (treated like a 401) and every other code permanent.
	ErrorCodes ErrorCodes
	// MaxResponseBytes bounds the body read from any answer. Zero: 1 MiB.
	MaxResponseBytes int64
	// Clock decides token renewal and reads Retry-After dates. Zero: time.Now.
	Clock func() time.Time
}

// BearerTransport speaks the integration platform's variant: an OAuth2 client-credentials
// token from TokenURL, cached until RefreshMargin before it expires, and each service POSTed
// to BaseURL/<service> with "Authorization: Bearer". On a 401 or a session-expired error code
// it drops the token, gets a new one and repeats the call once. Answers are classified like the session protocol's. It is safe
// for concurrent use.
type BearerTransport struct {
	cfg  BearerConfig
	base string // BaseURL without a trailing slash
	http httpDoer

	tokenSem chan struct{}
	mu       sync.Mutex // guards token and renewAt
	token    string
	renewAt  time.Time
}

// NewBearerTransport checks cfg, applies its defaults and returns a transport that sends
// through httpClient (nil: a new client on http.DefaultTransport).
func NewBearerTransport(cfg BearerConfig, httpClient *http.Client) (*BearerTransport, error) {
	if err := checkURL("BaseURL", cfg.BaseURL); err != nil {
		return nil, err
	}
	if err := checkURL("TokenURL", cfg.TokenURL); err != nil {
		return nil, err
	}
	switch {
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return nil, errors.New("portal: config: ClientID and ClientSecret are required")
	case cfg.Timeout < 0 || cfg.RefreshMargin < 0 || cfg.MaxResponseBytes < 0:
		return nil, errors.New("portal: config: Timeout, RefreshMargin and MaxResponseBytes must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if err := checkDstCode(cfg.DstCode); err != nil {
		return nil, err
	}
	codes, err := cfg.ErrorCodes.table()
	if err != nil {
		return nil, err
	}
	if cfg.RefreshMargin == 0 {
		cfg.RefreshMargin = 30 * time.Second
	}
	d := newHTTPDoer(httpClient, cfg.MaxResponseBytes, cfg.Clock, codes, cfg.DstCode)
	cfg.Clock = d.clock
	return &BearerTransport{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), http: d,
		tokenSem: make(chan struct{}, 1)}, nil
}

// Call POSTs payload (with madonvi when configured) to BaseURL/<service> and classifies the
// answer.
func (t *BearerTransport) Call(ctx context.Context, service string, payload map[string]any) (Answer, error) {
	set := map[string]any{}
	if t.cfg.MaDonVi != "" {
		set["madonvi"] = t.cfg.MaDonVi
	}
	body, err := marshalPayload(service, payload, set)
	if err != nil {
		return Answer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	target := t.base + "/" + url.PathEscape(service)
	for try := 0; ; try++ {
		tok, err := t.accessToken(ctx)
		if err != nil {
			return Answer{}, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return Answer{}, &callError{op: service, kind: ErrInvalidRequest, cause: err}
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		ex, err := t.http.do(service, req)
		if err != nil {
			return Answer{}, err
		}
		if ex.status == http.StatusForbidden {
			return Answer{}, &callError{op: service, kind: ErrUnauthorized, status: ex.status}
		}
		a, err := t.http.interpret(service, ex)
		if !sessionRefused(err) {
			return a, err
		}
		t.forget(tok)
		if try == 1 {
			return Answer{}, &callError{op: service, kind: ErrUnauthorized, status: ex.status,
				detail: "token refused right after a fresh one was issued", cause: err}
		}
	}
}

// accessToken returns the cached token, or requests one when there is none or it is due for
// renewal. Concurrent callers share one request.
func (t *BearerTransport) accessToken(ctx context.Context) (string, error) {
	if tok := t.cached(); tok != "" {
		return tok, nil
	}
	select {
	case t.tokenSem <- struct{}{}:
	case <-ctx.Done():
		return "", transportError(opToken, ctx.Err())
	}
	defer func() { <-t.tokenSem }()
	if tok := t.cached(); tok != "" {
		return tok, nil
	}
	start := t.cfg.Clock()
	tok, ttl, err := t.requestToken(ctx)
	if err != nil {
		return "", err
	}
	margin := min(t.cfg.RefreshMargin, ttl/2)
	t.mu.Lock()
	t.token, t.renewAt = tok, start.Add(ttl-margin)
	t.mu.Unlock()
	return tok, nil
}

func (t *BearerTransport) cached() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == "" || !t.cfg.Clock().Before(t.renewAt) {
		return ""
	}
	return t.token
}

func (t *BearerTransport) forget(tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == tok {
		t.token = ""
	}
}

// opToken names the token request in errors.
const opToken = "token"

// requestToken runs the client-credentials grant and returns the token and its lifetime.
func (t *BearerTransport) requestToken(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if t.cfg.Scope != "" {
		form.Set("scope", t.cfg.Scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, &callError{op: opToken, kind: ErrInvalidRequest, cause: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(t.cfg.ClientID), url.QueryEscape(t.cfg.ClientSecret))
	ex, err := t.http.do(opToken, req)
	if err != nil {
		return "", 0, err
	}
	if err := serverFailure(opToken, ex, t.cfg.Clock()); err != nil {
		return "", 0, err
	}
	var out struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		Error       string          `json:"error"`
	}
	decodeErr := json.Unmarshal(ex.body, &out)
	switch {
	case ex.status == http.StatusBadRequest || ex.status == http.StatusUnauthorized || ex.status == http.StatusForbidden:
		return "", 0, &callError{op: opToken, kind: ErrUnauthorized, status: ex.status, detail: out.Error}
	case ex.status != http.StatusOK:
		return "", 0, &callError{op: opToken, kind: ErrProtocol, status: ex.status}
	case decodeErr != nil || out.AccessToken == "" ||
		(out.TokenType != "" && !strings.EqualFold(out.TokenType, "bearer")):
		return "", 0, &callError{op: opToken, kind: ErrProtocol, status: ex.status, detail: "no bearer access_token"}
	}
	return out.AccessToken, tokenTTL(out.ExpiresIn), nil
}

// tokenTTL reads expires_in (seconds, a number or a string); absent, unreadable or below one
// second: DefaultTokenTTL; above a day: a day.
func tokenTTL(raw json.RawMessage) time.Duration {
	secs, err := lenientInt(raw)
	switch {
	case err != nil || secs < 1:
		return DefaultTokenTTL
	case secs >= int64(maxTokenTTL/time.Second):
		return maxTokenTTL
	}
	return time.Duration(secs) * time.Second
}
