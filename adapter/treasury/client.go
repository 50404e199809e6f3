// Package treasury owns the adapter's client for the treasury contract of schemas/treasury:
// login, SendDocument, CheckDocumentStatus (by document id or by idempotency key), the
// withdrawal of a document and the upload of a dossier's attachments.
//
// The client logs in lazily, caches the access token until shortly before it expires, and on a
// 401 logs in again once and repeats that call once. Failures are typed: a business refusal
// (422) is a *Refusal; everything else wraps one of ErrUnavailable, ErrTimeout, ErrNotFound,
// ErrUnauthorized, ErrInvalidRequest or ErrProtocol.
//
// NewGroup makes the adapter/upstream group "treasury" (circuit breaker, bulkhead and retries
// per endpoint) with Classify, which reads those failures, as its classifier; callers run each
// public call through its endpoint ("send-document", "document-status", "withdraw",
// "attachment"). SendDocument and Withdraw are idempotent through their downstream keys, and
// UploadAttachment through the file's hash, so they may be retried.
package treasury

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/kbnn/dvc/adapter/jsonenc"
	"github.com/kbnn/dvc/adapter/upstream"
)

// Endpoint names, one per treasury route family.
const (
	opLogin          = "login"
	opSendDocument   = "send-document"
	opDocumentStatus = "document-status"
	opWithdraw       = "withdraw"
	opAttachment     = "attachment"
)

// NewGroup returns the upstream group "treasury" with Classify as its classifier, then opts
// (state hooks, logger, clock...).
func NewGroup(s upstream.Settings, opts ...upstream.Option) (*upstream.Group, error) {
	return upstream.NewGroup("treasury", s, append([]upstream.Option{upstream.WithClassifier(Classify)}, opts...)...)
}

// Config configures a Client.
type Config struct {
	// BaseURL is the treasury gateway's root, e.g. http://127.0.0.1:8081. Required.
	BaseURL string
	// ClientID and ClientSecret are exchanged for an access token at POST /api/v1/login.
	// Required.
	ClientID     string
	ClientSecret string
	// Timeout bounds one public call, including the login it may need and its one repetition
	// after a 401. Zero: 10 seconds.
	Timeout time.Duration
	// Clock returns the current time; it decides when the cached token is renewed.
	// Zero: time.Now.
	Clock func() time.Time
	// TokenRefreshMargin is how long before its expiry a cached token is renewed; never more
	// than half the token's lifetime. Zero: 30 seconds.
	TokenRefreshMargin time.Duration
	// MaxResponseBytes bounds the body read from any answer. Zero: 1 MiB.
	MaxResponseBytes int64
}

// Client calls the treasury. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string // BaseURL without a trailing slash
	http *http.Client

	loginSem chan struct{} // one login at a time; waiting honours the context
	mu       sync.Mutex    // guards token and renewAt
	token    string
	renewAt  time.Time
}

// New checks cfg, applies its defaults and returns a Client that sends through httpClient
// (nil: a new client on http.DefaultTransport). Redirects are never followed.
func New(cfg Config, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("treasury: config: BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, fmt.Errorf("treasury: config: ClientID and ClientSecret are required")
	}
	if cfg.Timeout < 0 || cfg.TokenRefreshMargin < 0 || cfg.MaxResponseBytes < 0 {
		return nil, fmt.Errorf("treasury: config: Timeout, TokenRefreshMargin and MaxResponseBytes must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.TokenRefreshMargin == 0 {
		cfg.TokenRefreshMargin = 30 * time.Second
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = 1 << 20
	}
	hc := &http.Client{}
	if httpClient != nil {
		c := *httpClient
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	base := u.String()
	for len(base) > 0 && base[len(base)-1] == '/' {
		base = base[:len(base)-1]
	}
	return &Client{cfg: cfg, base: base, http: hc, loginSem: make(chan struct{}, 1)}, nil
}

// SendDocument sends document, the body of POST /api/v1/documents
// (schemas/treasury/send-document-request.schema.json) as adapter/mapping builds it, encoded as
// it is. idemKey is the document's downstream key, the lower-case hex SHA-256 of its
// "<procedure>|<dossierCode>|<supplementNo>" (schemas/treasury/openapi.yaml); a key that is
// not the document's breaks the contract, and the treasury answers 400 (ErrInvalidRequest). A
// repeated key gets the first document's receipt with Replayed set.
func (c *Client) SendDocument(ctx context.Context, idemKey string, document map[string]any) (Receipt, error) {
	if !validKey(idemKey) {
		return Receipt{}, fmt.Errorf("treasury: %s: %w: malformed idempotency key", opSendDocument, ErrInvalidRequest)
	}
	if document == nil {
		return Receipt{}, fmt.Errorf("treasury: %s: %w: no document", opSendDocument, ErrInvalidRequest)
	}
	body, err := jsonenc.Append(make([]byte, 0, 4096), document) // Marshal's bytes, without reflection over the mapped maps
	if err != nil {
		return Receipt{}, fmt.Errorf("treasury: %s: %w: %w", opSendDocument, ErrInvalidRequest, err)
	}
	a, err := c.exec(ctx, call{op: opSendDocument, method: http.MethodPost, path: "/api/v1/documents",
		body: body, idemKey: idemKey})
	if err != nil {
		return Receipt{}, err
	}
	if a.status != http.StatusCreated && a.status != http.StatusOK {
		return Receipt{}, failure(opSendDocument, a, false)
	}
	var r Receipt
	if err := a.decode(&r); err != nil || r.DocumentID == "" || r.Reference == "" {
		return Receipt{}, a.errorOf(opSendDocument, ErrProtocol)
	}
	r.Replayed = a.status == http.StatusOK
	return r, nil
}

// Withdraw asks the treasury to withdraw the document with that treasury id at its unit's
// request (POST /api/v1/documents/{documentId}/withdrawal). idemKey is the withdrawal's
// downstream key, the lower-case hex SHA-256 of "withdrawal|<procedure>|<dossierCode>|
// <supplementNo>" of the document (schemas/treasury/openapi.yaml); the treasury answers 400
// (ErrInvalidRequest) to any other. A repeated key gets the first answer with Replayed set. A
// document the treasury does not hold is ErrNotFound; a document it will not withdraw (paid,
// processed, ended, another unit's) a *Refusal.
func (c *Client) Withdraw(ctx context.Context, idemKey, documentID string, req WithdrawalRequest) (Withdrawal, error) {
	if !validKey(idemKey) {
		return Withdrawal{}, fmt.Errorf("treasury: %s: %w: malformed idempotency key", opWithdraw, ErrInvalidRequest)
	}
	if documentID == "" {
		return Withdrawal{}, fmt.Errorf("treasury: %s: %w: empty document id", opWithdraw, ErrInvalidRequest)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Withdrawal{}, fmt.Errorf("treasury: %s: %w: %w", opWithdraw, ErrInvalidRequest, err)
	}
	a, err := c.exec(ctx, call{op: opWithdraw, method: http.MethodPost,
		path: "/api/v1/documents/" + url.PathEscape(documentID) + "/withdrawal", body: body, idemKey: idemKey})
	if err != nil {
		return Withdrawal{}, err
	}
	if a.status != http.StatusCreated && a.status != http.StatusOK {
		return Withdrawal{}, failure(opWithdraw, a, true)
	}
	var w Withdrawal
	if err := a.decode(&w); err != nil || w.DocumentID == "" || w.Reference == "" {
		return Withdrawal{}, a.errorOf(opWithdraw, ErrProtocol)
	}
	w.Replayed = a.status == http.StatusOK
	return w, nil
}

// UploadAttachment stores one file of a dossier at the treasury under its SHA-256
// (PUT /api/v1/attachments/{sha256}, body the file's bytes, Content-Type its media type).
// The route is idempotent by the hash: created is false when the treasury held the file
// already. A body that does not hash to sum is ErrInvalidRequest (the treasury's 422).
func (c *Client) UploadAttachment(ctx context.Context, sum, mediaType string, data []byte) (created bool, err error) {
	if !validKey(sum) {
		return false, fmt.Errorf("treasury: %s: %w: malformed SHA-256", opAttachment, ErrInvalidRequest)
	}
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	if data == nil {
		data = []byte{}
	}
	a, err := c.exec(ctx, call{op: opAttachment, method: http.MethodPut, path: "/api/v1/attachments/" + sum,
		body: data, contentType: mediaType})
	if err != nil {
		return false, err
	}
	switch a.status {
	case http.StatusCreated:
		return true, nil
	case http.StatusOK, http.StatusNoContent:
		return false, nil
	case http.StatusUnprocessableEntity:
		return false, a.errorOf(opAttachment, ErrInvalidRequest)
	}
	return false, failure(opAttachment, a, false)
}

// DocumentStatus returns the status of the document with that treasury id.
func (c *Client) DocumentStatus(ctx context.Context, documentID string) (Status, error) {
	if documentID == "" {
		return Status{}, fmt.Errorf("treasury: %s: %w: empty document id", opDocumentStatus, ErrInvalidRequest)
	}
	return c.status(ctx, "/api/v1/documents/"+url.PathEscape(documentID))
}

// FindByKey returns the status of the document sent under the idempotency key, or
// ErrNotFound when the treasury holds none: after a timeout this tells whether SendDocument
// took effect.
func (c *Client) FindByKey(ctx context.Context, idemKey string) (Status, error) {
	if !validKey(idemKey) {
		return Status{}, fmt.Errorf("treasury: %s: %w: malformed idempotency key", opDocumentStatus, ErrInvalidRequest)
	}
	return c.status(ctx, "/api/v1/documents?idempotencyKey="+idemKey)
}

func (c *Client) status(ctx context.Context, path string) (Status, error) {
	a, err := c.exec(ctx, call{op: opDocumentStatus, method: http.MethodGet, path: path})
	if err != nil {
		return Status{}, err
	}
	if a.status != http.StatusOK {
		return Status{}, failure(opDocumentStatus, a, true)
	}
	var s Status
	if err := a.decode(&s); err != nil || s.DocumentID == "" {
		return Status{}, a.errorOf(opDocumentStatus, ErrProtocol)
	}
	return s, nil
}

// call is one request to the treasury.
type call struct {
	op      string // endpoint name
	method  string
	path    string // path and query, from the base URL
	body    []byte // nil for GET
	idemKey string // Idempotency-Key header, if any
	// contentType of body; empty means application/json.
	contentType string
}

// answer is a received answer: status code and bounded body.
type answer struct {
	status int
	body   []byte
}

func (a answer) decode(v any) error { return json.Unmarshal(a.body, v) }

func (a answer) refusal() Refusal {
	var r Refusal
	_ = json.Unmarshal(a.body, &r)
	return r
}

func (a answer) errorOf(op string, kind error) error {
	r := a.refusal()
	return &answerError{op: op, kind: kind, statusCode: a.status, reasonCode: r.ReasonCode, message: r.Message}
}

// exec runs an authorised call within Config.Timeout: with the cached token (logging in if
// needed) and, if the treasury answers 401, once more after a fresh login.
func (c *Client) exec(ctx context.Context, cl call) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	for try := 0; ; try++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return answer{}, err
		}
		a, err := c.attempt(ctx, cl, tok)
		if err != nil || a.status != http.StatusUnauthorized {
			return a, err
		}
		c.forget(tok)
		if try == 1 {
			return answer{}, a.errorOf(cl.op, ErrUnauthorized)
		}
	}
}

// attempt is one HTTP exchange. Transport failures and server-side failures (5xx, 429) are
// errors; any other answer, 4xx included, is returned for the caller to interpret.
func (c *Client) attempt(ctx context.Context, cl call, token string) (answer, error) {
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, c.base+cl.path, body)
	if err != nil {
		return answer{}, fmt.Errorf("treasury: %s: %w: %w", cl.op, ErrInvalidRequest, err)
	}
	req.Header.Set("Accept", "application/json")
	if cl.body != nil {
		ct := cl.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if cl.idemKey != "" {
		req.Header.Set("Idempotency-Key", cl.idemKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, transportError(cl.op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return answer{}, transportError(cl.op, err)
	}
	if int64(len(data)) > c.cfg.MaxResponseBytes {
		return answer{}, fmt.Errorf("treasury: %s: %w: answer larger than %d bytes",
			cl.op, ErrProtocol, c.cfg.MaxResponseBytes)
	}
	a := answer{status: resp.StatusCode, body: data}
	if err := serverFailure(cl.op, a); err != nil {
		return answer{}, err
	}
	return a, nil
}
