package fixturegen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kbnn/dvc/adapter/rules"
)

// jsonNode is a JSON value that keeps object member order, so that edited
// fixtures read like their templates. Scalars keep their raw encoding.
type jsonNode struct {
	members []jsonMember // object
	items   []*jsonNode  // array
	isObj   bool
	isArr   bool
	raw     json.RawMessage // scalar
}

type jsonMember struct {
	key   string
	value *jsonNode
}

func parseJSON(data []byte) (*jsonNode, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := decodeNode(dec)
	if err != nil {
		return nil, fmt.Errorf("parse json: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("parse json: trailing data")
	}
	return n, nil
}

func decodeNode(dec *json.Decoder) (*jsonNode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &jsonNode{isObj: t == '{', isArr: t == '['}
		for dec.More() {
			if n.isObj {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeNode(dec)
				if err != nil {
					return nil, err
				}
				n.members = append(n.members, jsonMember{key: k.(string), value: v})
				continue
			}
			v, err := decodeNode(dec)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
		}
		if _, err := dec.Token(); err != nil { // closing delimiter
			return nil, err
		}
		return n, nil
	case json.Number:
		return &jsonNode{raw: json.RawMessage(t)}, nil
	default:
		raw, err := marshalScalar(t)
		return &jsonNode{raw: raw}, err
	}
}

func marshalScalar(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return json.RawMessage(bytes.TrimRight(b.Bytes(), "\n")), nil
}

// encode writes the node indented by two spaces, without a trailing newline.
func (n *jsonNode) encode() ([]byte, error) {
	var compact bytes.Buffer
	n.writeCompact(&compact)
	var out bytes.Buffer
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	return out.Bytes(), nil
}

func (n *jsonNode) writeCompact(b *bytes.Buffer) {
	switch {
	case n.isObj:
		b.WriteByte('{')
		for i, m := range n.members {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := marshalScalar(m.key)
			b.Write(k)
			b.WriteByte(':')
			m.value.writeCompact(b)
		}
		b.WriteByte('}')
	case n.isArr:
		b.WriteByte('[')
		for i, it := range n.items {
			if i > 0 {
				b.WriteByte(',')
			}
			it.writeCompact(b)
		}
		b.WriteByte(']')
	default:
		b.Write(n.raw)
	}
}

func (n *jsonNode) member(key string) *jsonNode {
	for _, m := range n.members {
		if m.key == key {
			return m.value
		}
	}
	return nil
}

// find follows path: objects by key, arrays by their first element.
func (n *jsonNode) find(path string) (*jsonNode, error) {
	cur := n
	for _, step := range splitPath(path) {
		for cur.isArr {
			if len(cur.items) == 0 {
				return nil, fmt.Errorf("json path %q: empty array before %q", path, step)
			}
			cur = cur.items[0]
		}
		next := cur.member(step)
		if !cur.isObj || next == nil {
			return nil, fmt.Errorf("json path %q: no member %q", path, step)
		}
		cur = next
	}
	return cur, nil
}

// setScalar sets the value at path from its text form, keeping the JSON type
// of the value it replaces when the text fits that type (numbers, booleans);
// otherwise it becomes a string.
func (n *jsonNode) setScalar(path, value string) error {
	target, err := n.find(path)
	if err != nil {
		return err
	}
	if target.isObj || target.isArr {
		return fmt.Errorf("json path %q: not a scalar", path)
	}
	raw, err := marshalScalar(value)
	if err != nil {
		return err
	}
	old := strings.TrimSpace(string(target.raw))
	switch {
	case isJSONNumber(old) && isJSONNumber(value):
		raw = json.RawMessage(value)
	case (old == "true" || old == "false") && (value == "true" || value == "false"):
		raw = json.RawMessage(value)
	}
	target.raw = raw
	return nil
}

func isJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false
	}
	var v json.Number
	return json.Unmarshal([]byte(s), &v) == nil
}

// replicateLines makes the array at path hold count copies of its first
// element, with the same soTien variation and tongSoTien sum as the XML form.
func (n *jsonNode) replicateLines(path string, count int) error {
	steps := splitPath(path)
	parent := n
	if len(steps) > 1 {
		var err error
		if parent, err = n.find(strings.Join(steps[:len(steps)-1], "/")); err != nil {
			return err
		}
		for parent.isArr && len(parent.items) > 0 {
			parent = parent.items[0]
		}
	}
	arr := parent.member(steps[len(steps)-1])
	if arr == nil || !arr.isArr || len(arr.items) == 0 {
		return fmt.Errorf("json path %q: not a non-empty array", path)
	}
	first := arr.items[0]
	var base int64
	amount := first.member(amountTag)
	if amount != nil {
		v, err := strconv.ParseInt(string(amount.raw), 10, 64)
		if err != nil {
			return fmt.Errorf("json path %q: %s is not an integer: %w", path, amountTag, err)
		}
		base = v
	}
	var total int64
	arr.items = arr.items[:0]
	for k := 0; k < count; k++ {
		line := first.clone()
		if amount != nil {
			a := base + int64(k%10)*1000
			line.member(amountTag).raw = json.RawMessage(strconv.FormatInt(a, 10))
			total += a
		}
		arr.items = append(arr.items, line)
	}
	if t := parent.member(totalTag); t != nil && amount != nil {
		t.raw = json.RawMessage(strconv.FormatInt(total, 10))
		if w := parent.member(wordsTag); w != nil {
			q, err := json.Marshal(rules.Words(total))
			if err != nil {
				return err
			}
			w.raw = q
		}
	}
	return nil
}

func (n *jsonNode) clone() *jsonNode {
	c := &jsonNode{isObj: n.isObj, isArr: n.isArr, raw: append(json.RawMessage(nil), n.raw...)}
	for _, m := range n.members {
		c.members = append(c.members, jsonMember{key: m.key, value: m.value.clone()})
	}
	for _, it := range n.items {
		c.items = append(c.items, it.clone())
	}
	return c
}
