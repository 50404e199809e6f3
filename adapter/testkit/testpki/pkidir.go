package testpki

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// Dir loads named signers (<name>.crt + <name>.key) from a PKI folder. The
// chain of each signer is the leaf plus every non-self-signed issuer found
// among the folder's certificates, so a signer issued by a root gets a chain
// of one.
type Dir struct {
	dir string

	once  sync.Once
	certs map[string]*x509.Certificate // path → certificate
	err   error

	mu      sync.Mutex
	signers map[string]signing.Signer
}

// NewDir returns the PKI folder dir. Nothing is read until the first signer is
// asked for. A Dir is safe for concurrent use.
func NewDir(dir string) *Dir {
	return &Dir{dir: dir, signers: map[string]signing.Signer{}}
}

func (p *Dir) loadCerts() {
	paths, err := filepath.Glob(filepath.Join(p.dir, "*.crt"))
	if err != nil {
		p.err = err
		return
	}
	sort.Strings(paths)
	p.certs = make(map[string]*x509.Certificate, len(paths))
	for _, path := range paths {
		c, err := signing.ReadCertificate(path)
		if err != nil {
			p.err = err
			return
		}
		p.certs[path] = c
	}
}

// signer returns the signer called name, cached.
func (p *Dir) signer(name string) (signing.Signer, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.Contains(name, "..") {
		return signing.Signer{}, fmt.Errorf("pki: invalid signer name %q", name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.signers[name]; ok {
		return s, nil
	}
	p.once.Do(p.loadCerts)
	if p.err != nil {
		return signing.Signer{}, fmt.Errorf("pki: %w", p.err)
	}
	certPath := filepath.Join(p.dir, name+".crt")
	leaf, ok := p.certs[certPath]
	if !ok {
		return signing.Signer{}, fmt.Errorf("pki: no certificate %s (known: %s)", certPath, strings.Join(p.names(), ", "))
	}
	s, err := signing.LoadSigner(certPath, filepath.Join(p.dir, name+".key"), p.intermediates(leaf)...)
	if err != nil {
		return signing.Signer{}, err
	}
	p.signers[name] = s
	return s, nil
}

// Signers resolves several signer names (<name>.crt + <name>.key in the
// folder) in order. Each signer is loaded once and cached.
func (p *Dir) Signers(names []string) ([]signing.Signer, error) {
	out := make([]signing.Signer, 0, len(names))
	for _, n := range names {
		s, err := p.signer(n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *Dir) names() []string {
	var out []string
	for path := range p.certs {
		out = append(out, strings.TrimSuffix(filepath.Base(path), ".crt"))
	}
	sort.Strings(out)
	return out
}

// intermediates walks issuers up from leaf and returns the paths of the
// non-self-signed ones.
func (p *Dir) intermediates(leaf *x509.Certificate) []string {
	paths := make([]string, 0, len(p.certs))
	for path := range p.certs {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	var out []string
	cur := leaf
	for depth := 0; depth < 8 && !selfSigned(cur); depth++ {
		next := ""
		for _, path := range paths {
			c := p.certs[path]
			if c.IsCA && bytes.Equal(c.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(c) == nil {
				next = path
				break
			}
		}
		if next == "" || selfSigned(p.certs[next]) {
			break
		}
		out = append(out, next)
		cur = p.certs[next]
	}
	return out
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}
