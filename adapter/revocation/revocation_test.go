package revocation

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"golang.org/x/crypto/ocsp"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/testkit/ocsptest"
)

// crlServer serves one CRL over HTTP and counts the downloads.
type crlServer struct {
	*httptest.Server
	mu    sync.Mutex
	der   []byte
	hits  atomic.Int64
	fails atomic.Bool
}

func newCRLServer(t *testing.T) *crlServer {
	s := &crlServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.fails.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(s.der)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *crlServer) set(der []byte) {
	s.mu.Lock()
	s.der = der
	s.mu.Unlock()
}

// rig is a test CA with a real OCSP responder and a CRL server, and
// three signers its certificates name them in: good, revoked, and one the
// responder does not know.
type rig struct {
	ca                   *ocsptest.CA
	ocspURL              string
	port                 int
	crl                  *crlServer
	good, revoked, stray *x509.Certificate
	bare                 *x509.Certificate // no AIA, no distribution point
	responder            *ocsptest.Responder
	signer               *x509.Certificate
	signerKey            crypto.Signer
	now                  time.Time
	nextUpdate           time.Duration
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{ca: ocsptest.NewCA(t, "Revocation Test CA"), port: ocsptest.FreePort(t), crl: newCRLServer(t), now: time.Now()}
	r.ocspURL = "http://127.0.0.1:" + strconv.Itoa(r.port) + "/"
	leaf := func(cn string) *x509.Certificate {
		c, _ := r.ca.Issue(t, ocsptest.Leaf{CN: cn, OCSP: []string{r.ocspURL}, CRL: []string{r.crl.URL + "/ca.crl"}})
		return c
	}
	r.good, r.revoked, r.stray = leaf("Good Signer"), leaf("Revoked Signer"), leaf("Stray Signer")
	r.bare, _ = r.ca.Issue(t, ocsptest.Leaf{CN: "Bare Signer"})
	r.signer, r.signerKey = r.ca.Cert, r.ca.Key
	r.crl.set(r.ca.CRL(t, nil, r.now.Add(-time.Hour), r.now.Add(time.Hour)))
	return r
}

// start starts the responder: good and revoked listed, stray not.
func (r *rig) start(t *testing.T) {
	t.Helper()
	r.responder = ocsptest.Start(t, ocsptest.Options{CA: r.ca.Cert, Signer: r.signer, Key: r.signerKey, Port: r.port,
		NextUpdate: r.nextUpdate, Entries: []ocsptest.Entry{{Cert: r.good}, {Cert: r.revoked, Revoked: r.now.Add(-time.Hour)}}})
}

func (r *rig) checker(t *testing.T, o Options) *Checker {
	t.Helper()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	o.Timeout = 2 * time.Second
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	k, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (r *rig) chain(c *x509.Certificate) []*x509.Certificate {
	return []*x509.Certificate{c, r.ca.Cert}
}

func code(err error) string {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe.Kind.Code()
	}
	if err != nil {
		return "not a problem: " + err.Error()
	}
	return ""
}

func count(m *Metrics, source, outcome string) float64 {
	var d dto.Metric
	_ = m.checks.WithLabelValues(source, outcome).Write(&d)
	return d.GetCounter().GetValue()
}

// The real responder (openssl ocsp) answers good, revoked and unknown; the
// checker turns them into acceptance, certificate-revoked and
// certificate-untrusted, in both OCSP modes, without a CRL download.
func TestOCSPAnswers(t *testing.T) {
	r := newRig(t)
	r.start(t)
	for _, mode := range []string{OCSPRequire, OCSPPrefer} {
		for _, c := range []struct {
			name string
			cert *x509.Certificate
			code string
			out  string
		}{
			{"good", r.good, "", "good"},
			{"revoked", r.revoked, "certificate-revoked", "revoked"},
			{"unknown", r.stray, "certificate-untrusted", "unknown"},
		} {
			t.Run(mode+"/"+c.name, func(t *testing.T) {
				m := NewMetrics()
				k := r.checker(t, Options{OCSP: mode, FetchCRLs: true, Metrics: m})
				until, err := k.Check(r.chain(c.cert))
				if code(err) != c.code {
					t.Fatalf("got %v, want %q", err, c.code)
				}
				if err == nil && until.After(time.Now().Add(time.Second)) {
					t.Errorf("a response without nextUpdate is reused until %s; want not reused (maxAge 0)", until)
				}
				if got := count(m, "ocsp", c.out); got != 1 {
					t.Errorf("ocsp %s counted %v times, want 1", c.out, got)
				}
				if hits := r.crl.hits.Load(); hits != 0 {
					t.Errorf("CRL downloaded %d times although OCSP answered", hits)
				}
			})
		}
	}
}

// A response signed by a delegated responder certificate is accepted when
// the issuer gave it id-kp-OCSPSigning, refused otherwise.
func TestOCSPDelegatedResponder(t *testing.T) {
	for _, c := range []struct {
		name       string
		withoutEKU bool
		code       string
	}{{"authorized", false, ""}, {"without OCSPSigning", true, "revocation-unavailable"}} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			r.signer, r.signerKey = r.ca.Responder(t, c.withoutEKU)
			r.start(t)
			_, err := r.checker(t, Options{OCSP: OCSPRequire}).Check(r.chain(r.good))
			if code(err) != c.code {
				t.Fatalf("got %v, want %q", err, c.code)
			}
		})
	}
}

// Responder down: require refuses with 503 revocation-unavailable and
// Retry-After; prefer falls back to the fetched CRL; without a CRL either,
// fail refuses and allow accepts without letting the answer be reused.
func TestOCSPResponderDown(t *testing.T) {
	r := newRig(t) // the responder is never started: its port refuses
	t.Run("require", func(t *testing.T) {
		m := NewMetrics()
		_, err := r.checker(t, Options{OCSP: OCSPRequire, FetchCRLs: true, Metrics: m}).Check(r.chain(r.good))
		var pe *problem.Error
		if !errors.As(err, &pe) || pe.Kind != problem.RevocationUnavailable || pe.RetryAfter <= 0 || pe.Kind.Status() != 503 {
			t.Fatalf("got %v, want 503 revocation-unavailable with Retry-After", err)
		}
		if count(m, "ocsp", "unavailable") != 1 {
			t.Error("the failed OCSP lookup was not counted")
		}
	})
	t.Run("prefer falls back to the CRL", func(t *testing.T) {
		until, err := r.checker(t, Options{OCSP: OCSPPrefer, FetchCRLs: true}).Check(r.chain(r.good))
		if err != nil {
			t.Fatal(err)
		}
		if want := r.now.Add(time.Hour); !until.Equal(want.Truncate(time.Second)) && !until.Equal(want.UTC().Truncate(time.Second)) {
			t.Errorf("reusable until %s, want the CRL's nextUpdate %s", until, want)
		}
	})
	t.Run("prefer without CRL fails closed", func(t *testing.T) {
		_, err := r.checker(t, Options{OCSP: OCSPPrefer}).Check(r.chain(r.good))
		if code(err) != "revocation-unavailable" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("allow", func(t *testing.T) {
		until, err := r.checker(t, Options{OCSP: OCSPRequire, AllowUnavailable: true}).Check(r.chain(r.good))
		if err != nil {
			t.Fatal(err)
		}
		if until.After(time.Now()) {
			t.Errorf("an answer nobody gave is reusable until %s", until)
		}
	})
}

// A response whose nextUpdate has passed is not used: the checker's clock
// is two minutes ahead of a responder that gives one minute.
func TestOCSPStaleResponse(t *testing.T) {
	r := newRig(t)
	r.nextUpdate = time.Minute
	r.start(t)
	ahead := func() time.Time { return time.Now().Add(2 * time.Minute) }
	_, err := r.checker(t, Options{OCSP: OCSPRequire, Now: ahead}).Check(r.chain(r.good))
	if code(err) != "revocation-unavailable" {
		t.Fatalf("stale response: got %v, want revocation-unavailable", err)
	}
	// The same response on time is good, and kept until its nextUpdate.
	until, err := r.checker(t, Options{OCSP: OCSPRequire}).Check(r.chain(r.good))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(until); d <= 0 || d > time.Minute+skew {
		t.Errorf("reusable until %s, want the response's nextUpdate, about a minute from now", until)
	}
}

// A response with nextUpdate is cached until then: the responder may go
// down and the answer stays; a cache hit is counted as such.
func TestOCSPCachedUntilNextUpdate(t *testing.T) {
	r := newRig(t)
	r.nextUpdate = 10 * time.Minute
	r.start(t)
	m := NewMetrics()
	clock := time.Now()
	now := func() time.Time { return clock }
	k := r.checker(t, Options{OCSP: OCSPRequire, Metrics: m, Now: now})
	if _, err := k.Check(r.chain(r.good)); err != nil {
		t.Fatal(err)
	}
	r.responder.Down()
	if _, err := k.Check(r.chain(r.good)); err != nil {
		t.Fatalf("cached answer not used: %v", err)
	}
	if count(m, "ocsp", "cached") != 1 {
		t.Error("the cache hit was not counted")
	}
	clock = clock.Add(11 * time.Minute)
	if _, err := k.Check(r.chain(r.good)); code(err) != "revocation-unavailable" {
		t.Fatalf("after nextUpdate with the responder down: got %v", err)
	}
}

// With ocspNonce the responder's echo is checked: openssl ocsp echoes it;
// a responder that answers another request's nonce (here: a proxy that
// swaps the nonce) is not believed.
func TestOCSPNonce(t *testing.T) {
	r := newRig(t)
	r.start(t)
	if _, err := r.checker(t, Options{OCSP: OCSPRequire, Nonce: true}).Check(r.chain(r.good)); err != nil {
		t.Fatalf("nonce echoed by openssl: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*ocspRequest)
	}{
		{"mismatch", func(q *ocspRequest) {
			q.TBSRequest.Extensions[0], _ = nonceExtension(bytes.Repeat([]byte{7}, 32))
		}},
		{"absent", func(q *ocspRequest) { q.TBSRequest.Extensions = nil }},
	} {
		t.Run(c.name, func(t *testing.T) {
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				body, _ := io.ReadAll(req.Body)
				var q ocspRequest
				if _, err := asn1.Unmarshal(body, &q); err != nil || len(q.TBSRequest.Extensions) != 1 {
					http.Error(w, "request without nonce", http.StatusBadRequest)
					return
				}
				c.edit(&q)
				body, _ = asn1.Marshal(q)
				resp, err := http.Post(r.ocspURL, "application/ocsp-request", bytes.NewReader(body))
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				defer func() { _ = resp.Body.Close() }()
				_, _ = io.Copy(w, resp.Body)
			}))
			defer proxy.Close()
			_, err := r.checker(t, Options{OCSP: OCSPRequire, Nonce: true, OCSPURL: proxy.URL}).Check(r.chain(r.good))
			if code(err) != "revocation-unavailable" {
				t.Fatalf("got %v, want revocation-unavailable", err)
			}
		})
	}
}

// CRLs fetched from the distribution point: a listed certificate is
// revoked; a stale list, a list signed by another CA and an unreachable
// server leave the status unknown.
func TestFetchedCRL(t *testing.T) {
	r := newRig(t)
	other := ocsptest.NewCA(t, "Revocation Test CA") // same name, another key
	for _, c := range []struct {
		name string
		der  func() []byte
		down bool
		cert *x509.Certificate
		code string
	}{
		{"good", func() []byte {
			return r.ca.CRL(t, []*x509.Certificate{r.revoked}, r.now.Add(-time.Hour), r.now.Add(time.Hour))
		}, false, r.good, ""},
		{"revoked", func() []byte {
			return r.ca.CRL(t, []*x509.Certificate{r.revoked}, r.now.Add(-time.Hour), r.now.Add(time.Hour))
		}, false, r.revoked, "certificate-revoked"},
		{"stale", func() []byte { return r.ca.CRL(t, nil, r.now.Add(-2*time.Hour), r.now.Add(-time.Hour)) }, false, r.good, "revocation-unavailable"},
		{"another CA's", func() []byte { return other.CRL(t, nil, r.now.Add(-time.Hour), r.now.Add(time.Hour)) }, false, r.good, "revocation-unavailable"},
		{"not a CRL", func() []byte { return []byte("<html>maintenance</html>") }, false, r.good, "revocation-unavailable"},
		{"server down", func() []byte { return nil }, true, r.good, "revocation-unavailable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r.crl.set(c.der())
			r.crl.fails.Store(c.down)
			defer r.crl.fails.Store(false)
			_, err := r.checker(t, Options{OCSP: OCSPOff, FetchCRLs: true}).Check(r.chain(c.cert))
			if code(err) != c.code {
				t.Fatalf("got %v, want %q", err, c.code)
			}
		})
	}
}

// A fetched CRL is reused until its last quarter, then fetched again; a
// failed refresh keeps the still-current list.
func TestFetchedCRLRefreshedBeforeNextUpdate(t *testing.T) {
	r := newRig(t)
	clock := r.now
	k := r.checker(t, Options{OCSP: OCSPOff, FetchCRLs: true, Now: func() time.Time { return clock }})
	r.crl.set(r.ca.CRL(t, nil, r.now.Add(-time.Hour), r.now.Add(time.Hour))) // refresh from now+30m
	if _, err := k.Check(r.chain(r.revoked)); err != nil {
		t.Fatal(err)
	}
	r.crl.set(r.ca.CRL(t, []*x509.Certificate{r.revoked}, r.now, r.now.Add(2*time.Hour)))
	clock = r.now.Add(20 * time.Minute)
	if _, err := k.Check(r.chain(r.revoked)); err != nil || r.crl.hits.Load() != 1 {
		t.Fatalf("before the refresh time: %v after %d downloads, want the cached list", err, r.crl.hits.Load())
	}
	r.crl.fails.Store(true)
	clock = r.now.Add(40 * time.Minute)
	if _, err := k.Check(r.chain(r.revoked)); err != nil {
		t.Fatalf("failed refresh of a current list: %v", err)
	}
	r.crl.fails.Store(false)
	clock = r.now.Add(50 * time.Minute) // past the retry delay
	if _, err := k.Check(r.chain(r.revoked)); code(err) != "certificate-revoked" {
		t.Fatalf("after the refresh: got %v, want certificate-revoked", err)
	}
}

// The configured CRL: a certificate it lists is revoked whatever OCSP would
// say, without asking; with ocsp prefer and no responder anywhere, a
// current configured list answers (the shape of make run).
func TestConfiguredCRL(t *testing.T) {
	r := newRig(t)
	l, err := x509.ParseRevocationList(r.ca.CRL(t, []*x509.Certificate{r.revoked}, r.now.Add(-time.Hour), r.now.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	k := r.checker(t, Options{OCSP: OCSPRequire, CRLs: []*x509.RevocationList{l}, Issuers: []*x509.Certificate{r.ca.Cert}})
	if _, err := k.Check(r.chain(r.revoked)); code(err) != "certificate-revoked" {
		t.Fatalf("listed: got %v", err)
	}
	k = r.checker(t, Options{OCSP: OCSPPrefer, CRLs: []*x509.RevocationList{l}, Issuers: []*x509.Certificate{r.ca.Cert}})
	if _, err := k.Check(r.chain(r.bare)); err != nil {
		t.Fatalf("prefer, no responder, current configured CRL: %v", err)
	}
	late := r.checker(t, Options{OCSP: OCSPPrefer, CRLs: []*x509.RevocationList{l}, Issuers: []*x509.Certificate{r.ca.Cert},
		Now: func() time.Time { return r.now.Add(2 * time.Hour) }})
	if _, err := late.Check(r.chain(r.bare)); code(err) != "revocation-unavailable" {
		t.Fatalf("configured CRL past its nextUpdate: got %v", err)
	}
	if _, err := New(Options{CRLs: []*x509.RevocationList{l}, Issuers: []*x509.Certificate{ocsptest.NewCA(t, "Other").Cert}}); err == nil {
		t.Fatal("a CRL no configured CA signed was accepted")
	}
}

// A certificate that publishes no revocation source passes under prefer
// (nothing to ask) and is refused under require.
func TestNoSource(t *testing.T) {
	r := newRig(t)
	until, err := r.checker(t, Options{OCSP: OCSPPrefer, FetchCRLs: true}).Check(r.chain(r.bare))
	if err != nil || !until.Equal(forever) {
		t.Fatalf("prefer: %v, until %s", err, until)
	}
	if _, err := r.checker(t, Options{OCSP: OCSPRequire}).Check(r.chain(r.bare)); code(err) != "revocation-unavailable" {
		t.Fatalf("require without a responder: got %v", err)
	}
}

// A certificate whose only revocation sources are LDAP (a distribution
// point, a responder) has a status this checker cannot learn: unavailable
// (refused, or accepted unreused with onUnavailable: allow), not "no
// source"; with CRL fetching off, its distribution points are not asked
// anyway.
func TestLDAPOnlySourcesAreUnavailable(t *testing.T) {
	r := newRig(t)
	ldap, _ := r.ca.Issue(t, ocsptest.Leaf{CN: "LDAP Signer", CRL: []string{"ldap://ldap.example.vn/cn=CA,o=KBNN?certificateRevocationList"}})
	if _, err := r.checker(t, Options{OCSP: OCSPPrefer, FetchCRLs: true}).Check(r.chain(ldap)); code(err) != "revocation-unavailable" {
		t.Fatalf("an LDAP distribution point only: %v, want revocation-unavailable", err)
	}
	until, err := r.checker(t, Options{OCSP: OCSPPrefer, FetchCRLs: true, AllowUnavailable: true}).Check(r.chain(ldap))
	if err != nil || until.Equal(forever) {
		t.Fatalf("allow: %v until %s, want accepted, not reused", err, until)
	}
	if until, err := r.checker(t, Options{OCSP: OCSPOff, FetchCRLs: false}).Check(r.chain(ldap)); err != nil || !until.Equal(forever) {
		t.Fatalf("nothing fetched: %v until %s", err, until)
	}
	ocspLDAP, _ := r.ca.Issue(t, ocsptest.Leaf{CN: "LDAP Responder Signer", OCSP: []string{"ldap://ocsp.example.vn"}})
	if _, err := r.checker(t, Options{OCSP: OCSPPrefer}).Check(r.chain(ocspLDAP)); code(err) != "revocation-unavailable" {
		t.Fatalf("an LDAP responder only: %v, want revocation-unavailable", err)
	}
}

// Responses that are well formed but not the issuer's word about this
// certificate are unusable: signed by another CA's key, about another
// issuer's certificate with the same serial number, or from the future.
func TestOCSPResponseNotTheIssuers(t *testing.T) {
	ca := ocsptest.NewCA(t, "Revocation Test CA")
	other := ocsptest.NewCA(t, "Revocation Test CA") // same name, another key
	leaf, _ := ca.Issue(t, ocsptest.Leaf{CN: "Signer"})
	now := time.Now()
	resp := func(signer *ocsptest.CA, thisUpdate time.Time) []byte {
		der, err := ocsp.CreateResponse(signer.Cert, signer.Cert, ocsp.Response{Status: ocsp.Good, SerialNumber: leaf.SerialNumber,
			ThisUpdate: thisUpdate, NextUpdate: thisUpdate.Add(time.Hour)}, signer.Key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	if _, err := verifyResponse(resp(ca, now.Add(-time.Minute)), leaf, ca.Cert, nil, now, 0); err != nil {
		t.Fatalf("control: %v", err)
	}
	for name, der := range map[string][]byte{
		"another CA's key": resp(other, now.Add(-time.Minute)),
		"from the future":  resp(ca, now.Add(time.Hour)),
		"not OCSP at all":  []byte("<html>proxy error</html>"),
		"malformedRequest": {0x30, 0x03, 0x0a, 0x01, 0x01},
		"truncated":        resp(ca, now)[:40],
	} {
		if _, err := verifyResponse(der, leaf, ca.Cert, nil, now, 0); !errors.Is(err, errUnusable) {
			t.Errorf("%s: got %v, want an unusable response", name, err)
		}
	}
}
