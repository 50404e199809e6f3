package treasurysim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// tokens holds the issued access tokens and their expiry.
type tokens struct {
	mu     sync.Mutex
	expiry map[string]time.Time
}

func newTokens() *tokens { return &tokens{expiry: map[string]time.Time{}} }

// issue creates a token valid until now+ttl and forgets the tokens that expired.
func (t *tokens) issue(now time.Time, ttl time.Duration) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b[:])
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, exp := range t.expiry {
		if !now.Before(exp) {
			delete(t.expiry, k)
		}
	}
	t.expiry[tok] = now.Add(ttl)
	return tok, nil
}

// valid reports whether tok was issued and has not expired at now.
func (t *tokens) valid(tok string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	exp, ok := t.expiry[tok]
	return ok && now.Before(exp)
}

// reset forgets every token.
func (t *tokens) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.expiry)
}

// login handles POST /api/v1/login.
func (s *Sim) login(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	if err := validate(s.validator.login, body); err != nil {
		writeRefusal(w, &refusal{status: http.StatusBadRequest, ReasonCode: ReasonInvalidRequest, Message: err.Error()})
		return
	}
	var creds struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	if err := json.Unmarshal(body, &creds); err != nil {
		writeRefusal(w, &refusal{status: http.StatusBadRequest, ReasonCode: ReasonInvalidRequest, Message: err.Error()})
		return
	}
	idOK := subtle.ConstantTimeCompare([]byte(creds.ClientID), []byte(s.opts.ClientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(creds.ClientSecret), []byte(s.opts.ClientSecret)) == 1
	if !idOK || !secretOK {
		s.log.Info("treasury-sim: login refused", "clientId", creds.ClientID)
		writeRefusal(w, &refusal{status: http.StatusUnauthorized, ReasonCode: ReasonInvalidClient, Message: "client credentials refused"})
		return
	}
	tok, err := s.tokens.issue(s.now(), s.opts.TokenTTL)
	if err != nil {
		writeRefusal(w, &refusal{status: http.StatusInternalServerError, ReasonCode: "INTERNAL", Message: "cannot issue a token"})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		AccessToken string `json:"accessToken"`
		ExpiresIn   int64  `json:"expiresIn"`
	}{tok, int64(s.opts.TokenTTL / time.Second)})
}

// authenticated lets a request through only with a valid bearer token; otherwise it answers
// 401 INVALID_TOKEN.
func (s *Sim) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || !s.tokens.valid(strings.TrimSpace(tok), s.now()) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeRefusal(w, &refusal{status: http.StatusUnauthorized, ReasonCode: ReasonInvalidToken,
				Message: "bearer token missing, expired or unknown"})
			return
		}
		next(w, r)
	}
}
