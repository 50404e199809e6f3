package fixturegen

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/kbnn/dvc/adapter/rules"
)

// Edits of dossier XML for fixtures. Paths are slash-separated element names
// from the root; each step takes the first child of that name.

const (
	codeElement = "maHoSo"
	idPrefix    = "HS-"
	amountTag   = "soTien"
	totalTag    = "tongSoTien"
	wordsTag    = "soTienBangChu" // the total in words, rewritten with the total
	doctypeDecl = `<!DOCTYPE HoSo [<!ENTITY x "y">]>`
)

func parseXML(doc []byte) (*etree.Document, error) {
	tree := etree.NewDocument()
	if err := tree.ReadFromBytes(doc); err != nil {
		return nil, fmt.Errorf("parse xml: %w", err)
	}
	if tree.Root() == nil {
		return nil, errors.New("parse xml: no root element")
	}
	return tree, nil
}

// editXML parses doc, applies f to the root and writes the tree back without
// re-indenting.
func editXML(doc []byte, f func(root *etree.Element) error) ([]byte, error) {
	tree, err := parseXML(doc)
	if err != nil {
		return nil, err
	}
	if err := f(tree.Root()); err != nil {
		return nil, err
	}
	return tree.WriteToBytes()
}

func splitPath(path string) []string {
	return strings.Split(strings.Trim(path, "/"), "/")
}

func xmlFind(root *etree.Element, path string) (*etree.Element, error) {
	el := root
	for _, step := range splitPath(path) {
		next := el.SelectElement(step)
		if next == nil {
			return nil, fmt.Errorf("xml path %q: no element %q under <%s>", path, step, el.Tag)
		}
		el = next
	}
	return el, nil
}

func xmlSetPath(root *etree.Element, path, value string) error {
	el, err := xmlFind(root, path)
	if err != nil {
		return err
	}
	el.SetText(value)
	return nil
}

// xmlSetCode sets the dossier code and the root Id derived from it.
func xmlSetCode(root *etree.Element, code string) error {
	if err := xmlSetPath(root, codeElement, code); err != nil {
		return err
	}
	root.CreateAttr("Id", idPrefix+code)
	return nil
}

// xmlReplicateLines replaces the elements named by the last step of path
// (under the element the other steps name) by count copies of the first one.
// Copy k gets soTien + (k mod 10) × 1000 when it has a soTien child, and a
// tongSoTien sibling of the lines is set to their sum.
func xmlReplicateLines(root *etree.Element, path string, count int) error {
	steps := splitPath(path)
	parent := root
	if len(steps) > 1 {
		var err error
		if parent, err = xmlFind(root, strings.Join(steps[:len(steps)-1], "/")); err != nil {
			return err
		}
	}
	tag := steps[len(steps)-1]
	first := parent.SelectElement(tag)
	if first == nil {
		return fmt.Errorf("xml path %q: no element %q", path, tag)
	}
	indent := "\n"
	if i := first.Index(); i > 0 {
		if cd, ok := parent.Child[i-1].(*etree.CharData); ok && strings.TrimSpace(cd.Data) == "" {
			indent = cd.Data
		}
	}
	base, hasAmount, err := lineAmount(first)
	if err != nil {
		return fmt.Errorf("xml path %q: %w", path, err)
	}
	var total int64
	var children []etree.Token
	for i, tok := range parent.Child {
		el, isEl := tok.(*etree.Element)
		switch {
		case isEl && el == first:
			for k := 0; k < count; k++ {
				if k > 0 {
					children = append(children, etree.NewText(indent))
				}
				line := first.Copy()
				if hasAmount {
					amount := base + int64(k%10)*1000
					line.SelectElement(amountTag).SetText(strconv.FormatInt(amount, 10))
					total += amount
				}
				children = append(children, line)
			}
		case isEl && el.Tag == tag && el.Space == first.Space:
			// dropped, with the indentation before it
			if n := len(children); n > 0 && isBlankText(parent.Child[i-1]) {
				children = children[:n-1]
			}
		default:
			children = append(children, tok)
		}
	}
	for len(parent.Child) > 0 {
		parent.RemoveChildAt(len(parent.Child) - 1)
	}
	for _, c := range children {
		parent.AddChild(c)
	}
	if t := parent.SelectElement(totalTag); t != nil && hasAmount {
		t.SetText(strconv.FormatInt(total, 10))
		if w := parent.SelectElement(wordsTag); w != nil {
			w.SetText(rules.Words(total))
		}
	}
	return nil
}

func lineAmount(line *etree.Element) (int64, bool, error) {
	el := line.SelectElement(amountTag)
	if el == nil {
		return 0, false, nil
	}
	v, err := strconv.ParseInt(strings.TrimSpace(el.Text()), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s is not an integer: %w", amountTag, err)
	}
	return v, true, nil
}

func isBlankText(t etree.Token) bool {
	cd, ok := t.(*etree.CharData)
	return ok && strings.TrimSpace(cd.Data) == ""
}

func lastSignature(root *etree.Element) (*etree.Element, error) {
	var last *etree.Element
	for _, c := range root.ChildElements() {
		if c.Tag == "Signature" {
			last = c
		}
	}
	if last == nil {
		return nil, errors.New("no ds:Signature under the root")
	}
	return last, nil
}

// wrapSignature builds a signature-wrapping attack: the signed root's content
// (with the signatures the last one covers) goes into a ds:Object inside the
// last ds:Signature, and the root itself keeps the same Id but carries the
// forged value at tamperPath.
func wrapSignature(signed []byte, tamperPath, value string) ([]byte, error) {
	return editXML(signed, func(root *etree.Element) error {
		last, err := lastSignature(root)
		if err != nil {
			return err
		}
		original := root.Copy()
		if l, _ := lastSignature(original); l != nil {
			original.RemoveChild(l)
		}
		if err := xmlSetPath(root, tamperPath, value); err != nil {
			return err
		}
		obj := last.CreateElement(qualified(last, "Object"))
		obj.AddChild(original)
		return nil
	})
}

// addUnsignedNode appends <ds:Object><soTien>1</soTien></ds:Object> to the
// last ds:Signature: a node no signature covers.
func addUnsignedNode(signed []byte) ([]byte, error) {
	return editXML(signed, func(root *etree.Element) error {
		last, err := lastSignature(root)
		if err != nil {
			return err
		}
		last.CreateElement(qualified(last, "Object")).CreateElement(amountTag).SetText("1")
		return nil
	})
}

// qualified names a child of el in el's namespace prefix.
func qualified(el *etree.Element, tag string) string {
	if el.Space == "" {
		return tag
	}
	return el.Space + ":" + tag
}

// insertDoctype puts an internal DTD subset with an entity declaration right
// after the XML declaration (or at the start when there is none).
func insertDoctype(doc []byte) []byte {
	at := 0
	if bytes.HasPrefix(doc, []byte("<?xml")) {
		if end := bytes.Index(doc, []byte("?>")); end >= 0 {
			at = end + 2
		}
	}
	out := make([]byte, 0, len(doc)+len(doctypeDecl)+1)
	out = append(out, doc[:at]...)
	if at > 0 {
		out = append(out, '\n')
	}
	out = append(out, doctypeDecl...)
	if at == 0 {
		out = append(out, '\n')
	}
	return append(out, doc[at:]...)
}

// truncateMiddle cuts doc in half, on a UTF-8 boundary.
func truncateMiddle(doc []byte) []byte {
	n := len(doc) / 2
	for n > 0 && !utf8.RuneStart(doc[n]) {
		n--
	}
	return append([]byte{}, doc[:n]...)
}
