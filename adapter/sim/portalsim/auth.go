package portalsim

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// issued holds the sessions (or the bearer tokens) handed out, with their expiry.
type issued struct {
	mu sync.Mutex
	m  map[string]*credential
}

type credential struct {
	expires time.Time
	served  bool // has authenticated a service call
}

func newIssued() *issued { return &issued{m: map[string]*credential{}} }

// issue hands out a new random id valid for ttl, dropping expired ones.
func (is *issued) issue(now time.Time, ttl time.Duration) string {
	id := rand.Text()
	is.mu.Lock()
	defer is.mu.Unlock()
	for k, c := range is.m {
		if !now.Before(c.expires) {
			delete(is.m, k)
		}
	}
	is.m[id] = &credential{expires: now.Add(ttl)}
	return id
}

// use reports whether id may authenticate a call now. With expireServed (the expireSessions
// fault), an id that has already authenticated a call is dropped and refused instead.
func (is *issued) use(id string, now time.Time, expireServed bool) bool {
	is.mu.Lock()
	defer is.mu.Unlock()
	c, ok := is.m[id]
	switch {
	case !ok:
		return false
	case !now.Before(c.expires) || (expireServed && c.served):
		delete(is.m, id)
		return false
	}
	c.served = true
	return true
}

func (is *issued) reset() {
	is.mu.Lock()
	defer is.mu.Unlock()
	clear(is.m)
}

// sessionAPI serves POST /api: Login, or a service call authenticated by its session field.
func (s *Sim) sessionAPI(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readRequest(w, r)
	if !ok {
		return
	}
	service := str(req["service"])
	switch service {
	case "":
		s.answer(w, CodeInvalidRequest, "missing service", nil)
		return
	case "Login":
		s.login(w, req)
		return
	}
	if !s.sessions.use(str(req["session"]), s.now(), s.Faults().ExpireSessions) {
		s.log.Info("portal-sim: session refused", "service", service)
		s.answer(w, CodeSessionExpired, "session expired", nil)
		return
	}
	s.serve(w, service, req)
}

// authAPI serves POST /auth, the separate authentication endpoint of OpenCPS's variant:
// {"username","password"} → {"error_code":…,"session":"…"}, the same session /api accepts.
func (s *Sim) authAPI(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readRequest(w, r)
	if !ok {
		return
	}
	s.login(w, req)
}

// withDstCode refuses protocol requests whose dstcode header is not Options.DstCode (when one
// is set) with HTTP 403, before anything else is read.
func (s *Sim) withDstCode(next http.Handler) http.Handler {
	if s.opts.DstCode == "" {
		return next
	}
	want := []byte(s.opts.DstCode)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isProtocolPath(r.URL.Path) && subtle.ConstantTimeCompare([]byte(r.Header.Get("dstcode")), want) != 1 {
			s.log.Info("portal-sim: dstcode refused", "path", r.URL.Path)
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "missing or unknown dstcode"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Sim) login(w http.ResponseWriter, req map[string]json.RawMessage) {
	if !s.validCredentials(str(req["username"]), str(req["password"])) {
		s.log.Info("portal-sim: login refused")
		s.answer(w, CodeLoginRefused, "invalid username or password", nil)
		return
	}
	session := s.sessions.issue(s.now(), s.opts.SessionTTL)
	s.log.Info("portal-sim: login")
	s.answer(w, "", "ok", map[string]any{"session": session})
}

// bearerAPI serves POST /api/{service}, authenticated by a bearer token.
func (s *Sim) bearerAPI(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !s.tokens.use(strings.TrimSpace(tok), s.now(), s.Faults().ExpireSessions) {
		s.log.Info("portal-sim: token refused", "service", r.PathValue("service"))
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	req, ok := s.readRequest(w, r)
	if !ok {
		return
	}
	s.serve(w, r.PathValue("service"), req)
}

// issueToken serves POST /oauth/token: the client-credentials grant (RFC 6749 §4.4), client
// authenticated with HTTP Basic or form fields.
func (s *Sim) issueToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic { // RFC 6749 §2.3.1: form-urlencoded before Basic encoding
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if !s.validCredentials(id, secret) {
		s.log.Info("portal-sim: token request refused")
		w.Header().Set("WWW-Authenticate", `Basic realm="portal-sim"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	tok := s.tokens.issue(s.now(), s.opts.TokenTTL)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer",
		"expires_in": int64(s.opts.TokenTTL / time.Second)})
}

func (s *Sim) validCredentials(user, password string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Username))
	p := subtle.ConstantTimeCompare([]byte(password), []byte(s.opts.Password))
	return u&p == 1
}

// readRequest reads a JSON object body, or answers CodeInvalidRequest and reports false.
func (s *Sim) readRequest(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		s.answer(w, CodeInvalidRequest, "cannot read the body (at most "+
			strconv.FormatInt(s.opts.MaxBodyBytes, 10)+" bytes)", nil)
		return nil, false
	}
	var req map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil || req == nil {
		s.answer(w, CodeInvalidRequest, "the body is not a JSON object", nil)
		return nil, false
	}
	return req, true
}

// str reads a JSON string member; anything else is "".
func str(raw json.RawMessage) string {
	var v string
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return v
}

// statusOf reads a status given as a JSON integer or a string holding one; ok is false for
// anything outside 1–10.
func statusOf(raw json.RawMessage) (int, bool) {
	raw = bytes.TrimSpace(raw)
	text := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		text = strings.TrimSpace(str(raw))
	}
	n, err := strconv.Atoi(text)
	return n, err == nil && n >= 1 && n <= 10
}
