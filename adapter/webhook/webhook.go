// Package webhook owns Standard Webhooks signing and verification (https://www.standardwebhooks.com):
// the headers webhook-id, webhook-timestamp and webhook-signature, where a signature is
// "v1,<base64 of HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>" and secrets are written
// "whsec_<base64>". The treasury simulator signs its status callbacks with Sign; the adapter
// checks them with a Verifier, which accepts several secrets while a key is being rotated.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the Standard Webhooks specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a webhook-timestamp may be from the receiver's clock, either
// way, when NewVerifier is given no tolerance (the reference libraries' value).
const DefaultTolerance = 5 * time.Minute

// SecretPrefix starts every secret in its written form.
const SecretPrefix = "whsec_"

// MinSecretBytes is the shortest secret ParseSecret accepts (the specification's lower bound,
// 192 bits).
const MinSecretBytes = 24

// Errors of Verify. They are fixed strings with no detail, so a caller can answer them as they
// are without giving an attacker an oracle.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp      = errors.New("webhook: timestamp malformed or outside the tolerance")
	ErrSignature      = errors.New("webhook: no valid signature")
)

// ErrSecretFormat is returned by ParseSecret for a secret that is not "whsec_<base64>" of at
// least MinSecretBytes bytes.
var ErrSecretFormat = errors.New("webhook: secret must be whsec_ followed by base64 of at least 24 bytes")

// ParseSecret decodes a secret written "whsec_<base64>" (standard base64 with padding, as the
// reference libraries write it) into the HMAC key.
func ParseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, ErrSecretFormat
	}
	key, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSecretFormat, err)
	}
	if len(key) < MinSecretBytes {
		return nil, ErrSecretFormat
	}
	return key, nil
}

// FormatSecret writes a key in the "whsec_<base64>" form ParseSecret reads.
func FormatSecret(key []byte) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// Sign returns the webhook-signature value of one message: "v1,<base64 HMAC-SHA256>" over
// "<id>.<unix seconds of ts>.<body>".
func Sign(secret []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(secret, id, strconv.FormatInt(ts.Unix(), 10), body))
}

// Headers returns the three Standard Webhooks headers of one message signed with secret.
func Headers(secret []byte, id string, ts time.Time, body []byte) http.Header {
	h := make(http.Header, 3)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Sign(secret, id, ts, body))
	return h
}

func mac(secret []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verifier checks the Standard Webhooks headers of received messages. It is safe for
// concurrent use.
type Verifier struct {
	secrets   [][]byte
	tolerance time.Duration
	now       func() time.Time
}

// NewVerifier returns a Verifier that accepts a message signed with any of secrets (several
// during a rotation: the new one and the old one), whose timestamp is within tolerance of
// now(), in the past or the future. Tolerance zero or negative: DefaultTolerance. now nil:
// time.Now. With no secrets every message fails with ErrSignature. The secrets are copied.
func NewVerifier(secrets [][]byte, tolerance time.Duration, now func() time.Time) *Verifier {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if now == nil {
		now = time.Now
	}
	v := &Verifier{tolerance: tolerance, now: now}
	for _, s := range secrets {
		if len(s) > 0 {
			v.secrets = append(v.secrets, append([]byte(nil), s...))
		}
	}
	return v
}

// Verify checks the headers of a message whose body is body and returns its webhook-id (the
// message id, the same on every retry of one message). Checks, in order: all three headers
// present (ErrMissingHeaders); webhook-timestamp a plain decimal number of Unix seconds within
// the tolerance (ErrTimestamp); one of the space-separated "v1,<base64>" entries of
// webhook-signature equal, in constant time, to the HMAC under one of the secrets
// (ErrSignature). Entries of other versions are ignored.
func (v *Verifier) Verify(h http.Header, body []byte) (string, error) {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return "", ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || strconv.FormatInt(ts, 10) != tsText {
		return "", ErrTimestamp
	}
	now := v.now().Unix()
	tol := int64(v.tolerance / time.Second)
	// Only now and tol take part in arithmetic, so no header value can overflow it.
	if ts < now-tol || ts > now+tol {
		return "", ErrTimestamp
	}
	want := make([][]byte, len(v.secrets))
	for i, s := range v.secrets {
		want[i] = mac(s, id, tsText, body)
	}
	for _, entry := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		for _, w := range want {
			if hmac.Equal(got, w) {
				return id, nil
			}
		}
	}
	return "", ErrSignature
}

type channelKey struct{}

// WithAuthenticatedChannel marks ctx as carrying a request whose sender the
// transport already authenticated (a verified client certificate of the
// treasury, mutual TLS): its webhook signature is then not required.
func WithAuthenticatedChannel(ctx context.Context) context.Context {
	return context.WithValue(ctx, channelKey{}, true)
}

// AuthenticatedChannel reports whether ctx was marked by
// WithAuthenticatedChannel.
func AuthenticatedChannel(ctx context.Context) bool {
	v, _ := ctx.Value(channelKey{}).(bool)
	return v
}
