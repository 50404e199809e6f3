package schema

import (
	"errors"
	"fmt"

	"github.com/kbnn/dvc/adapter/jsondec"
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
	v, err := jsondec.Decode(body, MaxJSONDepth)
	if errors.Is(err, jsondec.ErrTrailing) {
		return nil, problem.New(problem.MalformedBody, "The body has data after its JSON value.")
	}
	if errors.Is(err, jsondec.ErrTooDeep) {
		return nil, problem.New(problem.LimitExceeded, fmt.Sprintf("The JSON body nests arrays and objects deeper than %d.", MaxJSONDepth))
	}
	if err != nil {
		return nil, problem.Wrap(problem.MalformedBody, err, "The body is not a single well-formed JSON value: "+err.Error())
	}
	return v, nil
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
