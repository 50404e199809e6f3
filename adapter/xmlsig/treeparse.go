package xmlsig

import (
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// buildTree builds, for the plain XML that dossiers are, exactly the tree
// etree's ReadFrom builds (same elements, attributes, text, comments and
// whitespace flags, parents and indexes set through etree's own API), from
// a handful of slab allocations instead of several allocations per token
// of encoding/xml. It reports false, and the caller parses with etree,
// as soon as the input leaves that plain subset: any DOCTYPE, CDATA
// section, processing instruction other than the usual XML declaration,
// character reference, carriage return, control character, name outside
// ASCII, attribute repeated or not separated by a space, "]]>" in text.
// FuzzTreeMatchesEtree holds the two parsers to the same trees.
func buildTree(body []byte) (*etree.Document, bool) {
	p := treeBuilder{src: string(body)}
	p.firstSlabs()
	return p.document()
}

// xmlDecls are the declarations taken as they are, and the instruction
// text etree keeps for each.
var xmlDecls = map[string]string{
	`<?xml version="1.0" encoding="UTF-8"?>`: `version="1.0" encoding="UTF-8"`,
	`<?xml version="1.0" encoding="utf-8"?>`: `version="1.0" encoding="utf-8"`,
	`<?xml version="1.0"?>`:                  `version="1.0"`,
}

const slabSize = 256

type treeBuilder struct {
	src    string
	i      int
	elems  []etree.Element
	texts  []etree.CharData
	tokens []etree.Token
	attrs  []etree.Attr
	stack  []etree.Token // children of the open elements, in order
	// first are the sizes of the first slab of each kind (elements, texts,
	// tokens, attributes); zero once it is made.
	first [4]int
}

// firstSlabs sizes the first slab of each kind to what the document can
// hold, never above the usual slab: a dossier of a hundred elements and
// a dozen attributes does not zero and sweep room for 256 of each. Each
// element takes at least one '<' (most take two), a text lies between
// two of them, and an attribute takes an '='. The slabs are made when
// first needed, so input that leaves the plain subset early makes none.
func (p *treeBuilder) firstSlabs() {
	lt := strings.Count(p.src, "<")
	p.first = [4]int{min(lt/2+lt/16+8, slabSize), min(lt+1, slabSize), min(lt+lt/2+8, slabSize*4),
		min(strings.Count(p.src, "=")+1, slabSize)}
}

// slab is the size of the next slab of kind k, at least n.
func (p *treeBuilder) slab(k, usual, n int) int {
	size := usual
	if p.first[k] > 0 {
		size, p.first[k] = p.first[k], 0
	}
	return max(size, n)
}

func (p *treeBuilder) element() *etree.Element {
	if len(p.elems) == 0 {
		p.elems = make([]etree.Element, p.slab(0, slabSize, 1))
	}
	e := &p.elems[0]
	p.elems = p.elems[1:]
	return e
}

func (p *treeBuilder) text(s string) *etree.CharData {
	if len(p.texts) == 0 {
		p.texts = make([]etree.CharData, p.slab(1, slabSize, 1))
	}
	c := &p.texts[0]
	p.texts = p.texts[1:]
	c.SetData(s)
	return c
}

// tokenSlice returns an empty slice with room for n tokens.
func (p *treeBuilder) tokenSlice(n int) []etree.Token {
	if n > slabSize {
		return make([]etree.Token, 0, n)
	}
	if len(p.tokens) < n {
		p.tokens = make([]etree.Token, p.slab(2, slabSize*4, n))
	}
	s := p.tokens[:0:n]
	p.tokens = p.tokens[n:]
	return s
}

func (p *treeBuilder) attrSlice(n int) []etree.Attr {
	if n > slabSize {
		return make([]etree.Attr, 0, n)
	}
	if len(p.attrs) < n {
		p.attrs = make([]etree.Attr, p.slab(3, slabSize, n))
	}
	s := p.attrs[:0:n]
	p.attrs = p.attrs[n:]
	return s
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isNameChar(c byte) bool {
	return isNameStart(c) || c >= '0' && c <= '9' || c == '.' || c == '-'
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// name reads an ASCII name with at most one colon between two non-empty
// parts; the whole name is a substring of the input.
func (p *treeBuilder) name() (full, space, local string, ok bool) {
	start, colon := p.i, -1
	if p.i >= len(p.src) || !isNameStart(p.src[p.i]) {
		return "", "", "", false
	}
	p.i++
	for p.i < len(p.src) {
		c := p.src[p.i]
		if c == ':' {
			if colon >= 0 || p.i+1 >= len(p.src) || !isNameStart(p.src[p.i+1]) {
				return "", "", "", false
			}
			colon = p.i
		} else if !isNameChar(c) {
			break
		}
		p.i++
	}
	full = p.src[start:p.i]
	if colon < 0 {
		return full, "", full, true
	}
	return full, p.src[start:colon], p.src[colon+1 : p.i], true
}

func (p *treeBuilder) spaces() {
	for p.i < len(p.src) && isWS(p.src[p.i]) {
		p.i++
	}
}

// plain checks text (or an attribute value when attr) for what encoding/xml
// would refuse or change, and decodes the five predefined entities.
func plain(s string, attr bool) (string, bool) {
	amp := false
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '&':
				amp = true
			case c == '<' || c == '\r':
				return "", false
			case c < 0x20 && (attr || (c != '\t' && c != '\n')):
				return "", false
			case c == '>' && !attr && i >= 2 && s[i-1] == ']' && s[i-2] == ']':
				return "", false
			}
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if !inCharRange(r) || r == utf8.RuneError && w == 1 {
			return "", false
		}
		i += w
	}
	if !amp {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		j := strings.IndexByte(s, '&')
		if j < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		b.WriteString(s[:j])
		s = s[j:]
		k := strings.IndexByte(s, ';')
		if k < 0 {
			return "", false
		}
		switch s[:k+1] {
		case "&amp;":
			b.WriteByte('&')
		case "&lt;":
			b.WriteByte('<')
		case "&gt;":
			b.WriteByte('>')
		case "&apos;":
			b.WriteByte('\'')
		case "&quot;":
			b.WriteByte('"')
		default:
			return "", false
		}
		s = s[k+1:]
	}
}

func (p *treeBuilder) document() (*etree.Document, bool) {
	doc := etree.NewDocument()
	if strings.HasPrefix(p.src, "<?") {
		end := strings.Index(p.src, "?>")
		if end < 0 {
			return nil, false
		}
		inst, ok := xmlDecls[p.src[:end+2]]
		if !ok {
			return nil, false
		}
		doc.AddChild(etree.NewProcInst("xml", inst))
		p.i = end + 2
	}
	var root *etree.Element
	for p.i < len(p.src) {
		if p.src[p.i] != '<' {
			j := strings.IndexByte(p.src[p.i:], '<')
			if j < 0 {
				j = len(p.src) - p.i
			}
			s := p.src[p.i : p.i+j]
			for k := 0; k < len(s); k++ {
				if !isWS(s[k]) {
					return nil, false
				}
			}
			doc.AddChild(p.text(s))
			p.i += j
			continue
		}
		if strings.HasPrefix(p.src[p.i:], "<!--") {
			c, ok := p.comment()
			if !ok {
				return nil, false
			}
			doc.AddChild(c)
			continue
		}
		if root != nil {
			return nil, false
		}
		var ok bool
		if root, ok = p.tree(); !ok {
			return nil, false
		}
		doc.AddChild(root)
	}
	if root == nil {
		return nil, false
	}
	return doc, true
}

func (p *treeBuilder) comment() (*etree.Comment, bool) {
	start := p.i + len("<!--")
	end := strings.Index(p.src[start:], "-->")
	if end < 0 {
		return nil, false
	}
	data := p.src[start : start+end]
	if strings.Contains(data, "--") || strings.HasSuffix(data, "-") {
		return nil, false
	}
	if _, ok := plain(strings.ReplaceAll(data, "<", ""), false); !ok || strings.ContainsRune(data, '&') {
		return nil, false
	}
	p.i = start + end + 3
	return etree.NewComment(data), true
}

// tree reads one element and its content, without recursion.
func (p *treeBuilder) tree() (*etree.Element, bool) {
	type open struct {
		el         *etree.Element
		full       string
		firstChild int // index into p.stack
	}
	var opens []open
	var root *etree.Element
	for {
		if p.i >= len(p.src) {
			return nil, false
		}
		if p.src[p.i] != '<' {
			j := strings.IndexByte(p.src[p.i:], '<')
			if j < 0 || len(opens) == 0 {
				return nil, false
			}
			s, ok := plain(p.src[p.i:p.i+j], false)
			if !ok {
				return nil, false
			}
			p.stack = append(p.stack, p.text(s))
			p.i += j
			continue
		}
		rest := p.src[p.i:]
		switch {
		case strings.HasPrefix(rest, "</"):
			p.i += 2
			full, _, _, ok := p.name()
			if !ok || len(opens) == 0 || full != opens[len(opens)-1].full {
				return nil, false
			}
			p.spaces()
			if p.i >= len(p.src) || p.src[p.i] != '>' {
				return nil, false
			}
			p.i++
			o := opens[len(opens)-1]
			opens = opens[:len(opens)-1]
			p.close(o.el, o.firstChild)
			if len(opens) == 0 {
				return root, true
			}
		case strings.HasPrefix(rest, "<!--"):
			if len(opens) == 0 {
				return nil, false
			}
			c, ok := p.comment()
			if !ok {
				return nil, false
			}
			p.stack = append(p.stack, c)
		case strings.HasPrefix(rest, "<!") || strings.HasPrefix(rest, "<?"):
			return nil, false
		default:
			p.i++
			el, full, empty, ok := p.startTag()
			if !ok {
				return nil, false
			}
			if root == nil {
				root = el
			} else {
				if len(opens) == 0 {
					return nil, false
				}
				p.stack = append(p.stack, el)
			}
			if empty {
				if len(opens) == 0 {
					return root, true
				}
				continue
			}
			opens = append(opens, open{el: el, full: full, firstChild: len(p.stack)})
		}
	}
}

// close gives el its children, collected on the stack since firstChild.
func (p *treeBuilder) close(el *etree.Element, firstChild int) {
	kids := p.stack[firstChild:]
	if len(kids) > 0 {
		el.Child = p.tokenSlice(len(kids))
		for _, k := range kids {
			el.AddChild(k)
		}
	}
	clear(kids)
	p.stack = p.stack[:firstChild]
}

// startTag reads the rest of a start tag after '<'.
func (p *treeBuilder) startTag() (el *etree.Element, full string, empty, ok bool) {
	full, space, local, ok := p.name()
	if !ok {
		return nil, "", false, false
	}
	el = p.element()
	el.Space, el.Tag = space, local
	type attr struct{ key, value string }
	var buf [16]attr
	attrs := buf[:0]
	for {
		sp := p.i
		p.spaces()
		if p.i >= len(p.src) {
			return nil, "", false, false
		}
		switch c := p.src[p.i]; {
		case c == '>':
			p.i++
		case c == '/' && strings.HasPrefix(p.src[p.i:], "/>"):
			p.i += 2
			empty = true
		default:
			if p.i == sp {
				return nil, "", false, false // attributes must be separated
			}
			key, _, _, ok := p.name()
			if !ok {
				return nil, "", false, false
			}
			p.spaces()
			if p.i >= len(p.src) || p.src[p.i] != '=' {
				return nil, "", false, false
			}
			p.i++
			p.spaces()
			if p.i >= len(p.src) || (p.src[p.i] != '"' && p.src[p.i] != '\'') {
				return nil, "", false, false
			}
			q := p.src[p.i]
			end := strings.IndexByte(p.src[p.i+1:], q)
			if end < 0 {
				return nil, "", false, false
			}
			v, ok := plain(p.src[p.i+1:p.i+1+end], true)
			if !ok {
				return nil, "", false, false
			}
			for _, a := range attrs {
				if a.key == key {
					return nil, "", false, false
				}
			}
			attrs = append(attrs, attr{key, v})
			p.i += end + 2
			continue
		}
		break
	}
	if len(attrs) > 0 {
		el.Attr = p.attrSlice(len(attrs))
		for _, a := range attrs {
			el.CreateAttr(a.key, a.value)
		}
	}
	return el, full, empty, true
}
