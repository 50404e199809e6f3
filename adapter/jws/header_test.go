package jws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// referenceHeader is how protected headers were read before readHeader:
// a walk of encoding/json's tokens for the member names, then
// json.Unmarshal. readHeader must read the same and refuse the same.
func referenceHeader(raw []byte) (h protected, jwk bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return h, false, errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return h, false, err
		}
		name, _ := t.(string)
		if seen[name] {
			return h, false, fmt.Errorf("member %q repeated", name)
		}
		seen[name] = true
		for _, n := range headerNames {
			if strings.EqualFold(name, n) && name != n {
				return h, false, fmt.Errorf("member %q is not %q", name, n)
			}
		}
		jwk = jwk || name == "jwk"
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return h, false, err
		}
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, false, err
	}
	return h, jwk, nil
}

var headerCases = []string{
	`{"alg":"RS256","x5c":["MIIB","MIIC"]}`, `{"alg":"RS256","x5c":null}`, `{"alg":null}`, `{"alg":5}`, `{"x5c":"a"}`,
	`{"x5c":[null,"a"]}`, `{"x5c":[1]}`, `{"x5c":[]}`, `{"crit":["b64"],"b64":false}`, `{"b64":"no"}`, `{"b64":null}`,
	`{"jku":"https://x","x5u":"https://y"}`, `{"jku":1}`, `{"jwk":{"kty":"RSA"}}`, `{"ALG":"RS256"}`, `{"jw\u212a":1}`,
	`{"alg":"RS256","alg":"ES256"}`, `{"alg":"RS256"} x`, `[]`, `"alg"`, `{"alg":"RS256",}`, `{"other":{"deep":[1,{"a":null}]}}`,
	`{"alg":"\u0052S256"}`, "{\"alg\":\"RS\xff256\"}", `{"x5c":["a"],"x5c":["b"]}`, ``, `{`,
}

func agreeHeader(t *testing.T, raw []byte) {
	t.Helper()
	want, wjwk, werr := referenceHeader(raw)
	got, gjwk, gerr := readHeader(raw)
	if gerr != nil && strings.Contains(gerr.Error(), "nesting deeper") {
		return // refused beyond the bound the reference lacked
	}
	if gerr != nil && werr == nil && strings.Contains(gerr.Error(), "duplicate key") {
		return // a key repeated inside a member's value: refused here, skipped by the reference
	}
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: reference error %v, readHeader error %v", raw, werr, gerr)
	}
	if werr == nil && (!reflect.DeepEqual(got, want) || gjwk != wjwk) {
		t.Fatalf("%q:\nreadHeader %+v jwk=%v\nreference  %+v jwk=%v", raw, got, gjwk, want, wjwk)
	}
}

func TestReadHeaderIsTheReference(t *testing.T) {
	for _, c := range headerCases {
		agreeHeader(t, []byte(c))
	}
}

// Stricter than the reference in one respect: a key repeated anywhere in
// the header, not only among its members, is refused (the reference
// skipped members' values unread).
func TestReadHeaderRefusesNestedRepeatedKeys(t *testing.T) {
	for _, c := range []string{`{"alg":"RS256","other":{"a":1,"a":2}}`, `{"jwk":{"kty":"RSA","kty":"EC"}}`} {
		if _, _, err := referenceHeader([]byte(c)); err != nil {
			t.Fatalf("%s: the reference refuses it (%v); the case tests nothing", c, err)
		}
		if _, _, err := readHeader([]byte(c)); err == nil || !strings.Contains(err.Error(), "duplicate key") {
			t.Errorf("%s: readHeader = %v, want a duplicate key refused", c, err)
		}
	}
}

func FuzzReadHeader(f *testing.F) {
	for _, c := range headerCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		agreeHeader(t, raw)
	})
}
