package xsd

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const goldenXSD = "testdata/kitchen-sink.xsd"

// object wraps property schemas (a JSON object body) into a root schema.
func object(props string, required ...string) string {
	req := `"` + strings.Join(required, `","`) + `"`
	if len(required) == 0 {
		req = ""
	}
	return fmt.Sprintf(`{"type":"object","additionalProperties":false,"required":[%s],"properties":{%s}}`, req, props)
}

// containsLines reports whether want appears in got as consecutive lines, indentation aside.
func containsLines(got string, want []string) bool {
	var lines []string
	for l := range strings.SplitSeq(got, "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	for i := 0; i+len(want) <= len(lines); i++ {
		match := true
		for j, w := range want {
			if lines[i+j] != w {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema string
		want   []string
	}{
		{"header, root element, Id attribute and signature wildcard", object(""), []string{
			`<?xml version="1.0" encoding="UTF-8"?>`,
			"<!-- Generated from dossier.schema.json by `make schemas`; do not edit. -->",
			`<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="unqualified">`,
			`<xs:element name="HoSo">`, `<xs:complexType>`, `<xs:sequence>`,
			`<xs:any namespace="http://www.w3.org/2000/09/xmldsig#" processContents="skip" minOccurs="0" maxOccurs="unbounded"/>`,
			`</xs:sequence>`, `<xs:attribute name="Id" type="xs:ID" use="required"/>`,
		}},
		{"properties in schema order, not sorted", object(`"z":{"type":"string"},"a":{"type":"string"},"m":{"type":"integer"}`, "z", "a", "m"), []string{
			`<xs:element name="z" type="xs:string"/>`,
			`<xs:element name="a" type="xs:string"/>`,
			`<xs:element name="m" type="xs:long"/>`,
		}},
		{"optional property", object(`"a":{"type":"string"}`), []string{`<xs:element name="a" type="xs:string" minOccurs="0"/>`}},
		{"pattern loses its anchors", object(`"a":{"type":"string","pattern":"^[0-9]{7}$"}`, "a"), []string{
			`<xs:restriction base="xs:string">`, `<xs:pattern value="[0-9]{7}"/>`, `</xs:restriction>`,
		}},
		{"string facets in order", object(`"a":{"type":"string","enum":["x","y"],"maxLength":5,"minLength":1,"pattern":"^\\w+$"}`, "a"), []string{
			`<xs:minLength value="1"/>`, `<xs:maxLength value="5"/>`, `<xs:pattern value="[0-9A-Za-z_]+"/>`,
			`<xs:enumeration value="x"/>`, `<xs:enumeration value="y"/>`,
		}},
		{"const", object(`"a":{"type":"string","const":"tai-khoan"}`, "a"), []string{`<xs:enumeration value="tai-khoan"/>`}},
		{"integer bounds", object(`"a":{"type":"integer","minimum":-5,"maximum":999999999999999}`, "a"), []string{
			`<xs:restriction base="xs:long">`, `<xs:minInclusive value="-5"/>`, `<xs:maxInclusive value="999999999999999"/>`,
		}},
		{"integral numbers in other notations", object(`"a":{"type":"integer","minimum":1e3,"maximum":2000.0,"enum":[1.5e3]}`, "a"), []string{
			`<xs:minInclusive value="1000"/>`, `<xs:maxInclusive value="2000"/>`, `<xs:enumeration value="1500"/>`,
		}},
		{"integer const", object(`"a":{"type":"integer","const":7}`, "a"), []string{`<xs:enumeration value="7"/>`}},
		{"date", object(`"a":{"type":"string","format":"date"}`, "a"), []string{
			`<xs:restriction base="xs:date">`, `<xs:pattern value="[0-9]{4}-[0-9]{2}-[0-9]{2}"/>`,
		}},
		{"date-time", object(`"a":{"type":"string","format":"date-time","enum":["2026-01-01T00:00:00Z"]}`, "a"), []string{
			`<xs:restriction base="xs:dateTime">`,
			`<xs:pattern value="[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+\-][0-9]{2}:[0-9]{2})"/>`,
			`<xs:enumeration value="2026-01-01T00:00:00Z"/>`,
		}},
		{"required array of objects", object(`"a":{"type":"array","minItems":1,"maxItems":10000,"items":{"type":"object","additionalProperties":false,"required":["b"],"properties":{"b":{"type":"integer"}}}}`, "a"), []string{
			`<xs:element name="a" maxOccurs="10000">`, `<xs:complexType>`, `<xs:sequence>`, `<xs:element name="b" type="xs:long"/>`,
		}},
		{"required array with minItems", object(`"a":{"type":"array","minItems":2,"items":{"type":"string"}}`, "a"), []string{
			`<xs:element name="a" type="xs:string" minOccurs="2" maxOccurs="unbounded"/>`,
		}},
		{"required array without minItems may be empty", object(`"a":{"type":"array","items":{"type":"string"}}`, "a"), []string{
			`<xs:element name="a" type="xs:string" minOccurs="0" maxOccurs="unbounded"/>`,
		}},
		{"optional array ignores minItems", object(`"a":{"type":"array","minItems":2,"maxItems":3,"items":{"type":"integer","minimum":0}}`), []string{
			`<xs:element name="a" minOccurs="0" maxOccurs="3">`, `<xs:simpleType>`, `<xs:restriction base="xs:long">`,
		}},
		{"array with maxItems 1", object(`"a":{"type":"array","maxItems":1,"items":{"type":"string"}}`), []string{
			`<xs:element name="a" type="xs:string" minOccurs="0"/>`,
		}},
		{"$ref resolved, documentation from both sides", `{"type":"object","additionalProperties":false,"properties":{"a":{"$ref":"#/$defs/t","description":"at the use"}},"$defs":{"t":{"type":"integer","title":"in the definition","minimum":0}}}`, []string{
			`<xs:element name="a" minOccurs="0">`, `<xs:annotation>`,
			`<xs:documentation>at the use</xs:documentation>`, `<xs:documentation>in the definition</xs:documentation>`,
			`</xs:annotation>`, `<xs:simpleType>`, `<xs:restriction base="xs:long">`, `<xs:minInclusive value="0"/>`,
		}},
		{"$ref to a $ref and escaped names", `{"type":"object","additionalProperties":false,"properties":{"a":{"$ref":"#/$defs/x~1y"}},"$defs":{"x/y":{"$ref":"#/$defs/z"},"z":{"type":"string"}}}`, []string{
			`<xs:element name="a" type="xs:string" minOccurs="0"/>`,
		}},
		{"root reached through $ref", `{"$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"#/$defs/doc","$defs":{"doc":{"type":"object","additionalProperties":false,"required":["a"],"properties":{"a":{"type":"string"}}}}}`, []string{
			`<xs:sequence>`, `<xs:element name="a" type="xs:string"/>`,
		}},
		{"the same definition used twice", `{"type":"object","additionalProperties":false,"properties":{"a":{"$ref":"#/$defs/o"},"b":{"$ref":"#/$defs/o"}},"$defs":{"o":{"type":"object","additionalProperties":false,"properties":{"c":{"type":"string"}}}}}`, []string{
			`<xs:element name="b" minOccurs="0">`, `<xs:complexType>`, `<xs:sequence>`, `<xs:element name="c" type="xs:string" minOccurs="0"/>`,
		}},
		{"empty object", object(`"a":{"type":"object","additionalProperties":false}`, "a"), []string{
			`<xs:element name="a">`, `<xs:complexType/>`, `</xs:element>`,
		}},
		{"root documentation", `{"type":"object","additionalProperties":false,"title":"T","description":"D","$comment":"ignored"}`, []string{
			`<xs:element name="HoSo">`, `<xs:annotation>`, `<xs:documentation>T</xs:documentation>`, `<xs:documentation>D</xs:documentation>`,
		}},
		{"escaping", object(`"a":{"type":"string","description":"a < b & \"c\"","enum":["x\"<&>'"]}`, "a"), []string{
			`<xs:documentation>a &lt; b &amp; "c"</xs:documentation>`, `</xs:annotation>`, `<xs:simpleType>`,
			`<xs:restriction base="xs:string">`, `<xs:enumeration value="x&quot;&lt;&amp;&gt;'"/>`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := Generate([]byte(tc.schema))
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if !containsLines(string(out), tc.want) {
				t.Errorf("output lacks the lines\n%s\n--- got\n%s", strings.Join(tc.want, "\n"), out)
			}
		})
	}
}

func TestGenerateRefusesUnsupportedSchemas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		schema           string
		pointer, keyword string
	}{
		{"oneOf", object(`"a":{"oneOf":[{"type":"string"}]}`), "/properties/a", "oneOf"},
		{"unknown keyword beside a known type", object(`"a":{"type":"string","contentEncoding":"base64"}`), "/properties/a", "contentEncoding"},
		{"uniqueItems", object(`"a":{"type":"array","items":{"type":"string"},"uniqueItems":true}`), "/properties/a", "uniqueItems"},
		{"exclusiveMinimum", object(`"a":{"type":"integer","exclusiveMinimum":0}`), "/properties/a", "exclusiveMinimum"},
		{"number type", object(`"a":{"type":"number"}`), "/properties/a", "type"},
		{"list of types", object(`"a":{"type":["string","null"]}`), "/properties/a", "type"},
		{"missing type", object(`"a":{"minLength":1}`), "/properties/a", "type"},
		{"keyword of another type", object(`"a":{"type":"integer","pattern":"^[0-9]+$"}`), "/properties/a", "pattern"},
		{"open root object", `{"type":"object","properties":{}}`, "", "additionalProperties"},
		{"open nested object", object(`"a":{"type":"object","additionalProperties":true}`), "/properties/a", "additionalProperties"},
		{"root not an object", `{"type":"string"}`, "", "type"},
		{"other dialect", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false}`, "", "$schema"},
		{"nested $defs", object(`"a":{"type":"string","$defs":{}}`), "/properties/a", "$defs"},
		{"boolean schema", object(`"a":true`), "/properties/a", ""},
		{"non-string description", object(`"a":{"type":"string","description":5}`), "/properties/a", "description"},
		{"required names an unknown property", object(`"a":{"type":"string"}`, "b"), "", "required"},
		{"property name not an XML name", object(`"1a":{"type":"string"}`), "", "properties"},
		{"unsupported format", object(`"a":{"type":"string","format":"email"}`), "/properties/a", "format"},
		{"format with pattern", object(`"a":{"type":"string","format":"date","pattern":"^2"}`), "/properties/a", "pattern"},
		{"invalid regular expression", object(`"a":{"type":"string","pattern":"(a"}`), "/properties/a", "pattern"},
		{"word boundary", object(`"a":{"type":"string","pattern":"^a\\b"}`), "/properties/a", "pattern"},
		{"case-insensitive flag", object(`"a":{"type":"string","pattern":"(?i)^a$"}`), "/properties/a", "pattern"},
		{"minimum not an integer", object(`"a":{"type":"integer","minimum":1.5}`), "/properties/a", "minimum"},
		{"minimum beyond xs:long", object(`"a":{"type":"integer","minimum":-1e19}`), "/properties/a", "minimum"},
		{"minimum above maximum", object(`"a":{"type":"integer","minimum":2,"maximum":1}`), "/properties/a", "minimum"},
		{"minLength above maxLength", object(`"a":{"type":"string","minLength":2,"maxLength":1}`), "/properties/a", "minLength"},
		{"negative maxLength", object(`"a":{"type":"string","maxLength":-1}`), "/properties/a", "maxLength"},
		{"minItems above maxItems", object(`"a":{"type":"array","items":{"type":"string"},"minItems":2,"maxItems":1}`), "/properties/a", "minItems"},
		{"array without items", object(`"a":{"type":"array"}`), "/properties/a", "items"},
		{"array of arrays", object(`"a":{"type":"array","items":{"type":"array","items":{"type":"string"}}}`), "/properties/a/items", "type"},
		{"enum of mixed types", object(`"a":{"type":"string","enum":["x",1]}`), "/properties/a", "enum"},
		{"empty enum", object(`"a":{"type":"string","enum":[]}`), "/properties/a", "enum"},
		{"enum and const", object(`"a":{"type":"string","enum":["x"],"const":"x"}`), "/properties/a", "const"},
		{"const of the wrong type", object(`"a":{"type":"integer","const":"7"}`), "/properties/a", "const"},
		{"enum value XML cannot carry", object(`"a":{"type":"string","enum":["\u0001"]}`), "/properties/a", "enum"},
		{"external $ref", object(`"a":{"$ref":"other.json#/$defs/x"}`), "/properties/a", "$ref"},
		{"$ref to a missing entry", object(`"a":{"$ref":"#/$defs/x"}`), "/properties/a", "$ref"},
		{"constraint beside $ref", `{"type":"object","additionalProperties":false,"properties":{"a":{"$ref":"#/$defs/s","maxLength":3}},"$defs":{"s":{"type":"string"}}}`, "/properties/a", "maxLength"},
		{"recursive $ref", `{"type":"object","additionalProperties":false,"properties":{"a":{"$ref":"#/$defs/n"}},"$defs":{"n":{"type":"object","additionalProperties":false,"properties":{"child":{"$ref":"#/$defs/n"}}}}}`, "/$defs/n/properties/child", "$ref"},
		{"unused definition checked too", `{"type":"object","additionalProperties":false,"$defs":{"a/b":{"type":"string","not":{}}}}`, "/$defs/a~1b", "not"},
		{"duplicate key", `{"type":"object","additionalProperties":false,"type":"object"}`, "", "type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := Generate([]byte(tc.schema))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want *Error, got %v (output %d bytes)", err, len(out))
			}
			if e.Pointer != tc.pointer || e.Keyword != tc.keyword {
				t.Errorf("got pointer %q keyword %q, want %q %q (%v)", e.Pointer, e.Keyword, tc.pointer, tc.keyword, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "#"+tc.pointer) || !strings.Contains(msg, `"`+tc.keyword+`"`) && tc.keyword != "" {
				t.Errorf("message %q does not name the pointer and keyword", msg)
			}
		})
	}
}

func TestGenerateRefusesMalformedJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `{`, `{"type":"object"} {}`, `{"type":}`, `[]`} {
		if out, err := Generate([]byte(in)); err == nil {
			t.Errorf("Generate(%q) = %d bytes, want an error", in, len(out))
		}
	}
}

// TestGenerateGolden compares the XSD of a schema using every supported keyword with
// testdata/kitchen-sink.xsd (go test -run Golden -update rewrites it).
func TestGenerateGolden(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("testdata", "kitchen-sink.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Generate(src)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	again, err := Generate(src)
	if err != nil || !bytes.Equal(out, again) {
		t.Fatalf("Generate is not deterministic (err %v)", err)
	}
	if *update {
		if err := os.WriteFile(goldenXSD, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenXSD)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update)", err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("output differs from %s (run go test -run Golden -update and review the diff)\n--- got\n%s", goldenXSD, out)
	}
}

// TestGenerateRoot checks that another document's root element and source file name replace
// the dossier's, and that both are required.
func TestGenerateRoot(t *testing.T) {
	t.Parallel()
	out, err := GenerateRoot([]byte(object(`"a":{"type":"string"}`, "a")), "YeuCauRutHoSo", "withdrawal.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"<!-- Generated from withdrawal.schema.json by `make schemas`; do not edit. -->",
		`<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="unqualified">`,
		`<xs:element name="YeuCauRutHoSo">`}; !containsLines(string(out), want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if strings.Contains(string(out), `name="`+RootElement+`"`) {
		t.Errorf("output names %s:\n%s", RootElement, out)
	}
	for _, args := range [][2]string{{"", "w.schema.json"}, {"Root", ""}} {
		if _, err := GenerateRoot([]byte(object("")), args[0], args[1]); err == nil {
			t.Errorf("GenerateRoot(%q, %q) accepted", args[0], args[1])
		}
	}
}
