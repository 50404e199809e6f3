// Package xmlsig owns inbound signed XML: parsing it safely (no DOCTYPE or
// entity declarations, bounded depth and element count, UTF-8 only) and
// verifying its enveloped XML-DSig signatures under the adapter's profile
// with goxmldsig, returning only the verified content.
package xmlsig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/beevik/etree"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/text"
)

// Limits bound the structure of an inbound document before it is parsed.
type Limits struct {
	MaxDepth    int // element nesting; zero means 32
	MaxElements int // element count; zero means 200,000
	// MaxNamespaceDecls bounds xmlns declarations in the whole document:
	// each one is copied for every element canonicalization visits, so
	// many of them cost declarations × elements. Zero means 32.
	MaxNamespaceDecls int
	// MaxAttributes bounds the attributes of one element; zero means 16.
	MaxAttributes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = 32
	}
	if l.MaxElements <= 0 {
		l.MaxElements = 200_000
	}
	if l.MaxNamespaceDecls <= 0 {
		l.MaxNamespaceDecls = 32
	}
	if l.MaxAttributes <= 0 {
		l.MaxAttributes = 16
	}
	return l
}

// Parse checks body with a byte scanner (DOCTYPE and entity declarations,
// depth, element count) and only then builds the tree: buildTree for plain
// XML, else etree (the same tree either way).
//
// A UTF-8 byte-order mark before the document (what .NET tools write by
// default) is accepted and skipped; bytes that are not UTF-8 are refused
// with their offset. Only the parse starts after the mark: the signatures
// are over the canonical form of the elements, which it is not part of.
func Parse(body []byte, lim Limits) (*etree.Document, error) {
	lim = lim.withDefaults()
	body, _ = text.SkipBOM(body)
	if off, ok := text.InvalidUTF8(body); !ok {
		return nil, problem.New(problem.MalformedBody, fmt.Sprintf(
			"The body is not valid UTF-8: byte offset %d (after any byte-order mark). Send the XML document in UTF-8.", off)).
			VI(fmt.Sprintf("Nội dung gửi lên không phải UTF-8 hợp lệ tại byte thứ %d (sau dấu BOM nếu có). Hãy gửi tài liệu XML mã hóa UTF-8.", off))
	}
	if err := scan(body, lim); err != nil {
		return nil, err
	}
	doc, ok := buildTree(body)
	if !ok {
		var err error
		if doc, err = parseEtree(body, lim); err != nil {
			return nil, err
		}
	}
	if doc.Root() == nil {
		return nil, problem.New(problem.MalformedBody, "The body holds no root element.")
	}
	for _, tok := range doc.Child {
		switch t := tok.(type) {
		case *etree.Element:
			if t != doc.Root() {
				return nil, problem.New(problem.MalformedBody, "The body holds more than one root element.")
			}
		case *etree.CharData:
			if strings.TrimSpace(t.Data) != "" {
				return nil, problem.New(problem.MalformedBody, "The body holds text outside the root element.")
			}
		}
	}
	return doc, nil
}

// parseEtree builds the tree with etree (encoding/xml underneath).
func parseEtree(body []byte, lim Limits) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{
		MaxDepth: lim.MaxDepth + 1,
		CharsetReader: func(charset string, in io.Reader) (io.Reader, error) {
			if strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "utf8") {
				return in, nil
			}
			return nil, fmt.Errorf("encoding %q not accepted, send UTF-8", charset)
		},
	}
	if err := doc.ReadFromBytes(body); err != nil {
		return nil, problem.Wrap(problem.MalformedBody, err, "The body is not well-formed UTF-8 XML.")
	}
	return doc, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

var (
	xmlnsPrefix = []byte("xmlns")
	commentOpen = []byte("<!--")
	cdataOpen   = []byte("<![CDATA[")
)

// scan walks the markup once without allocating. It does not prove the
// document well-formed (etree does that next); it proves the limits hold and
// that no declaration other than comments and CDATA sections is present.
func scan(b []byte, lim Limits) error {
	depth, count, decls := 0, 0, 0
	for i := 0; i < len(b); i++ {
		if b[i] != '<' {
			continue
		}
		if i+1 >= len(b) {
			break
		}
		switch b[i+1] {
		case '/':
			depth--
			j := bytes.IndexByte(b[i:], '>')
			if j < 0 {
				return nil // unterminated: etree reports it
			}
			i += j
		case '?':
			// only the XML declaration, and only at the very start
			if i != 0 || !bytes.HasPrefix(b, []byte("<?xml ")) {
				return problem.New(problem.MalformedBody, "Processing instructions are not accepted.")
			}
			j := bytes.Index(b[i:], []byte("?>"))
			if j < 0 {
				return nil
			}
			i += j + 1
		case '!':
			rest := b[i:]
			switch {
			case bytes.HasPrefix(rest, commentOpen):
				j := bytes.Index(rest[len(commentOpen):], []byte("-->"))
				if j < 0 {
					return nil
				}
				i += len(commentOpen) + j + 2
			case bytes.HasPrefix(rest, cdataOpen):
				j := bytes.Index(rest[len(cdataOpen):], []byte("]]>"))
				if j < 0 {
					return nil
				}
				i += len(cdataOpen) + j + 2
			default:
				return problem.Wrap(problem.DoctypeForbidden, errors.New("markup declaration found"), "")
			}
		default:
			count++
			depth++
			if count > lim.MaxElements {
				return problem.New(problem.LimitExceeded, fmt.Sprintf("The document has more than %d elements.", lim.MaxElements))
			}
			if depth > lim.MaxDepth {
				return problem.New(problem.LimitExceeded, fmt.Sprintf("The document nests elements deeper than %d.", lim.MaxDepth))
			}
			// find the end of the tag, skipping quoted attribute values,
			// counting attributes and namespace declarations
			var quote byte
			attrs := 0
			j := i + 1
			for ; j < len(b); j++ {
				c := b[j]
				if quote != 0 {
					if c == quote {
						quote = 0
					}
					continue
				}
				switch c {
				case '"', '\'':
					quote = c
				case '=':
					attrs++
				case 'x':
					// after white space or, with none between,
					// after the closing quote of the attribute
					// before it (which encoding/xml accepts)
					if p := b[j-1]; (isSpace(p) || p == '"' || p == '\'') && bytes.HasPrefix(b[j:], xmlnsPrefix) {
						decls++
					}
				}
				if c == '>' {
					break
				}
			}
			if attrs > lim.MaxAttributes {
				return problem.New(problem.LimitExceeded, fmt.Sprintf("An element has more than %d attributes.", lim.MaxAttributes))
			}
			if decls > lim.MaxNamespaceDecls {
				return problem.New(problem.LimitExceeded, fmt.Sprintf("The document declares more than %d namespaces.", lim.MaxNamespaceDecls))
			}
			if j >= len(b) {
				return nil
			}
			if b[j-1] == '/' {
				depth--
			}
			i = j
		}
	}
	return nil
}
