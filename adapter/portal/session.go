package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout bounds one Call when a config's Timeout is zero.
const DefaultTimeout = 10 * time.Second

// SessionConfig configures a SessionTransport.
type SessionConfig struct {
	// URL is the portal's one integration endpoint, e.g. http://127.0.0.1:8082/api. Required.
	URL string
	// AuthURL, when not empty, is a separate authentication endpoint: the login is a POST of
	// {"username","password"} to it, answered {"error_code":0,"session":"…"} (OpenCPS's
	// variant). Empty: the login is the service call {"service":"Login","username","password"}
	// on URL.
	AuthURL string
	// DstCode, when not empty, is sent as the dstcode header (the destination on the
	// data-sharing platform) on every request, the login included.
	DstCode string
	// Username and Password are sent in the login. Required.
	Username string
	Password string
	// MaDonVi is the caller's unit code, sent as "madonvi" in every service call. Required.
	MaDonVi string
	// Timeout bounds one Call, including the login it may need and its one repetition after
	// an expired session. Zero: 10 seconds.
	Timeout time.Duration
	// ErrorCodes classifies the error codes; the zero value has "-1" as the session-expired
	// code and every other code permanent.
	ErrorCodes ErrorCodes
	// MaxResponseBytes bounds the body read from any answer. Zero: 1 MiB.
	MaxResponseBytes int64
	// Clock reads Retry-After dates. Zero: time.Now.
	Clock func() time.Time
}

// SessionTransport speaks the session JSON protocol: every call is a POST of a JSON object to
// one URL, with the service named in its "service" field. It logs in lazily (on URL with
// {"service":"Login","username","password"}, or on AuthURL with {"username","password"}),
// caches the session the answer carries and adds "session" and "madonvi" to every call. When
// a call is answered HTTP 401 or a session-expired error code, it drops the session, logs in
// again once and repeats that call once; a second refusal is ErrUnauthorized. It is safe for
// concurrent use.
type SessionTransport struct {
	cfg  SessionConfig
	http httpDoer

	loginSem chan struct{} // one login at a time; waiting honours the context
	mu       sync.Mutex    // guards session
	session  string
}

// NewSessionTransport checks cfg, applies its defaults and returns a transport that sends
// through httpClient (nil: a new client on http.DefaultTransport). Redirects are never
// followed.
func NewSessionTransport(cfg SessionConfig, httpClient *http.Client) (*SessionTransport, error) {
	if err := checkURL("URL", cfg.URL); err != nil {
		return nil, err
	}
	if cfg.AuthURL != "" {
		if err := checkURL("AuthURL", cfg.AuthURL); err != nil {
			return nil, err
		}
	}
	switch {
	case cfg.Username == "" || cfg.Password == "":
		return nil, errors.New("portal: config: Username and Password are required")
	case cfg.MaDonVi == "":
		return nil, errors.New("portal: config: MaDonVi is required")
	case cfg.Timeout < 0 || cfg.MaxResponseBytes < 0:
		return nil, errors.New("portal: config: Timeout and MaxResponseBytes must not be negative")
	}
	if err := checkDstCode(cfg.DstCode); err != nil {
		return nil, err
	}
	codes, err := cfg.ErrorCodes.table()
	if err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &SessionTransport{
		cfg:      cfg,
		http:     newHTTPDoer(httpClient, cfg.MaxResponseBytes, cfg.Clock, codes, cfg.DstCode),
		loginSem: make(chan struct{}, 1),
	}, nil
}

// Call sends payload to service with the session and madonvi fields set over it (payload
// itself is not changed) and classifies the answer.
func (t *SessionTransport) Call(ctx context.Context, service string, payload map[string]any) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	for try := 0; ; try++ {
		sess, err := t.currentSession(ctx)
		if err != nil {
			return Answer{}, err
		}
		body, err := marshalPayload(service, payload,
			map[string]any{"service": service, "session": sess, "madonvi": t.cfg.MaDonVi})
		if err != nil {
			return Answer{}, err
		}
		a, err := t.send(ctx, service, t.cfg.URL, body)
		if !sessionRefused(err) {
			return a, err
		}
		t.forget(sess)
		if try == 1 {
			return Answer{}, &callError{op: service, kind: ErrUnauthorized,
				detail: "session refused again right after a fresh login", cause: err}
		}
	}
}

// sessionRefused reports whether err says that the session (or token) is no longer valid: an
// HTTP 401, or an error code of ClassSessionExpired.
func sessionRefused(err error) bool {
	var pe *PortalError
	if errors.As(err, &pe) {
		return pe.Class == ClassSessionExpired
	}
	var ce *callError
	return errors.As(err, &ce) && ce.kind == ErrUnauthorized && ce.status == http.StatusUnauthorized
}

func (t *SessionTransport) send(ctx context.Context, op, target string, body []byte) (Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return Answer{}, &callError{op: op, kind: ErrInvalidRequest, cause: err}
	}
	req.Header.Set("Content-Type", "application/json")
	ex, err := t.http.do(op, req)
	if err != nil {
		return Answer{}, err
	}
	return t.http.interpret(op, ex)
}

// currentSession returns the cached session, or logs in when there is none. Concurrent callers
// share one login.
func (t *SessionTransport) currentSession(ctx context.Context) (string, error) {
	if s := t.cached(); s != "" {
		return s, nil
	}
	select {
	case t.loginSem <- struct{}{}:
	case <-ctx.Done():
		return "", transportError(ServiceLogin, ctx.Err())
	}
	defer func() { <-t.loginSem }()
	if s := t.cached(); s != "" { // another caller logged in meanwhile
		return s, nil
	}
	s, err := t.login(ctx)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	t.session = s
	t.mu.Unlock()
	return s, nil
}

func (t *SessionTransport) cached() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.session
}

// forget drops sess from the cache unless another caller has already replaced it.
func (t *SessionTransport) forget(sess string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.session == sess {
		t.session = ""
	}
}

// login asks for a session: on AuthURL when configured, else with the Login service on URL.
func (t *SessionTransport) login(ctx context.Context) (string, error) {
	target, fields := t.cfg.URL, map[string]string{
		"service": ServiceLogin, "username": t.cfg.Username, "password": t.cfg.Password}
	if t.cfg.AuthURL != "" {
		target, fields = t.cfg.AuthURL, map[string]string{"username": t.cfg.Username, "password": t.cfg.Password}
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return "", &callError{op: ServiceLogin, kind: ErrInvalidRequest, cause: err}
	}
	a, err := t.send(ctx, ServiceLogin, target, body)
	var pe *PortalError
	if errors.As(err, &pe) {
		return "", &callError{op: ServiceLogin, kind: ErrUnauthorized, cause: pe}
	}
	if err != nil {
		return "", err
	}
	var out struct {
		Session string `json:"session"`
	}
	if json.Unmarshal(a.Raw, &out) != nil || strings.TrimSpace(out.Session) == "" {
		return "", &callError{op: ServiceLogin, kind: ErrProtocol, detail: "no session in the login answer"}
	}
	return out.Session, nil
}

// checkDstCode refuses a dstcode that cannot be sent as a header value as it is: anything but
// visible ASCII, or longer than 128 characters.
func checkDstCode(v string) error {
	if len(v) > 128 {
		return errors.New("portal: config: DstCode is longer than 128 characters")
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return errors.New("portal: config: DstCode must be visible ASCII without spaces")
		}
	}
	return nil
}

func checkURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("portal: config: %s %q is not an http(s) URL", name, raw)
	}
	return nil
}
