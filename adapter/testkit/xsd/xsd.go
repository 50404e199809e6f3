// Package xsd derives the published XSD of a signed document from its JSON Schema definition.
//
// schemas/<procedure>/dossier.schema.json is the one definition of a dossier; the XML form
// of the dossier is a HoSo root element (attribute Id) holding one element per property, in
// the order the properties appear in the schema, followed by the ds:Signature elements.
// Generate turns the definition into an XSD 1.0 document describing that XML form, so that
// portal developers can validate before sending. GenerateRoot does the same for another
// document with another root element (the withdrawal request,
// schemas/withdrawal/withdrawal.schema.json, root YeuCauRutHoSo). Only a subset of JSON Schema has an XSD
// equivalent (see Generate); anything else is refused with an *Error naming the keyword and
// where it is, so that a schema author learns it when generating, not in production.
package xsd

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Error is a part of a JSON Schema that cannot be expressed in XSD.
type Error struct {
	Pointer string // JSON Pointer of the schema object (RFC 6901, "" for the root)
	Keyword string // the offending keyword, "" when the object as a whole is at fault
	Reason  string
}

func (e *Error) Error() string {
	if e.Keyword == "" {
		return fmt.Sprintf("xsd: %s: %s", fragment(e.Pointer), e.Reason)
	}
	return fmt.Sprintf("xsd: keyword %q at %s: %s", e.Keyword, fragment(e.Pointer), e.Reason)
}

const (
	// RootElement is the name of the dossier's XML root element.
	RootElement = "HoSo"
	// IDAttribute is the root attribute that signature references point at.
	IDAttribute = "Id"
	// SignatureNamespace is the XML-DSig namespace of the signatures after the content.
	SignatureNamespace = "http://www.w3.org/2000/09/xmldsig#"

	xsNamespace = "http://www.w3.org/2001/XMLSchema"
	dialect     = "https://json-schema.org/draft/2020-12/schema"
	dossierFile = "dossier.schema.json"
)

// Generate returns the XSD of the dossier described by schemaJSON, a JSON Schema 2020-12
// document whose root is an object schema.
//
// The supported subset: $schema (2020-12 only), $id and $defs at the root; $ref to
// "#/$defs/<name>" (beside it only title, description, $comment); title and description
// (become xs:documentation); $comment (ignored); type, which must be one of
//
//   - object: properties, required, additionalProperties (must be false) → anonymous
//     complexType with a sequence in property order; a property not in required gets
//     minOccurs="0";
//   - array: items, minItems, maxItems → the item's element repeated (no wrapper),
//     minOccurs=minItems (0 when the property is optional) and maxOccurs=maxItems or
//     unbounded; arrays of arrays are refused;
//   - string: pattern (see translatePattern), minLength, maxLength, enum, const, format
//     (date → xs:date, date-time → xs:dateTime, both narrowed by a pattern to the RFC 3339
//     forms; not combined with pattern or lengths);
//   - integer: minimum, maximum, enum, const → an xs:long restriction.
//
// Every $defs entry is checked, used or not. The output is deterministic.
func Generate(schemaJSON []byte) ([]byte, error) {
	return GenerateRoot(schemaJSON, RootElement, dossierFile)
}

// GenerateRoot is Generate for a document whose XML root element is rootElement; source is
// the name of the definition's file, which the XSD's header comment names.
func GenerateRoot(schemaJSON []byte, rootElement, source string) ([]byte, error) {
	if rootElement == "" || source == "" {
		return nil, &Error{Reason: "a root element name and a source file name are required"}
	}
	root, err := decodeOrdered(schemaJSON)
	if err != nil {
		return nil, err
	}
	g := &generator{w: &xmlWriter{}}
	if err := g.readRoot(root); err != nil {
		return nil, err
	}
	n, stack, err := g.load(root, "", nil)
	if err != nil {
		return nil, err
	}
	if n.typ != "object" {
		return nil, &Error{Keyword: "type", Reason: "the root schema must be of type object"}
	}
	for _, name := range g.defNames {
		check := &generator{defs: g.defs, w: &xmlWriter{}}
		if err := check.element("x", g.defs[name], "/$defs/"+escapePointer(name), true, nil); err != nil {
			return nil, err
		}
	}

	w := g.w
	w.line(`<?xml version="1.0" encoding="UTF-8"?>`)
	w.line("<!-- Generated from " + source + " by `make schemas`; do not edit. -->")
	w.start("xs:schema", "xmlns:xs", xsNamespace, "elementFormDefault", "unqualified")
	w.start("xs:element", "name", rootElement)
	w.annotation(n.docs)
	w.start("xs:complexType")
	w.start("xs:sequence")
	if err := g.properties(n, stack); err != nil {
		return nil, err
	}
	w.empty("xs:any", "namespace", SignatureNamespace, "processContents", "skip",
		"minOccurs", "0", "maxOccurs", "unbounded")
	w.end("xs:sequence")
	w.empty("xs:attribute", "name", IDAttribute, "type", "xs:ID", "use", "required")
	w.end("xs:complexType")
	w.end("xs:element")
	w.end("xs:schema")
	return w.buf.Bytes(), nil
}

type generator struct {
	defs     map[string]*value
	defNames []string // in document order
	w        *xmlWriter
}

// readRoot checks the root-only keywords and collects $defs.
func (g *generator) readRoot(root *value) error {
	if root.kind != kindObject {
		return &Error{Reason: "the schema document must be a JSON object"}
	}
	if v := root.get("$schema"); v != nil && (v.kind != kindString || v.str != dialect) {
		return &Error{Keyword: "$schema", Reason: "only " + dialect + " is supported"}
	}
	if v := root.get("$id"); v != nil && v.kind != kindString {
		return &Error{Keyword: "$id", Reason: "must be a string"}
	}
	g.defs = map[string]*value{}
	defs := root.get("$defs")
	if defs == nil {
		return nil
	}
	if defs.kind != kindObject {
		return &Error{Keyword: "$defs", Reason: "must be an object"}
	}
	for _, m := range defs.members {
		g.defs[m.key] = m.val
		g.defNames = append(g.defNames, m.key)
	}
	return nil
}

// properties writes one element for each property of the object n.
func (g *generator) properties(n *node, stack []string) error {
	for _, p := range n.props {
		ptr := n.ptr + "/properties/" + escapePointer(p.key)
		if err := g.element(p.key, p.val, ptr, n.required[p.key], stack); err != nil {
			return err
		}
	}
	return nil
}

// element writes the xs:element of a property named name whose schema is v (at ptr).
func (g *generator) element(name string, v *value, ptr string, required bool, stack []string) error {
	n, stack, err := g.load(v, ptr, stack)
	if err != nil {
		return err
	}
	docs := n.docs
	minOccurs, maxOccurs := int64(1), int64(1)
	if !required {
		minOccurs = 0
	}
	if n.typ == "array" {
		if required {
			minOccurs = n.minItems
		}
		maxOccurs = n.maxItems
		item, itemStack, err := g.load(n.items, n.ptr+"/items", stack)
		if err != nil {
			return err
		}
		if item.typ == "array" {
			return &Error{Pointer: n.ptr + "/items", Keyword: "type",
				Reason: "an array of arrays has no XML form without wrapper elements"}
		}
		docs = append(docs, item.docs...)
		n, stack = item, itemStack
	}

	attrs := []string{"name", name}
	simple := n.typ != "object" && len(n.facets) == 0
	if simple {
		attrs = append(attrs, "type", n.base)
	}
	if minOccurs != 1 {
		attrs = append(attrs, "minOccurs", strconv.FormatInt(minOccurs, 10))
	}
	switch {
	case maxOccurs < 0:
		attrs = append(attrs, "maxOccurs", "unbounded")
	case maxOccurs != 1:
		attrs = append(attrs, "maxOccurs", strconv.FormatInt(maxOccurs, 10))
	}

	w := g.w
	if simple && len(docs) == 0 {
		w.empty("xs:element", attrs...)
		return nil
	}
	w.start("xs:element", attrs...)
	w.annotation(docs)
	switch {
	case simple:
	case n.typ == "object" && len(n.props) == 0:
		w.empty("xs:complexType")
	case n.typ == "object":
		w.start("xs:complexType")
		w.start("xs:sequence")
		if err := g.properties(n, stack); err != nil {
			return err
		}
		w.end("xs:sequence")
		w.end("xs:complexType")
	default:
		w.start("xs:simpleType")
		w.start("xs:restriction", "base", n.base)
		for _, f := range n.facets {
			w.empty("xs:"+f.name, "value", f.value)
		}
		w.end("xs:restriction")
		w.end("xs:simpleType")
	}
	w.end("xs:element")
	return nil
}

var (
	textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#xD;")
	attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;",
		"\t", "&#x9;", "\n", "&#xA;", "\r", "&#xD;")
)

// xmlWriter writes indented XML, one element tag per line.
type xmlWriter struct {
	buf   bytes.Buffer
	depth int
}

func (w *xmlWriter) line(s string) {
	for range w.depth {
		w.buf.WriteString("  ")
	}
	w.buf.WriteString(s)
	w.buf.WriteByte('\n')
}

// tag renders <name a="v" …> from name/value pairs.
func tag(name string, attrs []string, closing string) string {
	var b bytes.Buffer
	b.WriteString("<" + name)
	for i := 0; i+1 < len(attrs); i += 2 {
		b.WriteString(" " + attrs[i] + `="` + attrEscaper.Replace(attrs[i+1]) + `"`)
	}
	b.WriteString(closing)
	return b.String()
}

func (w *xmlWriter) start(name string, attrs ...string) {
	w.line(tag(name, attrs, ">"))
	w.depth++
}

func (w *xmlWriter) end(name string) {
	w.depth--
	w.line("</" + name + ">")
}

func (w *xmlWriter) empty(name string, attrs ...string) {
	w.line(tag(name, attrs, "/>"))
}

// annotation writes one xs:documentation per text, if any.
func (w *xmlWriter) annotation(docs []string) {
	if len(docs) == 0 {
		return
	}
	w.start("xs:annotation")
	for _, d := range docs {
		w.line("<xs:documentation>" + textEscaper.Replace(d) + "</xs:documentation>")
	}
	w.end("xs:annotation")
}
