package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// kind is the JSON type of a value going into or out of a transform.
type kind uint8

const (
	kindAny kind = iota // any single value (string, integer or boolean)
	kindString
	kindInteger
	kindBool
)

func (k kind) String() string {
	return [...]string{"value", "string", "integer", "boolean"}[k]
}

// schemaType is the JSON Schema "type" for the kind.
func (k kind) schemaType() string {
	return [...]string{"", "string", "integer", "boolean"}[k]
}

// transform is one named conversion. The set is closed: mapping files pick one by name.
type transform struct {
	in     kind   // what the dossier field must be
	out    kind   // what the request gets; kindAny: the same kind as the source
	format string // JSON Schema format the dossier field should declare, "" for any
	fn     func(v any, t *codeTable) (any, error)
}

// transforms is the closed set of transforms, by the name used in mapping files.
var transforms = map[string]transform{
	"copy":     {in: kindAny, out: kindAny, fn: copyValue},
	"amount":   {in: kindInteger, out: kindInteger, fn: toAmount},
	"int":      {in: kindInteger, out: kindInteger, fn: toInt},
	"date":     {in: kindString, out: kindString, format: "date", fn: toDate},
	"datetime": {in: kindString, out: kindString, format: "date-time", fn: toDateTime},
	"code":     {in: kindAny, out: kindString, fn: toCode},
	"upper":    {in: kindString, out: kindString, fn: toUpper},
	"trim":     {in: kindString, out: kindString, fn: toTrim},
}

// vietnam is the fixed UTC+7 offset used for every timestamp sent to the treasury.
var vietnam = time.FixedZone("+07:00", 7*60*60)

// copyValue passes a single value through; integers become int64.
func copyValue(v any, _ *codeTable) (any, error) {
	switch v := v.(type) {
	case string, bool:
		return v, nil
	case json.Number:
		return toInt(v, nil)
	default:
		return nil, fmt.Errorf("want a single value, got %s", describe(v))
	}
}

// toAmount turns an integer number of đồng into int64. Fractions, exponents, negative values,
// floats and strings are refused: money never goes through floating point.
func toAmount(v any, _ *codeTable) (any, error) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, fmt.Errorf("amount: want an integer number of VND, got %s", describe(v))
	}
	s := string(n)
	if s == "" || len(s) > 18 || strings.Trim(s, "0123456789") != "" {
		return nil, fmt.Errorf("amount: %s is not a non-negative integer of at most 18 digits", clip(s))
	}
	a, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("amount: %s: %w", clip(s), err)
	}
	return a, nil
}

// toInt turns an integer json.Number into int64.
func toInt(v any, _ *codeTable) (any, error) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, fmt.Errorf("int: want an integer, got %s", describe(v))
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("int: %s is not a 64-bit integer", clip(string(n)))
	}
	return i, nil
}

// toDate checks a calendar date written yyyy-MM-dd.
func toDate(v any, _ *codeTable) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("date: want a string, got %s", describe(v))
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil || d.Format(time.DateOnly) != s {
		return nil, fmt.Errorf("date: %s is not a yyyy-MM-dd date", clip(s))
	}
	return s, nil
}

// toDateTime reads an RFC 3339 timestamp and writes the same instant in UTC+7, keeping
// fractions of a second only when there are any.
func toDateTime(v any, _ *codeTable) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("datetime: want a string, got %s", describe(v))
	}
	// RFC 3339 allows a lower-case "t" and "z"; they are the only letters in a timestamp.
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	if err != nil {
		return nil, fmt.Errorf("datetime: %s is not an RFC 3339 timestamp", clip(s))
	}
	if fractionDigits(s) > 9 {
		// time keeps nanoseconds: a 10th digit would be dropped without a
		// word from a signed value.
		return nil, fmt.Errorf("datetime: %s has more than 9 digits of a second", clip(s))
	}
	return t.In(vietnam).Format(time.RFC3339Nano), nil
}

// fractionDigits counts the digits after the seconds' decimal point of an
// RFC 3339 timestamp (0 when there is none).
func fractionDigits(s string) int {
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return 0
	}
	n := 0
	for _, c := range s[i+1:] {
		if c < '0' || c > '9' {
			break
		}
		n++
	}
	return n
}

// toCode looks a string or integer code up in the rule's code table.
func toCode(v any, t *codeTable) (any, error) {
	if t == nil {
		return nil, errors.New("code: no code table")
	}
	var key string
	switch v := v.(type) {
	case string:
		key = v
	case json.Number:
		key = string(v)
	default:
		return nil, fmt.Errorf("code: want a string or integer code, got %s", describe(v))
	}
	out, ok := t.codes[key]
	if !ok {
		return nil, fmt.Errorf("code: table %s has no code %s", t.name, clip(key))
	}
	return out, nil
}

func toUpper(v any, _ *codeTable) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("upper: want a string, got %s", describe(v))
	}
	return strings.ToUpper(s), nil
}

func toTrim(v any, _ *codeTable) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("trim: want a string, got %s", describe(v))
	}
	return strings.TrimSpace(s), nil
}

// describe names the type of a dossier value for an error message, without echoing big values.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "string " + clip(v)
	case json.Number:
		return "number " + clip(string(v))
	case bool:
		return "boolean"
	case float64, float32:
		return "a floating-point number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// clip quotes s, cut to 40 bytes.
func clip(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "…"
	}
	return strconv.Quote(s)
}
