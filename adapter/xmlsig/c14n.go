package xmlsig

import (
	"errors"
	"hash"
	"sort"
	"unicode/utf8"

	"github.com/beevik/etree"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// Streaming canonicalization for the fast verifier. It writes, byte for
// byte, what goxmldsig v1.6.1 produces (canonicalize.go: canonicalPrep for
// C14N 1.0, etreeutils.TransformExcC14n for exclusive C14N, then etree's
// canonical serialization), but over the parsed tree as it stands: no copy,
// no attribute slice rebuilt per element, the bytes going to the hashes as
// they are made. FuzzCanonicalMatchesReference holds it to goxmldsig's
// output.

const (
	nsXML   = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS = "http://www.w3.org/2000/xmlns/"
)

var (
	errReservedNamespace = errors.New("disallowed declaration of reserved namespace")
	errUndeclaredPrefix  = errors.New("undeclared namespace prefix")
)

// binding is one namespace prefix bound to a URI ("" is the default
// namespace).
type binding struct {
	prefix, uri string
}

// bindings is a scope stack: lookups search from the top.
type bindings []binding

func (b bindings) lookup(prefix string) (string, bool) {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i].prefix == prefix {
			return b[i].uri, true
		}
	}
	return "", false
}

// defaultScope is etreeutils.NewDefaultNSContext's prefix map.
func defaultScope(b bindings) bindings {
	return append(b[:0], binding{"", nsXML}, binding{"xml", nsXML}, binding{"xmlns", nsXMLNS})
}

// declare pushes el's namespace declarations onto b, refusing what
// etreeutils.NSContext.SubContext refuses.
func declare(b bindings, el *etree.Element) (bindings, error) {
	for _, a := range el.Attr {
		switch {
		case a.Space == "xmlns":
			if (a.Key == "xml" && a.Value != nsXML) || a.Key == "xmlns" {
				return b, errReservedNamespace
			}
			b = append(b, binding{a.Key, a.Value})
		case a.Space == "" && a.Key == "xmlns":
			if a.Value == nsXMLNS {
				return b, errReservedNamespace
			}
			b = append(b, binding{"", a.Value})
		}
	}
	return b, nil
}

func isNSDecl(a *etree.Attr) bool {
	return a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns")
}

// sink buffers canonical bytes and feeds them to the hashes whose bit is
// set in mask (one hash per signature being checked).
type sink struct {
	buf    []byte
	hashes []hash.Hash
	mask   uint
}

const sinkFlush = 32 << 10

func (s *sink) flush() {
	if len(s.buf) == 0 || len(s.hashes) == 0 {
		return
	}
	for i, h := range s.hashes {
		if s.mask&(1<<i) != 0 {
			h.Write(s.buf)
		}
	}
	s.buf = s.buf[:0]
}

func (s *sink) setMask(m uint) {
	if m != s.mask {
		s.flush()
		s.mask = m
	}
}

func (s *sink) str(v string) {
	s.buf = append(s.buf, v...)
	if len(s.buf) >= sinkFlush {
		s.flush()
	}
}

func (s *sink) byte(c byte) { s.buf = append(s.buf, c) }

func (s *sink) name(space, local string) {
	if space != "" {
		s.buf = append(s.buf, space...)
		s.buf = append(s.buf, ':')
	}
	s.buf = append(s.buf, local...)
}

// escape mirrors etree's escapeString in its canonical text and canonical
// attribute modes (helpers.go).
func (s *sink) escape(v string, attr bool) {
	last := 0
	for i := 0; i < len(v); {
		c := v[i]
		var esc string
		width := 1
		if c < utf8.RuneSelf {
			switch c {
			case '&':
				esc = "&amp;"
			case '<':
				esc = "&lt;"
			case '>':
				if attr {
					i++
					continue
				}
				esc = "&gt;"
			case '"':
				if !attr {
					i++
					continue
				}
				esc = "&quot;"
			case '\t':
				if !attr {
					i++
					continue
				}
				esc = "&#x9;"
			case '\n':
				if !attr {
					i++
					continue
				}
				esc = "&#xA;"
			case '\r':
				esc = "&#xD;"
			default:
				if c < 0x20 {
					esc = "\uFFFD"
				} else {
					i++
					continue
				}
			}
		} else {
			r, w := utf8.DecodeRuneInString(v[i:])
			width = w
			if inCharRange(r) && (r != utf8.RuneError || w != 1) {
				i += w
				continue
			}
			esc = "\uFFFD"
		}
		s.buf = append(s.buf, v[last:i]...)
		s.buf = append(s.buf, esc...)
		i += width
		last = i
	}
	s.buf = append(s.buf, v[last:]...)
	if len(s.buf) >= sinkFlush {
		s.flush()
	}
}

// inCharRange is etree's isInCharacterRange.
func inCharRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func (s *sink) attr(a *etree.Attr) {
	s.byte(' ')
	s.name(a.Space, a.Key)
	s.buf = append(s.buf, '=', '"')
	s.escape(a.Value, true)
	s.byte('"')
}

// writeLeaf writes a non-element token the way etree's canonical
// serialization does.
func (s *sink) writeLeaf(tok etree.Token, comments bool) {
	switch t := tok.(type) {
	case *etree.CharData:
		if t.IsCData() {
			s.str("<![CDATA[")
			d := t.Data
			for {
				i := indexOf(d, "]]>")
				if i < 0 {
					break
				}
				s.str(d[:i+2])
				s.str("]]><![CDATA[")
				d = d[i+2:]
			}
			s.str(d)
			s.str("]]>")
			return
		}
		s.escape(t.Data, false)
	case *etree.Comment:
		if !comments {
			return
		}
		s.str("<!--")
		d := t.Data
		last, hyphen := 0, false
		for i := 0; i < len(d); i++ {
			if d[i] != '-' {
				hyphen = false
				continue
			}
			if hyphen {
				s.str(d[last:i])
				s.byte(' ')
				last = i
			}
			hyphen = true
		}
		s.str(d[last:])
		if len(d) > 0 && d[len(d)-1] == '-' {
			s.byte(' ')
		}
		s.str("-->")
	case *etree.ProcInst, *etree.Directive:
		// Parse refuses both inside the root; written by etree for
		// completeness of the equivalence.
		s.flush()
		t.WriteTo(tokenWriter{s}, &canonicalSettings)
	}
}

var canonicalSettings = etree.WriteSettings{CanonicalAttrVal: true, CanonicalEndTags: true, CanonicalText: true}

type tokenWriter struct{ s *sink }

func (w tokenWriter) Write(p []byte) (int, error) {
	w.s.buf = append(w.s.buf, p...)
	return len(p), nil
}
func (w tokenWriter) WriteString(v string) (int, error) {
	w.s.buf = append(w.s.buf, v...)
	return len(v), nil
}
func (w tokenWriter) WriteByte(c byte) error { w.s.buf = append(w.s.buf, c); return nil }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// skipped is a child of the apex (an enveloped signature) and the hashes
// it is removed from: while inside it, those hashes get nothing.
type skipped struct {
	el   *etree.Element
	mask uint
}

// c14n canonicalizes one subtree into a sink.
type c14n struct {
	s         *sink
	exclusive bool
	comments  bool
	apex      *etree.Element
	skip      []skipped
	full      uint // mask of every hash
	attrs     []etree.Attr
	seen      bindings // inclusive: declarations rendered so far
	scope     bindings // exclusive: namespaces in scope in the input
	declared  bindings // exclusive: namespaces declared in the output
	used      []string
}

// run canonicalizes el as the apex of the output (no parent context).
func (c *c14n) run(el *etree.Element) error {
	c.reset()
	if c.exclusive {
		return c.exc(el)
	}
	return c.inc(el, nil)
}

// reset empties the namespace context: an apex without ancestors.
func (c *c14n) reset() {
	c.seen = c.seen[:0]
	c.scope = defaultScope(c.scope)
	c.declared = defaultScope(c.declared)
	c.s.setMask(c.full)
}

// sortAttrs sorts with goxmldsig's comparison (etreeutils.SortedAttrs), so
// that equal-comparing attributes land where goxmldsig puts them.
func sortAttrs(a []etree.Attr) {
	if len(a) > 1 {
		sort.Sort(etreeutils.SortedAttrs(a))
	}
}

// inc is canonicalPrepInner + serialization. top, when not nil, replaces
// el's namespace declarations (a detached SignedInfo: every namespace in
// scope declared on it, as etreeutils.NSDetatch does).
func (c *c14n) inc(el *etree.Element, top []etree.Attr) error {
	mark := len(c.seen)
	start := len(c.attrs)
	if top != nil {
		c.attrs = append(c.attrs, top...)
	} else {
		c.attrs = append(c.attrs, el.Attr...)
	}
	attrs := c.attrs[start:]
	sortAttrs(attrs)
	c.s.byte('<')
	c.s.name(el.Space, el.Tag)
	for i := range attrs {
		a := &attrs[i]
		switch {
		case a.Space == "xmlns":
			if uri, ok := c.seen.lookup(a.Key); ok && uri == a.Value {
				continue
			}
			c.seen = append(c.seen, binding{a.Key, a.Value})
		case a.Space == "" && a.Key == "xmlns":
			uri, ok := c.seen.lookup("")
			// goxmldsig keeps it when (!seen && value != "") || value != seen
			if (ok || a.Value == "") && a.Value == uri {
				continue
			}
			c.seen = append(c.seen, binding{"", a.Value})
		}
		c.s.attr(a)
	}
	c.attrs = c.attrs[:start]
	// The default namespace and prefixed ones share the stack: a prefix
	// named "" cannot be declared, so lookups do not collide.
	if err := c.children(el, func(ch *etree.Element) error { return c.inc(ch, nil) }); err != nil {
		return err
	}
	c.seen = c.seen[:mark]
	return nil
}

// exc is etreeutils.transformExcC14n + serialization.
func (c *c14n) exc(el *etree.Element) error {
	scopeMark, declMark, usedMark := len(c.scope), len(c.declared), len(c.used)
	var err error
	if c.scope, err = declare(c.scope, el); err != nil {
		return err
	}
	c.used = append(c.used, el.Space)
	start := len(c.attrs)
	for i := range el.Attr {
		a := &el.Attr[i]
		if isNSDecl(a) {
			continue
		}
		if a.Space != "" && !contains(c.used[usedMark:], a.Space) {
			c.used = append(c.used, a.Space)
		}
		c.attrs = append(c.attrs, *a)
	}
	for _, p := range c.used[usedMark:] {
		uri, inScope := c.scope.lookup(p)
		if d, ok := c.declared.lookup(p); ok && inScope && d == uri {
			continue
		}
		if !inScope {
			return errUndeclaredPrefix
		}
		c.declared = append(c.declared, binding{p, uri})
		if p == "" {
			c.attrs = append(c.attrs, etree.Attr{Key: "xmlns", Value: uri})
		} else {
			c.attrs = append(c.attrs, etree.Attr{Space: "xmlns", Key: p, Value: uri})
		}
	}
	c.used = c.used[:usedMark]
	attrs := c.attrs[start:]
	sortAttrs(attrs)
	c.s.byte('<')
	c.s.name(el.Space, el.Tag)
	for i := range attrs {
		c.s.attr(&attrs[i])
	}
	c.attrs = c.attrs[:start]
	if err := c.children(el, c.exc); err != nil {
		return err
	}
	c.scope, c.declared = c.scope[:scopeMark], c.declared[:declMark]
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// children writes the rest of the start tag, el's content and its end tag.
// etree writes an element whose children were all dropped (comments
// removed) as `<a></a>` either way, so emptiness needs no special case.
func (c *c14n) children(el *etree.Element, elem func(*etree.Element) error) error {
	c.s.byte('>')
	for _, tok := range el.Child {
		ch, ok := tok.(*etree.Element)
		if !ok {
			c.s.writeLeaf(tok, c.comments)
			continue
		}
		if el == c.apex {
			if m := c.skipMask(ch); m != 0 {
				prev := c.s.mask
				c.s.setMask(prev &^ m)
				if c.s.mask != 0 {
					if err := elem(ch); err != nil {
						return err
					}
				}
				c.s.setMask(prev)
				continue
			}
		}
		if err := elem(ch); err != nil {
			return err
		}
	}
	c.s.buf = append(c.s.buf, '<', '/')
	c.s.name(el.Space, el.Tag)
	c.s.byte('>')
	if len(c.s.buf) >= sinkFlush {
		c.s.flush()
	}
	return nil
}

func (c *c14n) skipMask(el *etree.Element) uint {
	for _, k := range c.skip {
		if k.el == el {
			return k.mask
		}
	}
	return 0
}
