package httpapi

import (
	"crypto/subtle"
	"crypto/x509"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/tlsconf"
	"github.com/kbnn/dvc/adapter/webhook"
)

// The route groups, each with its own callers and authentication mode.
const (
	GroupSubmissions = "submissions" // the portal: submissions, withdrawals, dossier queries
	GroupCallbacks   = "callbacks"   // the treasury's status callbacks
	GroupAdmin       = "admin"       // operators: dead letters, signers
)

// The authentication modes of a route group. The credential is a bearer
// token (submissions, admin) or the Standard Webhooks signature
// (callbacks).
const (
	ModeCredential = ""       // the credential only (bearer, or webhook for callbacks)
	ModeBearer     = "bearer" // = ModeCredential for submissions and admin
	ModeWebhook    = "webhook"
	ModeMTLS       = "mtls"   // a client certificate of the group, nothing else
	ModeEither     = "either" // a client certificate of the group, or the credential
	ModeBoth       = "both"   // both, naming the same caller (bearer)
)

// ClientCert maps a verified client certificate to a caller of a group: by
// its subject (RFC 4514, "CN=portal,O=Example,C=VN", as
// `openssl x509 -noout -subject -nameopt RFC2253` prints it) or by one of
// its URI SANs (spiffe://example.org/portal). One of Subject and URI.
type ClientCert struct {
	Name    string
	Subject string
	URI     string
	Group   string
}

// Modes are the groups' authentication modes; an empty one is the
// credential alone.
type Modes struct {
	Submissions, Callbacks, Admin string
}

func (m Modes) of(group string) string {
	var mode string
	switch group {
	case GroupSubmissions:
		mode = m.Submissions
	case GroupCallbacks:
		mode = m.Callbacks
	case GroupAdmin:
		mode = m.Admin
	}
	if mode == ModeBearer || mode == ModeWebhook {
		return ModeCredential
	}
	return mode
}

// certCaller returns the name of the caller of one of groups that the
// request's verified client certificate maps to, if any.
func (s *server) certCaller(r *http.Request, groups ...string) (string, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return "", false
	}
	leaf := r.TLS.PeerCertificates[0]
	for i, cc := range s.ClientCerts {
		if !contains(groups, cc.Group) {
			continue
		}
		if matches(cc, s.certDNs[i], leaf) {
			return cc.Name, true
		}
	}
	return "", false
}

// parseSubjects parses each client certificate's configured subject once
// (see server.certDNs).
func parseSubjects(certs []ClientCert) []*tlsconf.DN {
	dns := make([]*tlsconf.DN, len(certs))
	for i, cc := range certs {
		if cc.Subject == "" {
			continue
		}
		if dn, err := tlsconf.ParseDN(cc.Subject); err == nil {
			dns[i] = &dn
		}
	}
	return dns
}

// matches reports whether leaf is cc's certificate; dn is cc's subject,
// parsed (nil: cc is given by URI, or its subject does not parse).
func matches(cc ClientCert, dn *tlsconf.DN, leaf *x509.Certificate) bool {
	if cc.Subject != "" {
		return dn != nil && dn.MatchesSubject(leaf.RawSubject)
	}
	for _, u := range leaf.URIs {
		if u.String() == cc.URI {
			return true
		}
	}
	return false
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// bearerCaller returns the name of the caller among callers whose token
// the request carries (compared in constant time).
func bearerCaller(r *http.Request, callers []Caller) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	for _, cl := range callers {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(cl.Token)) == 1 {
			return cl.Name, true
		}
	}
	return "", false
}

// access is one group a route admits: its callers' tokens.
type access struct {
	group   string
	callers []Caller
}

// authenticate admits a request that one of the groups admits in its mode
// and records the caller's name; any other request gets 401, with a Bearer
// challenge for realm when a group takes bearer tokens.
func (s *server) authenticate(realm string, groups ...access) echo.MiddlewareFunc {
	challenge := ""
	for _, g := range groups {
		if s.Modes.of(g.group) != ModeMTLS {
			challenge = `Bearer realm="` + realm + `"`
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			for _, g := range groups {
				if name, ok := s.admits(c.Request(), g); ok {
					c.Set(ctxCaller, name)
					if g.group == GroupSubmissions {
						c.Set(ctxUnits, unitsOf(g.callers, name))
					}
					return next(c)
				}
			}
			if challenge != "" {
				c.Response().Header().Set("WWW-Authenticate", challenge)
			}
			return problem.New(problem.Unauthorized, "")
		}
	}
}

// admits applies g's mode to r.
func (s *server) admits(r *http.Request, g access) (string, bool) {
	byCert, certOK := s.certCaller(r, g.group)
	byToken, tokenOK := bearerCaller(r, g.callers)
	switch s.Modes.of(g.group) {
	case ModeMTLS:
		return byCert, certOK
	case ModeEither:
		if certOK {
			return byCert, true
		}
		return byToken, tokenOK
	case ModeBoth:
		return byCert, certOK && tokenOK && byCert == byToken
	default:
		return byToken, tokenOK
	}
}

// callbackAuth applies the callbacks group's mode before the webhook
// signature is read: mtls needs a client certificate of the group, and
// the signature is then not required; either takes such a certificate in
// place of the signature; both needs the certificate and the signature.
// The signature itself is checked by the receiver unless the context says
// the channel authenticated the sender (webhook.WithAuthenticatedChannel).
func (s *server) callbackAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		mode := s.Modes.of(GroupCallbacks)
		if mode == ModeCredential {
			return next(c)
		}
		name, ok := s.certCaller(c.Request(), GroupCallbacks)
		switch {
		case ok && mode != ModeBoth:
			c.Set(ctxCaller, name)
			c.SetRequest(c.Request().WithContext(webhook.WithAuthenticatedChannel(c.Request().Context())))
		case ok: // both: the signature is checked too
			c.Set(ctxCaller, name)
		case mode != ModeEither:
			return problem.New(problem.Unauthorized, "A client certificate of the treasury is required.")
		}
		return next(c)
	}
}

// unitsOf returns the units of the caller named name among callers (nil,
// every unit, when it has none or is not among them: a client certificate
// caller without a token of its name).
func unitsOf(callers []Caller, name string) []string {
	for _, cl := range callers {
		if cl.Name == name {
			return cl.Units
		}
	}
	return nil
}

// callerUnits are the units the request's caller is restricted to; nil
// means every unit (an operator, or a portal caller without units).
func callerUnits(c echo.Context) []string {
	u, _ := c.Get(ctxUnits).([]string)
	return u
}
