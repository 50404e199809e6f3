package xsd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// kind is the JSON type of a decoded value.
type kind int

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	return [...]string{"null", "boolean", "number", "string", "array", "object"}[k]
}

// value is a JSON value whose object members keep the order of the source text, which a
// map would lose; the order of "properties" is the order of the XML elements.
type value struct {
	kind    kind
	bool    bool
	number  json.Number
	str     string
	items   []*value
	members []member
}

type member struct {
	key string
	val *value
}

// get returns the member named key, or nil.
func (v *value) get(key string) *value {
	for _, m := range v.members {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// maxDepth bounds the nesting of a schema document; real schemas are a few levels deep.
const maxDepth = 64

// decodeOrdered parses one JSON document, keeping member order and refusing duplicate keys
// and trailing data.
func decodeOrdered(data []byte) (*value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, "", 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("xsd: trailing data after the schema document")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, ptr string, depth int) (*value, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("xsd: schema nested deeper than %d levels at %s", maxDepth, fragment(ptr))
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("xsd: read schema at %s: %w", fragment(ptr), err)
	}
	switch t := tok.(type) {
	case nil:
		return &value{kind: kindNull}, nil
	case bool:
		return &value{kind: kindBool, bool: t}, nil
	case json.Number:
		return &value{kind: kindNumber, number: t}, nil
	case string:
		return &value{kind: kindString, str: t}, nil
	case json.Delim:
		switch t {
		case '[':
			v := &value{kind: kindArray}
			for i := 0; dec.More(); i++ {
				item, err := decodeValue(dec, fmt.Sprintf("%s/%d", ptr, i), depth+1)
				if err != nil {
					return nil, err
				}
				v.items = append(v.items, item)
			}
			_, err := dec.Token() // ']'
			return v, err
		case '{':
			v := &value{kind: kindObject}
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("xsd: read schema at %s: %w", fragment(ptr), err)
				}
				key := tok.(string) // the decoder guarantees a string key here
				if v.get(key) != nil {
					return nil, &Error{Pointer: ptr, Keyword: key, Reason: "duplicate key"}
				}
				val, err := decodeValue(dec, ptr+"/"+escapePointer(key), depth+1)
				if err != nil {
					return nil, err
				}
				v.members = append(v.members, member{key: key, val: val})
			}
			_, err := dec.Token() // '}'
			return v, err
		}
	}
	return nil, fmt.Errorf("xsd: unexpected token %v at %s", tok, fragment(ptr))
}

// escapePointer escapes one JSON Pointer reference token (RFC 6901).
func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// unescapePointer reverses escapePointer.
func unescapePointer(s string) string {
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
}

// fragment renders a JSON Pointer as a URI fragment ("#" for the document itself), the form
// a $ref uses, so that the root is not confused with the member named "".
func fragment(ptr string) string {
	return "#" + ptr
}
