package treasury

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// maxTokenSeconds caps the token lifetime the client believes, whatever the treasury says.
const maxTokenSeconds = 24 * 60 * 60

// accessToken returns the cached token, or logs in when there is none or it is due for
// renewal. Concurrent callers share one login.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	if tok, ok := c.cached(); ok {
		return tok, nil
	}
	select {
	case c.loginSem <- struct{}{}:
	case <-ctx.Done():
		return "", transportError(opLogin, ctx.Err())
	}
	defer func() { <-c.loginSem }()
	if tok, ok := c.cached(); ok { // another caller logged in meanwhile
		return tok, nil
	}
	start := c.cfg.Clock()
	tok, ttl, err := c.login(ctx)
	if err != nil {
		return "", err
	}
	margin := min(c.cfg.TokenRefreshMargin, ttl/2)
	c.mu.Lock()
	c.token, c.renewAt = tok, start.Add(ttl-margin)
	c.mu.Unlock()
	return tok, nil
}

func (c *Client) cached() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == "" || !c.cfg.Clock().Before(c.renewAt) {
		return "", false
	}
	return c.token, true
}

// forget drops tok from the cache unless another caller has already replaced it.
func (c *Client) forget(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

// login exchanges the client credentials for a token and its lifetime.
func (c *Client) login(ctx context.Context) (string, time.Duration, error) {
	body, err := json.Marshal(struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}{c.cfg.ClientID, c.cfg.ClientSecret})
	if err != nil {
		return "", 0, fmt.Errorf("treasury: %s: %w", opLogin, err)
	}
	a, err := c.attempt(ctx, call{op: opLogin, method: http.MethodPost, path: "/api/v1/login", body: body}, "")
	if err != nil {
		return "", 0, err
	}
	switch a.status {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusBadRequest:
		return "", 0, a.errorOf(opLogin, ErrUnauthorized)
	default:
		return "", 0, failure(opLogin, a, false)
	}
	var out struct {
		AccessToken string `json:"accessToken"`
		ExpiresIn   int64  `json:"expiresIn"`
	}
	if err := a.decode(&out); err != nil || out.AccessToken == "" || out.ExpiresIn <= 0 {
		return "", 0, a.errorOf(opLogin, ErrProtocol)
	}
	ttl := time.Duration(min(out.ExpiresIn, maxTokenSeconds)) * time.Second
	return out.AccessToken, ttl, nil
}
