package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/text"
)

// MaxJSONDepth bounds the nesting of a JSON body.
const MaxJSONDepth = 32

// DecodeJSON reads one JSON value: numbers stay json.Number, duplicate keys
// and trailing data are refused (a signer and the adapter must never read
// different values from the same signed bytes), nesting is bounded.
//
// The body must be UTF-8 (RFC 8259 §8.1): invalid bytes are refused with
// their offset instead of being read as U+FFFD, since a unit's software that
// sends another encoding would otherwise have its text silently altered. A
// UTF-8 byte-order mark before the value is accepted and skipped (the bytes a
// signature covers are never rewritten; only the reading starts after it).
func DecodeJSON(body []byte) (any, error) {
	body, _ = text.SkipBOM(body)
	if off, ok := text.InvalidUTF8(body); !ok {
		return nil, problem.New(problem.MalformedBody, fmt.Sprintf(
			"The body is not valid UTF-8: byte offset %d (after any byte-order mark). Send the JSON body in UTF-8.", off)).
			VI(fmt.Sprintf("Nội dung gửi lên không phải UTF-8 hợp lệ tại byte thứ %d (sau dấu BOM nếu có). Hãy gửi JSON mã hóa UTF-8.", off))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, problem.Wrap(problem.MalformedBody, err, "The body is not a single well-formed JSON value: "+err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, problem.New(problem.MalformedBody, "The body has data after its JSON value.")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > MaxJSONDepth {
		return nil, fmt.Errorf("nesting deeper than %d", MaxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				if _, dup := obj[k]; dup {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				obj[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return obj, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil
	}
}

// FromJSON decodes body and validates it against the definition.
func (d *Definition) FromJSON(body []byte) (any, error) {
	v, err := DecodeJSON(body)
	if err != nil {
		return nil, err
	}
	if err := d.Validate(v); err != nil {
		return nil, err
	}
	return v, nil
}
