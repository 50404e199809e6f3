// Package tlsconf owns the adapter's server-side TLS: the certificate and
// key read from files and reloaded when the files change (no restart), the
// protocol versions, and the client CA bundle that mutual TLS verifies
// client certificates against.
package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Cert is a certificate and key pair read from two files, reloaded by
// Check when either file's modification time or size changed. A reload
// that fails (a file half-written, a key that does not match) keeps the
// pair in use and is tried again at the next Check, so a rotation that
// writes the two files one after the other never breaks a handshake.
type Cert struct {
	certFile, keyFile string
	log               *slog.Logger

	cur atomic.Pointer[tls.Certificate]

	mu   sync.Mutex // serialises Check
	seen [2]stamp   // of the pair in use
	bad  [2]stamp   // of the last pair that failed, logged once
}

// stamp is what Check compares to notice a changed file.
type stamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	return stamp{fi.ModTime(), fi.Size()}, nil
}

// NewCert reads the pair; an error names the file at fault.
func NewCert(certFile, keyFile string, log *slog.Logger) (*Cert, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &Cert{certFile: certFile, keyFile: keyFile, log: log}
	st, err := c.stamps()
	if err != nil {
		return nil, err
	}
	pair, err := load(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c.cur.Store(pair)
	c.seen = st
	return c, nil
}

func (c *Cert) stamps() ([2]stamp, error) {
	var st [2]stamp
	var err error
	if st[0], err = stampOf(c.certFile); err != nil {
		return st, fmt.Errorf("tls certificate: %w", err)
	}
	if st[1], err = stampOf(c.keyFile); err != nil {
		return st, fmt.Errorf("tls key: %w", err)
	}
	return st, nil
}

// load reads a pair and checks that the leaf certificate parses.
func load(certFile, keyFile string) (*tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls certificate %s and key %s: %w", certFile, keyFile, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls certificate %s: %w", certFile, err)
		}
	}
	return &pair, nil
}

// Current is the pair in use.
func (c *Cert) Current() *tls.Certificate { return c.cur.Load() }

// GetCertificate serves the pair in use to every handshake
// (tls.Config.GetCertificate).
func (c *Cert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// Check reloads the pair if a file changed since the pair in use was read,
// and reports whether it did. A pair that does not load is logged (once)
// and the pair in use kept.
func (c *Cert) Check() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.stamps()
	if err != nil {
		return false, err
	}
	if st == c.seen {
		return false, nil
	}
	pair, err := load(c.certFile, c.keyFile)
	if err != nil {
		if st != c.bad {
			c.log.Warn("tls certificate not reloaded; the one in use is kept", "err", err)
			c.bad = st
		}
		return false, err
	}
	c.cur.Store(pair)
	c.seen = st
	c.log.Info("tls certificate reloaded", "subject", pair.Leaf.Subject.String(),
		"notAfter", pair.Leaf.NotAfter.UTC().Format(time.RFC3339), "serial", pair.Leaf.SerialNumber.Text(16))
	return true, nil
}

// Watch calls Check every interval until ctx ends.
func (c *Cert) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = c.Check() // logged by Check
		}
	}
}

// Versions are the accepted values of a minimum TLS version.
var Versions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// Options configure a server's TLS.
type Options struct {
	Cert       *Cert
	MinVersion string // "1.2" or "1.3"; empty: 1.2
	// ClientCAFile, when set, is a PEM bundle of the CAs whose client
	// certificates are verified (mutual TLS). A client may connect without
	// one; a certificate that does not verify (another CA, expired, wrong
	// key usage) fails the handshake. Which routes need one is decided per
	// route group, above TLS.
	ClientCAFile string
}

// Server returns the tls.Config of a listener.
func Server(o Options) (*tls.Config, error) {
	if o.Cert == nil {
		return nil, errors.New("tls: no certificate")
	}
	minV := uint16(tls.VersionTLS12)
	if o.MinVersion != "" {
		v, ok := Versions[o.MinVersion]
		if !ok {
			return nil, fmt.Errorf("tls: minimum version %q is not 1.2 or 1.3", o.MinVersion)
		}
		minV = v
	}
	cfg := &tls.Config{
		MinVersion:     minV,
		GetCertificate: o.Cert.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if o.ClientCAFile != "" {
		pool, err := CertPool(o.ClientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// CertPool reads a PEM bundle of CA certificates; an error names the file.
func CertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls CA bundle %s: no PEM certificate", path)
	}
	return pool, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// ClientOptions configure a client's TLS towards an upstream (the
// treasury, the portal).
type ClientOptions struct {
	// CAFile is a PEM bundle of the CAs the server's certificate must chain
	// to; empty: the system's roots.
	CAFile string
	// CertFile and KeyFile are the client certificate for mutual TLS, both
	// or neither. The pair is checked for a change (modification time and
	// size) at each new handshake and reloaded, so a rotated client
	// certificate is used without a restart.
	CertFile, KeyFile string
	// ServerName is the name the server's certificate must carry; empty:
	// the URL's host.
	ServerName string
	Log        *slog.Logger
}

// Client returns the tls.Config of a client.
func Client(o ClientOptions) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
	if o.CAFile != "" {
		pool, err := CertPool(o.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if o.CertFile != "" || o.KeyFile != "" {
		cert, err := NewCert(o.CertFile, o.KeyFile, o.Log)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			_, _ = cert.Check() // a failed reload is logged; the pair in use is kept
			return cert.Current(), nil
		}
	}
	return cfg, nil
}
