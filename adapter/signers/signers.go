// Package signers owns the registry of the signers each budget unit
// (maDVQHNS) registered with the treasury: which certificate, identified by
// its serial number and its issuer, may sign for the unit in which role.
//
// Registrations come from accepted account-registration dossiers (their
// signature specimen) and from operators; a money-moving dossier is accepted
// only when each of its signers is registered for the dossier's unit in the
// role it signed in (adapter/intake).
//
// A certificate is identified by (serial, issuer) as RFC 5280 §4.1.2.2
// requires: the serial is unique per issuer only. Both are kept in one
// canonical form so that the same certificate always compares equal:
//
//   - the serial as an integer, written as lower-case hexadecimal without
//     leading zeros (CanonicalSerial): a serial printed as "00:4A:25…",
//     "4a25…" or "0x4A25…" is the same integer, and DER's leading zero
//     byte for positive serials does not make a different one;
//   - the issuer as a canonical distinguished name (CanonicalDN): RFC 4514
//     order, attribute types upper-case, values with surrounding spaces
//     removed, inner whitespace collapsed and case folded (the caseIgnore
//     matching of X.520 DirectoryString). A DN string is what operators and
//     the specimen can write; raw issuer bytes would make every operator
//     entry depend on the CA's exact ASN.1 string types.
package signers

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// SourceOperator is the source of a registration an operator loaded.
const SourceOperator = "operator"

// Registration is one certificate registered for a unit in one role.
type Registration struct {
	Unit         string    `json:"unit"`
	Role         string    `json:"role"`
	Serial       string    `json:"serial"` // CanonicalSerial
	Issuer       string    `json:"issuer"` // CanonicalDN
	RegisteredAt time.Time `json:"registeredAt"`
	// Source is the tai-khoan dossier code (maHoSo) that registered it, or
	// SourceOperator.
	Source string `json:"source"`
}

// ID is the identity of a registration: unit, role, serial and issuer. A
// second registration with the same identity is the same registration.
func (r Registration) ID() string { return r.Role + "|" + r.Serial + "|" + r.Issuer }

// Store keeps the registrations. Every implementation passes
// adapter/testkit/signertest.
type Store interface {
	// Put adds registrations, which must be Normalized. One whose identity
	// is already registered is left as it was (its first registration time
	// and source are kept), so loading the same list twice changes nothing.
	// It reports how many were new.
	Put(ctx context.Context, regs ...Registration) (int, error)
	// List returns the unit's registrations ordered by role, serial, issuer.
	List(ctx context.Context, unit string) ([]Registration, error)
	// Revoke removes every registration of the serial (CanonicalSerial) for
	// the unit, whatever its role and issuer, and reports how many.
	Revoke(ctx context.Context, unit, serial string) (int, error)
	// FirstMissing reports the index in want of the first registration
	// (its role, serial and issuer, canonical) not registered for the
	// unit, or -1 when every one is; a dossier's signers are checked in one
	// call.
	FirstMissing(ctx context.Context, unit string, want ...Registration) (int, error)
}

// Registered reports whether the certificate with this serial and issuer
// (both canonical) is registered in s for the unit in the role.
func Registered(ctx context.Context, s Store, unit, role, serial, issuer string) (bool, error) {
	i, err := s.FirstMissing(ctx, unit, Registration{Role: role, Serial: serial, Issuer: issuer})
	return err == nil && i < 0, err
}

// CanonicalSerial parses a serial written in hexadecimal (optionally with
// a 0x prefix, colons or spaces between bytes) and returns its canonical
// form. Hexadecimal is how certificate tools and the CAs print serials.
func CanonicalSerial(s string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimPrefix(t, "0x")
	t = serialSeparators.Replace(t)
	n, ok := new(big.Int).SetString(t, 16)
	if !ok || t == "" {
		return "", fmt.Errorf("serial %q is not a hexadecimal number", s)
	}
	if n.Sign() < 0 {
		return "", fmt.Errorf("serial %q is negative", s)
	}
	return SerialOf(n), nil
}

// serialSeparators drops the separators CanonicalSerial accepts between
// bytes (built once: a Replacer builds its tables on first use).
var serialSeparators = strings.NewReplacer(":", "", " ", "")

// SerialOf is the canonical form of a certificate's serial number.
func SerialOf(n *big.Int) string { return n.Text(16) }

// CanonicalDN parses a distinguished name in RFC 4514 form ("CN=…,O=…,C=…";
// "C = VN, O = …" as openssl prints it is accepted) and returns its
// canonical form: types upper-case (known OIDs named), each value
// unescaped (\, and hex pairs such as \C3\A0, as `openssl -nameopt
// RFC2253` writes UTF-8), in Unicode NFC (Vietnamese names typed in
// decomposed form are the same name), case-folded with whitespace
// collapsed, then escaped again one way (\ before , + " \ < > ; and a
// leading #). A value written as #hex (BER, an attribute Go prints by OID)
// is kept as it is, case-folded.
func CanonicalDN(dn string) (string, error) {
	var rdns []string
	var cur strings.Builder
	esc := false
	for _, r := range dn {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\':
			cur.WriteRune(r)
			esc = true
		case r == ',':
			rdns = append(rdns, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	rdns = append(rdns, cur.String())
	out := make([]string, 0, len(rdns))
	for _, rdn := range rdns {
		typ, val, ok := strings.Cut(rdn, "=")
		typ = strings.ToUpper(strings.TrimSpace(typ))
		val = canonicalValue(strings.TrimSpace(val))
		if !ok || typ == "" || val == "" {
			return "", fmt.Errorf("issuer %q is not a distinguished name (TYPE=value,…)", dn)
		}
		if alias, ok := typeAliases[typ]; ok {
			typ = alias
		}
		out = append(out, typ+"="+val)
	}
	return strings.Join(out, ","), nil
}

// canonicalValue is the canonical form of one attribute value as written
// in a DN (see CanonicalDN).
func canonicalValue(v string) string {
	if strings.HasPrefix(v, "#") {
		return strings.ToLower(v)
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			if i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
				b = append(b, unhex(v[i+1])<<4|unhex(v[i+2]))
				i += 2
				continue
			}
			b = append(b, v[i+1])
			i++
			continue
		}
		b = append(b, c)
	}
	u := string(b)
	if !utf8.ValidString(u) {
		u = v // hex pairs that are not UTF-8: compared as written
	}
	// NFC after the case folding too: a lower-case letter may compose with
	// its mark where the capital has no composed form (W and U+030A).
	u = norm.NFC.String(strings.ToLower(strings.Join(strings.Fields(norm.NFC.String(u)), " ")))
	var out strings.Builder
	for i, r := range u {
		if strings.ContainsRune(`,+"\<>;`, r) || (i == 0 && r == '#') {
			out.WriteByte('\\')
		}
		out.WriteRune(r)
	}
	return out.String()
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

// typeAliases names attribute types Go prints by OID the way people write
// them.
var typeAliases = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
	"2.5.4.11": "OU", "2.5.4.12": "TITLE", "1.2.840.113549.1.9.1": "EMAILADDRESS",
	"E": "EMAILADDRESS", "S": "ST",
}

// IssuerOf is the canonical issuer DN of a certificate. The DNs of the
// first issuers seen are remembered by their raw bytes (a verified signer's
// issuer is one of the few CAs the adapter trusts); past maxIssuers, the
// others are worked out each time.
func IssuerOf(c *x509.Certificate) string {
	if dn, ok := issuers.Load(string(c.RawIssuer)); ok {
		return dn.(string)
	}
	seq := c.Issuer.ToRDNSequence()
	dn, err := CanonicalDN(seq.String())
	if err != nil {
		dn = seq.String()
	}
	if len(c.RawIssuer) > 0 && issuerCount.Load() < maxIssuers {
		if _, loaded := issuers.LoadOrStore(string(c.RawIssuer), dn); !loaded {
			issuerCount.Add(1)
		}
	}
	return dn
}

// maxIssuers bounds the issuers IssuerOf remembers.
const maxIssuers = 256

var (
	issuers     sync.Map // raw issuer -> canonical DN
	issuerCount atomic.Int64
)

// ErrInvalid marks a registration that cannot be stored.
var ErrInvalid = errors.New("invalid registration")

// Normalize checks a registration and puts its serial and issuer in
// canonical form; the error wraps ErrInvalid and names the field.
func Normalize(r Registration) (Registration, error) {
	r.Unit, r.Role, r.Source = strings.TrimSpace(r.Unit), strings.TrimSpace(r.Role), strings.TrimSpace(r.Source)
	if r.Unit == "" {
		return r, fmt.Errorf("%w: unit: required", ErrInvalid)
	}
	if r.Role == "" {
		return r, fmt.Errorf("%w: role: required", ErrInvalid)
	}
	s, err := CanonicalSerial(r.Serial)
	if err != nil {
		return r, fmt.Errorf("%w: serial: %v", ErrInvalid, err)
	}
	r.Serial = s
	d, err := CanonicalDN(r.Issuer)
	if err != nil {
		return r, fmt.Errorf("%w: issuer: %v", ErrInvalid, err)
	}
	r.Issuer = d
	if r.Source == "" {
		r.Source = SourceOperator
	}
	return r, nil
}

// Sort orders registrations by role, serial, issuer.
func Sort(regs []Registration) {
	sort.Slice(regs, func(i, j int) bool { return regs[i].ID() < regs[j].ID() })
}
