// Package tlspki generates the test PKI for TLS and mutual TLS
// (testdata/tls): a CA, server certificates for the adapter and both
// simulators, client certificates for every caller, and the certificates a
// client must be refused with (expired, from another CA). It is separate
// from the signing PKI (testdata/pki). TEST ONLY: its keys are public.
package tlspki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// The validity of the certificates, fixed so that a regenerated PKI differs
// only in its keys: long enough for the committed files to stay valid.
var (
	notBefore = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter  = time.Date(2045, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Org marks every subject as test material.
const Org = "DVC TLS TEST ONLY"

// Leaf is one certificate the PKI holds.
type Leaf struct {
	Name   string // file name without extension
	CN     string
	URI    string // a URI SAN, SPIFFE style
	Server bool   // serverAuth for localhost and 127.0.0.1; else clientAuth
	Other  bool   // issued by other-ca (a CA nobody trusts)
	// Expired: valid in 2020 only.
	Expired bool
}

// Leaves are the PKI's certificates besides its two CAs.
var Leaves = []Leaf{
	{Name: "adapter", CN: "dvc-adapter.test", Server: true},
	{Name: "treasury", CN: "kbnn-gateway.test", Server: true},
	{Name: "portal", CN: "dvcqg-portal.test", Server: true},
	{Name: "adapter-client", CN: "dvc-adapter", URI: "spiffe://dvc.test/adapter"},
	{Name: "portal-client", CN: "portal.dvc.test"},
	{Name: "treasury-client", CN: "kbnn-gateway", URI: "spiffe://kbnn.test/treasury"},
	{Name: "operator-client", CN: "operator-1"},
	{Name: "expired-client", CN: "portal.dvc.test", Expired: true},
	{Name: "other-client", CN: "portal.dvc.test", Other: true},
}

// Subject is the RFC 4514 subject of a leaf, as server.tls.clients names it.
func Subject(l Leaf) string { return "CN=" + l.CN + ",O=" + Org }

// Generate writes the PKI to dir: ca.crt/ca.key, other-ca.crt/other-ca.key,
// <leaf>.crt/<leaf>.key and a README. An existing ca.crt is kept unless
// force.
func Generate(dir string, force bool) error {
	if _, err := os.Stat(filepath.Join(dir, "ca.crt")); err == nil && !force {
		return fmt.Errorf("%s already holds a TLS PKI (ca.crt); -force replaces it", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ca, caKey, err := newCA(dir, "ca", "DVC TLS Test CA")
	if err != nil {
		return err
	}
	other, otherKey, err := newCA(dir, "other-ca", "Untrusted TLS Test CA")
	if err != nil {
		return err
	}
	for _, l := range Leaves {
		issuer, key := ca, caKey
		if l.Other {
			issuer, key = other, otherKey
		}
		if err := issue(dir, l, issuer, key); err != nil {
			return fmt.Errorf("%s: %w", l.Name, err)
		}
	}
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(readme), 0o644)
}

func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	return n.Add(n, big.NewInt(1)), nil
}

func newCA(dir, name, cn string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: cn, Organization: []string{Org}},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, write(dir, name, der, key)
}

func issue(dir string, l Leaf, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	sn, err := serial()
	if err != nil {
		return err
	}
	tpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: l.CN, Organization: []string{Org}},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if l.Server {
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tpl.DNSNames = []string{"localhost", l.CN}
		tpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	if l.Expired {
		tpl.NotBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		tpl.NotAfter = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if l.URI != "" {
		u, err := url.Parse(l.URI)
		if err != nil {
			return err
		}
		tpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	return write(dir, l.Name, der, key)
}

func write(dir, name string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return errors.Join(
		os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644),
		os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
}

const readme = `# Test PKI for TLS and mutual TLS — TEST ONLY

Generated by ` + "`go run ./cmd/dvc-sign tlspki -out testdata/tls -force`" + `. Every private key here is
public: never use any of it outside tests and local runs. It is separate from the signing PKI
(` + "`testdata/pki`" + `), which signs dossiers. ECDSA P-256, valid 2025–2045.

| file | what | used as |
|---|---|---|
| ca.crt / ca.key | DVC TLS Test CA | the one CA every party trusts (` + "`server.tls.clientCAFile`, `treasury.tls.caFile`, `portal.tls.caFile`, `-client-ca`" + `) |
| adapter.crt | server, localhost and 127.0.0.1 | the adapter's listeners (` + "`server.tls.certFile`" + `) |
| treasury.crt, portal.crt | servers, localhost and 127.0.0.1 | the simulators (` + "`-tls-cert`" + `) |
| adapter-client.crt | client, URI spiffe://dvc.test/adapter | the adapter towards the treasury and the portal (` + "`treasury.tls.certFile`" + `) |
| portal-client.crt | client, CN=portal.dvc.test,O=DVC TLS TEST ONLY | the portal calling the adapter (group submissions) |
| treasury-client.crt | client, URI spiffe://kbnn.test/treasury | the treasury's callbacks (group callbacks) |
| operator-client.crt | client, CN=operator-1,O=DVC TLS TEST ONLY | an operator on the admin listener (group admin) |
| expired-client.crt | client, valid in 2020 only | must be refused at the handshake |
| other-ca.crt, other-client.crt | a CA nobody trusts, and a client it issued | must be refused at the handshake |

` + "`configs/tls.yaml`" + ` shows these files in the production shape of the configuration.
`
