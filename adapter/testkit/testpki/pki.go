// Package testpki owns the TEST-ONLY PKI folder (testdata/pki): it generates
// the root and intermediate CAs, the named signers, the expired, revoked and
// untrusted certificates and the CRL, and loads named signers back from such a
// folder with their certificate chains. Its keys must never sign real dossiers.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// oidTitle is the X.520 title attribute (2.5.4.12) that carries a signer's role.
var oidTitle = asn1.ObjectIdentifier{2, 5, 4, 12}

const (
	titleAccountHolder    = "Chu tai khoan"
	titleChiefAccountant  = "Ke toan truong"
	signerOrganization    = "Don vi du toan 1012345"
	caOrganization        = "Kho bac Nha nuoc - TEST ONLY"
	untrustedOrganization = "Untrusted issuer - TEST ONLY"
	crlFile               = "intermediate.crl"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// certSpec describes one certificate of the test PKI. Files are <name>.crt
// and <name>.key.
type certSpec struct {
	name, cn, title, org string
	issuer               string // "" for a self-signed CA
	ca, ecdsa, revoked   bool
	notBefore, notAfter  time.Time
}

// testPKISpecs is the test PKI described in the design notes, issuers first.
var testPKISpecs = []certSpec{
	{name: "root-ca", cn: "KBNN Test Root CA", org: caOrganization, ca: true, notBefore: day(2020, 1, 1), notAfter: day(2055, 1, 1)},
	{name: "intermediate-ca", cn: "KBNN Test Signing CA", org: caOrganization, issuer: "root-ca", ca: true, notBefore: day(2020, 1, 1), notAfter: day(2052, 1, 1)},
	{name: "chu-tai-khoan", cn: "Nguyen Van A", title: titleAccountHolder, org: signerOrganization, issuer: "intermediate-ca", notBefore: day(2025, 1, 1), notAfter: day(2050, 1, 1)},
	{name: "ke-toan-truong", cn: "Tran Thi B", title: titleChiefAccountant, org: signerOrganization, issuer: "intermediate-ca", notBefore: day(2025, 1, 1), notAfter: day(2050, 1, 1)},
	{name: "untrusted-ca", cn: "Untrusted Test CA", org: untrustedOrganization, ca: true, notBefore: day(2020, 1, 1), notAfter: day(2055, 1, 1)},
	{name: "untrusted-signer", cn: "Le Van C", title: titleAccountHolder, org: signerOrganization, issuer: "untrusted-ca", notBefore: day(2025, 1, 1), notAfter: day(2050, 1, 1)},
	{name: "expired", cn: "Pham Van D", title: titleAccountHolder, org: signerOrganization, issuer: "intermediate-ca", notBefore: day(2023, 1, 1), notAfter: day(2024, 6, 30)},
	{name: "revoked", cn: "Hoang Van E", title: titleAccountHolder, org: signerOrganization, issuer: "intermediate-ca", revoked: true, notBefore: day(2025, 1, 1), notAfter: day(2050, 1, 1)},
	{name: "ecdsa-signer", cn: "Vu Thi F", title: titleChiefAccountant, org: signerOrganization, issuer: "intermediate-ca", ecdsa: true, notBefore: day(2025, 1, 1), notAfter: day(2050, 1, 1)},
}

// CRL dates: the revocation happened before the CRL was issued, and the CRL
// stays current until 2050.
var (
	crlThisUpdate  = day(2025, 7, 1)
	crlNextUpdate  = day(2050, 1, 1)
	revocationTime = day(2025, 6, 1)
)

type issued struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// Generate writes the test PKI into dir. It refuses to overwrite an existing
// PKI unless force is set, because every committed fixture is signed with it.
func Generate(dir string, force bool) error {
	if _, err := os.Stat(filepath.Join(dir, "root-ca.crt")); err == nil && !force {
		return fmt.Errorf("pki: %s already holds a PKI (fixtures depend on it); use -force to replace it", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	made := map[string]issued{}
	var revoked []x509.RevocationListEntry
	for _, s := range testPKISpecs {
		is, err := issueCert(s, made)
		if err != nil {
			return fmt.Errorf("pki: %s: %w", s.name, err)
		}
		made[s.name] = is
		if s.revoked {
			revoked = append(revoked, x509.RevocationListEntry{
				SerialNumber: is.cert.SerialNumber, RevocationTime: revocationTime, ReasonCode: 1, // keyCompromise
			})
		}
		if err := writeCertAndKey(dir, s.name, is); err != nil {
			return fmt.Errorf("pki: %s: %w", s.name, err)
		}
	}
	inter := made["intermediate-ca"]
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(1),
		ThisUpdate:                crlThisUpdate,
		NextUpdate:                crlNextUpdate,
		RevokedCertificateEntries: revoked,
	}, inter.cert, inter.key)
	if err != nil {
		return fmt.Errorf("pki: crl: %w", err)
	}
	if err := writePEMFile(filepath.Join(dir, crlFile), "X509 CRL", crl, 0o644); err != nil {
		return fmt.Errorf("pki: crl: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(pkiReadme), 0o644); err != nil {
		return fmt.Errorf("pki: readme: %w", err)
	}
	return nil
}

func issueCert(s certSpec, made map[string]issued) (issued, error) {
	var key crypto.Signer
	var err error
	if s.ecdsa {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return issued{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return issued{}, fmt.Errorf("serial: %w", err)
	}
	name := pkix.Name{Country: []string{"VN"}, Organization: []string{s.org}, CommonName: s.cn}
	if s.title != "" {
		name.ExtraNames = []pkix.AttributeTypeAndValue{{Type: oidTitle, Value: s.title}}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               name,
		NotBefore:             s.notBefore,
		NotAfter:              s.notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	if s.ca {
		tmpl.IsCA = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		if s.issuer != "" {
			tmpl.MaxPathLenZero = true
		}
	}
	parent, parentKey := tmpl, key
	if s.issuer != "" {
		p, ok := made[s.issuer]
		if !ok {
			return issued{}, fmt.Errorf("issuer %s not generated yet", s.issuer)
		}
		parent, parentKey = p.cert, p.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return issued{}, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return issued{}, fmt.Errorf("parse certificate: %w", err)
	}
	return issued{cert: cert, key: key}, nil
}

func writeCertAndKey(dir, name string, is issued) error {
	if err := writePEMFile(filepath.Join(dir, name+".crt"), "CERTIFICATE", is.cert.Raw, 0o644); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(is.key)
	if err != nil {
		return fmt.Errorf("marshal key: %w", err)
	}
	return writePEMFile(filepath.Join(dir, name+".key"), "PRIVATE KEY", der, 0o600)
}

func writePEMFile(path, typ string, der []byte, perm os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if data == nil {
		return errors.New("pem encode failed")
	}
	return os.WriteFile(path, data, perm)
}

const pkiReadme = `# Test PKI: TEST ONLY

**Never trust these certificates or keys in production.** The private keys are
public (they are committed to this repository). They exist only to sign the
fixtures under ` + "`testdata/fixtures/`" + ` and to test the adapter's trust checks.

Generated by ` + "`go run ./cmd/dvc-sign pki -out testdata/pki -force`" + `. Regenerating
replaces every key, so the fixtures must be regenerated afterwards
(` + "`go run ./cmd/dvc-sign fixtures`" + `). All files are PEM; keys are PKCS#8.

| file | subject CN | Title (2.5.4.12) → role | issuer | validity | purpose |
|---|---|---|---|---|---|
| root-ca | KBNN Test Root CA | | self | 2020-01-01 – 2055-01-01 | trust anchor to configure |
| intermediate-ca | KBNN Test Signing CA | | root-ca | 2020-01-01 – 2052-01-01 | issues the signers, signs the CRL |
| chu-tai-khoan | Nguyen Van A | Chu tai khoan → chu-tai-khoan | intermediate-ca | 2025-01-01 – 2050-01-01 | account holder |
| ke-toan-truong | Tran Thi B | Ke toan truong → ke-toan-truong | intermediate-ca | 2025-01-01 – 2050-01-01 | chief accountant |
| untrusted-ca | Untrusted Test CA | | self | 2020-01-01 – 2055-01-01 | a CA the adapter must not trust |
| untrusted-signer | Le Van C | Chu tai khoan | untrusted-ca | 2025-01-01 – 2050-01-01 | certificate-untrusted |
| expired | Pham Van D | Chu tai khoan | intermediate-ca | 2023-01-01 – 2024-06-30 | certificate-expired |
| revoked | Hoang Van E | Chu tai khoan | intermediate-ca | 2025-01-01 – 2050-01-01 | listed in intermediate.crl |
| ecdsa-signer | Vu Thi F | Ke toan truong → ke-toan-truong | intermediate-ca | 2025-01-01 – 2050-01-01 | ECDSA P-256 (ES256, ECDSA-SHA256) |

Signers: Organization "Don vi du toan 1012345", Country VN, key usage
digitalSignature + contentCommitment (non-repudiation), no extended key usage.
CAs: keyCertSign + cRLSign, basic constraints CA (the intermediate with path length 0).
Keys: RSA-2048 except ecdsa-signer.

` + "`intermediate.crl`" + `: issued by intermediate-ca, thisUpdate 2025-07-01, nextUpdate
2050-01-01, lists the serial of ` + "`revoked.crt`" + ` (revoked 2025-06-01, keyCompromise).

## Evidence log key: TEST ONLY

` + "`" + `adapter-log.key` + "`" + ` is the Ed25519 signer key of a test evidence log, in the
` + "`" + `golang.org/x/mod/sumdb/note` + "`" + ` form (` + "`" + `PRIVATE+KEY+<name>+<hash>+<key>` + "`" + `), and
` + "`" + `adapter-log.vkey` + "`" + ` its verifier key (` + "`" + `<name>+<hash>+<key>` + "`" + `). The key name,
` + "`" + `kbnn-dvc-adapter/test` + "`" + `, is the log's origin. **TEST ONLY**: the private key is
public; never let a production log sign with it. Generated by
` + "`" + `go run ./cmd/dvc-sign logkey -name kbnn-dvc-adapter/test -out testdata/pki` + "`" + `
(` + "`" + `-force` + "`" + ` to replace it); a production instance generates its own pair the same
way with ` + "`" + `-name kbnn-dvc-adapter/<instance>` + "`" + ` and keeps the ` + "`" + `.key` + "`" + ` secret.
`
