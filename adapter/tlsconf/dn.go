package tlsconf

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// DN is a distinguished name as configured (RFC 4514: "CN=portal,O=Example,
// C=VN", most specific RDN first), parsed once and compared with a
// certificate's subject attribute by attribute: the certificate's own RDN
// sequence (RawSubject), never a string printed from it, so that no two
// different subjects can compare equal through how they print.
type DN struct {
	rdns [][]dnAttr // in the string's order: rdns[0] is the certificate sequence's last RDN
}

// dnAttr is one attribute: its type and its value as configured, with the
// escapes undone (the bytes a certificate's string value must hold), and
// that value in Unicode NFC (a name typed in a decomposed form is the
// composed one a certificate carries).
type dnAttr struct {
	oid      asn1.ObjectIdentifier
	value    string
	valueNFC string
}

// dnAttrTypes are the attribute types a configured DN may name (any case;
// besides a dotted OID): those of RFC 4514 and the ones openssl prints,
// each with the name DN.String writes it by, and its other names.
var dnAttrTypes = []struct {
	name    string
	oid     asn1.ObjectIdentifier
	aliases []string
}{
	{"CN", asn1.ObjectIdentifier{2, 5, 4, 3}, nil},
	{"SN", asn1.ObjectIdentifier{2, 5, 4, 4}, []string{"SURNAME"}},
	{"SERIALNUMBER", asn1.ObjectIdentifier{2, 5, 4, 5}, nil},
	{"C", asn1.ObjectIdentifier{2, 5, 4, 6}, nil},
	{"L", asn1.ObjectIdentifier{2, 5, 4, 7}, nil},
	{"ST", asn1.ObjectIdentifier{2, 5, 4, 8}, []string{"S"}},
	{"STREET", asn1.ObjectIdentifier{2, 5, 4, 9}, nil},
	{"O", asn1.ObjectIdentifier{2, 5, 4, 10}, nil},
	{"OU", asn1.ObjectIdentifier{2, 5, 4, 11}, nil},
	{"TITLE", asn1.ObjectIdentifier{2, 5, 4, 12}, []string{"T"}},
	{"businessCategory", asn1.ObjectIdentifier{2, 5, 4, 15}, nil},
	{"POSTALCODE", asn1.ObjectIdentifier{2, 5, 4, 17}, nil},
	{"GIVENNAME", asn1.ObjectIdentifier{2, 5, 4, 42}, []string{"GN"}},
	{"organizationIdentifier", asn1.ObjectIdentifier{2, 5, 4, 97}, nil},
	{"DC", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, nil},
	{"UID", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, nil},
	{"emailAddress", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, []string{"E"}},
}

// dnTypes (upper-case name or alias to type) and dnNames (dotted type to
// the name DN.String writes) are read from dnAttrTypes.
var dnTypes, dnNames = func() (map[string]asn1.ObjectIdentifier, map[string]string) {
	types, names := map[string]asn1.ObjectIdentifier{}, map[string]string{}
	for _, t := range dnAttrTypes {
		names[t.oid.String()] = t.name
		for _, n := range append([]string{t.name}, t.aliases...) {
			types[strings.ToUpper(n)] = t.oid
		}
	}
	return types, names
}()

// ParseDN reads a distinguished name as RFC 4514 writes it and as
// `openssl x509 -subject -nameopt RFC2253` prints it (not Go's
// pkix.Name.String, which reorders the attributes and writes the ones it
// does not name, emailAddress among them, as # and hex): RDNs separated by
// ',', the attributes of a multi-valued RDN by '+', each TYPE=value with
// the type a name of dnTypes or a dotted OID; in a value, '\' escapes one
// of  ,+"\<>;=# and space, or stands before two hex digits that are one
// byte (openssl prints UTF-8 so). Spaces around the separators are not
// part of the name; an escaped space is. A value written as '#' and hex
// (BER) is refused: write it as text.
func ParseDN(s string) (DN, error) {
	var d DN
	var rdn []dnAttr
	p := dnParser{s: s}
	for {
		a, err := p.attr()
		if err != nil {
			return DN{}, err
		}
		rdn = append(rdn, a)
		if p.done() {
			d.rdns = append(d.rdns, rdn)
			return d, nil
		}
		switch p.s[p.i] {
		case '+':
		case ',':
			d.rdns = append(d.rdns, rdn)
			rdn = nil
		default:
			return DN{}, fmt.Errorf("distinguished name: unexpected %q at %d", p.s[p.i], p.i)
		}
		p.i++
	}
}

type dnParser struct {
	s string
	i int
}

func (p *dnParser) done() bool { return p.i >= len(p.s) }

func (p *dnParser) spaces() {
	for !p.done() && p.s[p.i] == ' ' {
		p.i++
	}
}

// attr reads TYPE=value up to the next unescaped ',' or '+', or the end.
func (p *dnParser) attr() (dnAttr, error) {
	p.spaces()
	start := p.i
	for !p.done() && p.s[p.i] != '=' && p.s[p.i] != ',' && p.s[p.i] != '+' {
		p.i++
	}
	if p.done() || p.s[p.i] != '=' {
		return dnAttr{}, fmt.Errorf("distinguished name: %q is not TYPE=value", p.s[start:p.i])
	}
	typ := strings.TrimRight(p.s[start:p.i], " ")
	oid, err := dnType(typ)
	if err != nil {
		return dnAttr{}, err
	}
	p.i++ // '='
	p.spaces()
	if !p.done() && p.s[p.i] == '#' {
		return dnAttr{}, fmt.Errorf("distinguished name: %s: a value written as # and hex (BER) is not supported: write it as text", typ)
	}
	var v []byte
	keep := 0 // len(v) up to its last byte that is not an unescaped space
	for !p.done() {
		c := p.s[p.i]
		switch {
		case c == ',' || c == '+':
			if keep == 0 {
				return dnAttr{}, errEmptyValue(typ)
			}
			return newAttr(oid, v[:keep]), nil
		case c == '\\':
			if p.i+2 < len(p.s) && isHex(p.s[p.i+1]) && isHex(p.s[p.i+2]) {
				v = append(v, unhex(p.s[p.i+1])<<4|unhex(p.s[p.i+2]))
				p.i += 3
			} else if p.i+1 < len(p.s) && strings.IndexByte(` ,+"\<>;=#`, p.s[p.i+1]) >= 0 {
				v = append(v, p.s[p.i+1])
				p.i += 2
			} else {
				return dnAttr{}, fmt.Errorf("distinguished name: %s: a '\\' must stand before one of ,+\"\\<>;=# or a space, or two hex digits", typ)
			}
			keep = len(v)
			continue
		case c == '"' || c == '<' || c == '>' || c == ';':
			return dnAttr{}, fmt.Errorf("distinguished name: %s: %q must be escaped with '\\'", typ, c)
		case c != ' ':
			v = append(v, c)
			keep = len(v)
		default:
			v = append(v, c)
		}
		p.i++
	}
	if keep == 0 {
		return dnAttr{}, errEmptyValue(typ)
	}
	return newAttr(oid, v[:keep]), nil
}

func newAttr(oid asn1.ObjectIdentifier, v []byte) dnAttr {
	return dnAttr{oid: oid, value: string(v), valueNFC: norm.NFC.String(string(v))}
}

// errEmptyValue is the parser's answer to TYPE= with nothing after it.
func errEmptyValue(typ string) error {
	return fmt.Errorf("distinguished name: %s has an empty value", typ)
}

// dnType reads an attribute type: a name of dnTypes, any case, or a
// dotted OID.
func dnType(typ string) (asn1.ObjectIdentifier, error) {
	if oid, ok := dnTypes[strings.ToUpper(typ)]; ok {
		return oid, nil
	}
	var oid asn1.ObjectIdentifier
	for part := range strings.SplitSeq(typ, ".") {
		n := 0
		if part == "" || len(part) > 9 {
			return nil, fmt.Errorf("distinguished name: unknown attribute type %q (a name such as CN, O, OU, C, or a dotted OID)", typ)
		}
		for _, c := range []byte(part) {
			if c < '0' || c > '9' {
				return nil, fmt.Errorf("distinguished name: unknown attribute type %q (a name such as CN, O, OU, C, or a dotted OID)", typ)
			}
			n = n*10 + int(c-'0')
		}
		oid = append(oid, n)
	}
	if len(oid) < 2 {
		return nil, fmt.Errorf("distinguished name: unknown attribute type %q (a name such as CN, O, OU, C, or a dotted OID)", typ)
	}
	return oid, nil
}

// MatchesSubject reports whether rawSubject (a certificate's RawSubject)
// is this name: as many RDNs, in the same order, each with the same
// attributes (in any order within the RDN), each a string value equal to
// the configured value byte for byte, or to it in NFC. The certificate's
// values are compared as they are, never normalised or trimmed.
func (d DN) MatchesSubject(rawSubject []byte) bool {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(rawSubject, &seq); err != nil || len(rest) > 0 || len(seq) != len(d.rdns) || len(seq) == 0 {
		return false
	}
	for i, want := range d.rdns {
		got := seq[len(seq)-1-i]
		if len(got) != len(want) {
			return false
		}
		used := make([]bool, len(got))
		for _, w := range want {
			found := false
			for j, g := range got {
				if used[j] || !g.Type.Equal(w.oid) {
					continue
				}
				if v, ok := g.Value.(string); ok && (v == w.value || v == w.valueNFC) {
					used[j], found = true, true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
}

// String writes the name one way: types by their name (dotted when
// unnamed), values in NFC escaped as RFC 4514 says (a backslash before
// ,+"\<>;= and a leading #; leading and trailing spaces, and bytes that are
// not UTF-8, as hex pairs), the attributes of a multi-valued RDN sorted.
// Two names that match the same subjects write the same; configuration
// uses it to find a client listed twice.
func (d DN) String() string {
	var b strings.Builder
	for i, rdn := range d.rdns {
		if i > 0 {
			b.WriteByte(',')
		}
		parts := make([]string, len(rdn))
		for j, a := range rdn {
			name, ok := dnNames[a.oid.String()]
			if !ok {
				name = a.oid.String()
			}
			parts[j] = name + "=" + escapeValue([]byte(a.valueNFC))
		}
		slices.Sort(parts)
		b.WriteString(strings.Join(parts, "+"))
	}
	return b.String()
}

// escapeValue writes raw as an RFC 4514 value.
func escapeValue(raw []byte) string {
	var b strings.Builder
	for i := 0; i < len(raw); {
		r, n := utf8.DecodeRune(raw[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\%02X", raw[i])
		case (i == 0 || i+n == len(raw)) && r == ' ':
			b.WriteString(`\20`)
		case strings.ContainsRune(`,+"\<>;=`, r), i == 0 && r == '#':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
		i += n
	}
	return b.String()
}
