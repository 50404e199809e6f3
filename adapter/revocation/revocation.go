// Package revocation owns the live revocation status of signer
// certificates: OCSP (RFC 6960) against the responder the certificate's
// Authority Information Access names or a configured one, CRLs (RFC 5280)
// configured as files or fetched from the certificate's CRL distribution
// points, the caches of both, and the policy that decides what happens when
// no source answers. adapter/trust asks it for every certificate of a chain
// it has verified (Checker.Check); it answers with a *problem.Error of kind
// CertificateRevoked, CertificateUntrusted (an OCSP "unknown") or
// RevocationUnavailable, or with the instant until which the answer may be
// reused.
package revocation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kbnn/dvc/adapter/problem"
)

// OCSP modes (signatures.revocation.ocsp).
const (
	// OCSPRequire: the signer certificate's status comes from OCSP only; a
	// responder that does not answer is "unavailable".
	OCSPRequire = "require"
	// OCSPPrefer: OCSP first; the CRLs when no responder is known or it
	// does not answer.
	OCSPPrefer = "prefer"
	// OCSPOff: CRLs only.
	OCSPOff = "off"
)

// RetryAfter is the Retry-After, in seconds, of a revocation-unavailable
// refusal: long enough for a responder restart or a network blip to pass.
const RetryAfter = 30

// Options configure a Checker. The zero value checks configured CRLs only
// (OCSP off, nothing fetched) and fails closed.
type Options struct {
	// OCSP is OCSPRequire, OCSPPrefer or OCSPOff; empty means OCSPOff.
	OCSP string
	// OCSPURL, when set, is the responder asked for every signer
	// certificate, instead of the one its AIA extension names.
	OCSPURL string
	// Nonce sends an RFC 8954 nonce with each OCSP request and refuses a
	// response that does not echo it.
	Nonce bool
	// FetchCRLs downloads the CRLs that a certificate's CRL distribution
	// points name (http and https URLs).
	FetchCRLs bool
	// AllowUnavailable accepts a certificate whose status no source could
	// tell; false (fail closed) refuses it with RevocationUnavailable.
	AllowUnavailable bool
	// Timeout bounds one OCSP request or one CRL download; zero means 5s.
	Timeout time.Duration
	// MaxAge is how long an OCSP response or CRL without nextUpdate is
	// reused; zero means not at all (RFC 6960 §4.2.2.1: without
	// nextUpdate, newer information is always available).
	MaxAge time.Duration
	// CRLs are the configured revocation lists; each must be signed by one
	// of Issuers.
	CRLs    []*x509.RevocationList
	Issuers []*x509.Certificate
	// Client makes the requests; nil means a client with Timeout.
	Client *http.Client
	// Now is the clock the freshness of answers is judged by; nil means
	// time.Now.
	Now     func() time.Time
	Metrics *Metrics // nil means not counted
	Log     *slog.Logger
}

// Checker decides the revocation status of the certificates of verified
// chains. It is safe for concurrent use.
type Checker struct {
	o          Options
	client     *http.Client
	now        func() time.Time
	log        *slog.Logger
	metrics    *Metrics
	configured map[string][]*crlSet // issuer raw subject -> configured CRLs
	ocsp       answers[ocspAnswer]
	crls       answers[*crlSet]
}

// forever stands for "no limit" in a validity computed as a minimum.
var forever = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// New checks each configured CRL's signature against Issuers and builds the
// checker.
func New(o Options) (*Checker, error) {
	switch o.OCSP {
	case "":
		o.OCSP = OCSPOff
	case OCSPRequire, OCSPPrefer, OCSPOff:
	default:
		return nil, fmt.Errorf("revocation: OCSP mode %q", o.OCSP)
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	k := &Checker{o: o, client: o.Client, now: o.Now, log: o.Log, metrics: o.Metrics,
		configured: map[string][]*crlSet{}}
	if k.client == nil {
		k.client = &http.Client{Timeout: o.Timeout}
	}
	if k.now == nil {
		k.now = time.Now
	}
	if k.log == nil {
		k.log = slog.Default()
	}
	k.ocsp.init(maxCached)
	k.crls.init(maxCachedCRLs)
	for i, l := range o.CRLs {
		var set *crlSet
		for _, ca := range o.Issuers {
			if string(ca.RawSubject) == string(l.RawIssuer) && l.CheckSignatureFrom(ca) == nil {
				set = newCRLSet(l, ca)
				break
			}
		}
		if set == nil {
			return nil, fmt.Errorf("revocation: CRL %d is not signed by a configured CA", i+1)
		}
		k.configured[string(l.RawIssuer)] = append(k.configured[string(l.RawIssuer)], set)
	}
	return k, nil
}

// Check decides the status of every certificate of chain (leaf first, each
// certificate followed by its issuer, the root last and not checked). The
// signer certificate (the leaf) is asked of OCSP as the mode says, then of
// the CRLs; the intermediate CAs of the CRLs only. A certificate for which no
// source exists at all (no responder, no configured CRL of its issuer, no
// distribution point) has published no revocation information and passes.
//
// It returns the instant until which the answer may be reused: the earliest
// nextUpdate of the answers used (now when one of them may not be reused).
func (k *Checker) Check(chain []*x509.Certificate) (time.Time, error) {
	until := forever
	for i := 0; i+1 < len(chain); i++ {
		u, err := k.checkOne(chain[i], chain[i+1], i == 0)
		if err != nil {
			return time.Time{}, err
		}
		until = minTime(until, u)
	}
	return until, nil
}

// checkOne decides the status of cert, issued by issuer.
func (k *Checker) checkOne(cert, issuer *x509.Certificate, leaf bool) (time.Time, error) {
	now := k.now()
	serial := cert.SerialNumber.String()
	conf := k.configuredFor(cert, issuer)
	// A configured list is local knowledge: a certificate it lists is
	// revoked whatever a responder says.
	for _, c := range conf {
		if c.revoked[serial] {
			k.metrics.observe("crl", "revoked")
			return time.Time{}, revoked(cert, "configured CRL")
		}
	}
	tried := false // a source exists for this certificate
	var failures []error
	if leaf && k.o.OCSP != OCSPOff {
		url := k.responder(cert)
		if url == "" && k.o.OCSP == OCSPRequire {
			return k.unavailable(cert, now, []error{errors.New("no OCSP responder: the certificate names none and signatures.revocation.ocspURL is not set")})
		}
		if url != "" {
			tried = true
			a, cached, err := k.ocspStatus(cert, issuer, url)
			if err == nil {
				if cached {
					k.metrics.observe("ocsp", "cached")
				} else {
					k.metrics.observe("ocsp", a.outcome())
				}
				return a.decide(cert, now, url)
			}
			k.metrics.observe("ocsp", "unavailable")
			k.log.Warn("OCSP responder gave no usable answer", "url", url, "serial", serial, "err", err)
			failures = append(failures, fmt.Errorf("OCSP %s: %w", url, err))
			if k.o.OCSP == OCSPRequire {
				return k.unavailable(cert, now, failures)
			}
		}
	}
	for _, c := range conf {
		tried = true
		if now.Before(c.nextUpdate) {
			k.metrics.observe("crl", "good")
			return c.nextUpdate, nil
		}
		failures = append(failures, fmt.Errorf("configured CRL past its next update %s", c.nextUpdate.Format(time.RFC3339)))
	}
	if k.o.FetchCRLs {
		for _, url := range distributionPoints(cert) {
			tried = true
			set, cached, err := k.fetchedCRL(url, issuer)
			if err == nil {
				err = set.covers(cert)
			}
			if err != nil {
				k.metrics.observe("crl", "unavailable")
				failures = append(failures, fmt.Errorf("CRL %s: %w", url, err))
				continue
			}
			if set.revoked[serial] {
				k.metrics.observe("crl", "revoked")
				return time.Time{}, revoked(cert, "CRL "+url)
			}
			if cached {
				k.metrics.observe("crl", "cached")
			} else {
				k.metrics.observe("crl", "good")
			}
			return set.reuseUntil(now, k.o.MaxAge), nil
		}
	}
	if !tried {
		if names := k.unfetched(cert, leaf); len(names) > 0 {
			// It publishes a source, one this checker cannot ask (LDAP):
			// its status is unknown, not absent.
			return k.unavailable(cert, now, []error{fmt.Errorf("the certificate's revocation sources are not http or https (%s), which this checker does not fetch", strings.Join(names, ", "))})
		}
		return forever, nil
	}
	return k.unavailable(cert, now, failures)
}

// unfetched lists the revocation sources cert names that would be asked
// were they http or https (an LDAP distribution point or responder).
func (k *Checker) unfetched(cert *x509.Certificate, leaf bool) []string {
	var out []string
	if leaf && k.o.OCSP != OCSPOff && k.o.OCSPURL == "" {
		for _, u := range cert.OCSPServer {
			if !isHTTP(u) {
				out = append(out, u)
			}
		}
	}
	if k.o.FetchCRLs {
		for _, u := range cert.CRLDistributionPoints {
			if !isHTTP(u) {
				out = append(out, u)
			}
		}
	}
	return out
}

// unavailable is the answer when no source could tell cert's status: a
// refusal, or (onUnavailable: allow) an acceptance that is not reused.
func (k *Checker) unavailable(cert *x509.Certificate, now time.Time, failures []error) (time.Time, error) {
	cause := fmt.Errorf("revocation status of certificate %s of %q unknown: %w", cert.SerialNumber, cert.Subject, errors.Join(failures...))
	if k.o.AllowUnavailable {
		k.log.Warn("revocation status unavailable; accepted (signatures.revocation.onUnavailable: allow)", "err", cause)
		return now, nil
	}
	return time.Time{}, &problem.Error{Kind: problem.RevocationUnavailable, Cause: cause, RetryAfter: RetryAfter}
}

func revoked(cert *x509.Certificate, source string) error {
	return problem.Wrap(problem.CertificateRevoked,
		fmt.Errorf("certificate %s of %q revoked (%s)", cert.SerialNumber, cert.Subject, source), "")
}

// configuredFor returns the configured CRLs of cert's issuer, signed by
// that very issuer's key.
func (k *Checker) configuredFor(cert, issuer *x509.Certificate) []*crlSet {
	var out []*crlSet
	for _, c := range k.configured[string(cert.RawIssuer)] {
		if string(c.issuerKey) == string(issuer.RawSubjectPublicKeyInfo) {
			out = append(out, c)
		}
	}
	return out
}

// responder is the OCSP URL to ask about cert: the configured one, else the
// first http(s) URL of its AIA extension; "" when there is none.
func (k *Checker) responder(cert *x509.Certificate) string {
	if k.o.OCSPURL != "" {
		return k.o.OCSPURL
	}
	for _, u := range cert.OCSPServer {
		if isHTTP(u) {
			return u
		}
	}
	return ""
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// context bounds one request by the checker's timeout.
func (k *Checker) context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), k.o.Timeout)
}

// maxCached bounds the OCSP answers kept; maxCachedCRLs the fetched CRLs.
const (
	maxCached     = 50_000
	maxCachedCRLs = 64
)

// answers is a bounded cache of answers with their expiry, and the fetches
// in flight, so that concurrent checks of one certificate make one request.
type answers[T any] struct {
	mu      sync.Mutex
	max     int
	entries map[string]entry[T]
	flight  map[string]*call[T]
}

type entry[T any] struct {
	v       T
	expires time.Time // reused while now is before it
	keep    time.Time // kept (for a refresh that fails) while now is before it
}

type call[T any] struct {
	done chan struct{}
	v    T
	err  error
}

func (a *answers[T]) init(max int) {
	a.max, a.entries, a.flight = max, map[string]entry[T]{}, map[string]*call[T]{}
}

// lookup returns the entry under key, if any.
func (a *answers[T]) lookup(key string) (entry[T], bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.entries[key]
	return e, ok
}

// store keeps e under key; when the cache is full, the expired entries go
// first, then everything.
func (a *answers[T]) store(key string, e entry[T], now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.entries[key]; !ok && len(a.entries) >= a.max {
		for k, old := range a.entries {
			if !now.Before(old.keep) {
				delete(a.entries, k)
			}
		}
		if len(a.entries) >= a.max {
			clear(a.entries)
		}
	}
	a.entries[key] = e
}

// do runs fetch once for all the concurrent callers with the same key.
func (a *answers[T]) do(key string, fetch func() (T, error)) (T, error) {
	a.mu.Lock()
	if c, ok := a.flight[key]; ok {
		a.mu.Unlock()
		<-c.done
		return c.v, c.err
	}
	c := &call[T]{done: make(chan struct{})}
	a.flight[key] = c
	a.mu.Unlock()
	c.v, c.err = fetch()
	a.mu.Lock()
	delete(a.flight, key)
	a.mu.Unlock()
	close(c.done)
	return c.v, c.err
}
