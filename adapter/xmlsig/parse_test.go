package xmlsig

import (
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

func TestParseRefuses(t *testing.T) {
	deep := strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40)
	many := "<r>" + strings.Repeat("<a/>", 300) + "</r>"
	cases := []struct {
		name, body, code string
		lim              Limits
	}{
		{"doctype", `<?xml version="1.0"?><!DOCTYPE HoSo><HoSo/>`, "xml-doctype-forbidden", Limits{}},
		{"internal entity", `<!DOCTYPE HoSo [<!ENTITY x "y">]><HoSo>&x;</HoSo>`, "xml-doctype-forbidden", Limits{}},
		{"billion laughs", `<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><l>&b;</l>`, "xml-doctype-forbidden", Limits{}},
		{"too deep", deep, "limit-exceeded", Limits{}},
		{"too many elements", many, "limit-exceeded", Limits{MaxElements: 100}},
		{"not xml", `{"a":1}`, "malformed-body", Limits{}},
		{"unclosed", `<HoSo><a></HoSo>`, "malformed-body", Limits{}},
		{"latin-1", `<?xml version="1.0" encoding="ISO-8859-1"?><HoSo/>`, "malformed-body", Limits{}},
		{"empty", ``, "malformed-body", Limits{}},
		{"processing instruction", `<HoSo><a>1<?x?>2</a></HoSo>`, "malformed-body", Limits{}},
		{"declaration not first", ` <?xml version="1.0"?><HoSo/>`, "malformed-body", Limits{}},
		{"element after root", `<HoSo/><HoSo/>`, "malformed-body", Limits{}},
		{"text after root", `<HoSo/>x`, "malformed-body", Limits{}},
		{"namespace amplification", "<HoSo>" + nsDecls(40) + "</HoSo>", "limit-exceeded", Limits{}},
		{"many attributes", `<HoSo ` + manyAttrs(20) + `/>`, "limit-exceeded", Limits{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.body), c.lim)
			wantCode(t, err, c.code)
		})
	}
}

// TestParseCountsEveryNamespaceDeclaration: declarations written with no
// white space after the attribute before them (which encoding/xml accepts)
// count as much as spaced ones. Eight elements of five declarations each
// stay under the attribute limit and together pass the document's.
func TestParseCountsEveryNamespaceDeclaration(t *testing.T) {
	for name, quote := range map[string]string{"double quotes": `"`, "single quotes": `'`} {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("<HoSo>")
			for e := 0; e < 8; e++ {
				b.WriteString(`<a b=` + quote + `1` + quote)
				for i := 0; i < 5; i++ {
					fmt.Fprintf(&b, "xmlns:p%d=%surn:%d%s", i, quote, e, quote)
				}
				b.WriteString("/>")
			}
			b.WriteString("</HoSo>")
			_, err := Parse([]byte(b.String()), Limits{})
			wantCode(t, err, "limit-exceeded")
			if !strings.Contains(err.Error(), "namespaces") {
				t.Fatalf("refused for another limit: %v", err)
			}
		})
	}
}

func nsDecls(n int) string {
	var b strings.Builder
	b.WriteString("<a")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " xmlns:p%d=\"urn:p%d\"", i, i)
	}
	b.WriteString("/>")
	return b.String()
}

func manyAttrs(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " a%d=\"x\"", i)
	}
	return b.String()
}

func TestParseAccepts(t *testing.T) {
	for name, body := range map[string]string{
		"comment mentioning doctype": `<HoSo><!-- <!DOCTYPE x> --><a>1</a></HoSo>`,
		"cdata":                      `<HoSo><a><![CDATA[<b> & <!ENTITY>]]></a></HoSo>`,
		"quoted angle in attribute":  `<HoSo Id="a>b"><a/></HoSo>`,
		"self-closing at the limit":  strings.Repeat("<a>", 31) + "<b/>" + strings.Repeat("</a>", 31),
		"utf-8 declaration":          `<?xml version="1.0" encoding="UTF-8"?><HoSo>Kho bạc</HoSo>`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(body), Limits{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// FuzzParse: whatever Parse accepts holds every limit it was given, counted
// on the tree it built (the byte scan that enforces them must not be
// fooled by a spelling the parser accepts).
func FuzzParse(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><HoSo Id="x"><a>1</a><!-- c --><![CDATA[x]]></HoSo>`))
	f.Add([]byte(`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`))
	f.Add([]byte(`<a b='>'/>`))
	f.Add([]byte(`<a b="1"xmlns:p="u"xmlns:q='v'><c xmlns="w"/></a>`))
	f.Add([]byte(`<a b="1"xmlns:p="u"xmlns:q='v'><c xmlns="w"xmlns:r="x"/></a>`))
	f.Add([]byte(`<a x1="1" x2="2" x3="3" x4="4" x5="5"/>`))
	lim := Limits{MaxDepth: 8, MaxElements: 64, MaxNamespaceDecls: 3, MaxAttributes: 4}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := Parse(b, lim)
		if err != nil {
			return
		}
		if doc.Root() == nil {
			t.Fatal("accepted a document without a root")
		}
		elements, decls := 0, 0
		var walk func(el *etree.Element, depth int)
		walk = func(el *etree.Element, depth int) {
			elements++
			if depth > lim.MaxDepth {
				t.Fatalf("accepted elements nested %d deep (limit %d)", depth, lim.MaxDepth)
			}
			if len(el.Attr) > lim.MaxAttributes {
				t.Fatalf("accepted an element of %d attributes (limit %d)", len(el.Attr), lim.MaxAttributes)
			}
			for _, a := range el.Attr {
				if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
					decls++
				}
			}
			for _, c := range el.ChildElements() {
				walk(c, depth+1)
			}
		}
		walk(doc.Root(), 1)
		if elements > lim.MaxElements {
			t.Fatalf("accepted %d elements (limit %d)", elements, lim.MaxElements)
		}
		if decls > lim.MaxNamespaceDecls {
			t.Fatalf("accepted %d namespace declarations (limit %d)", decls, lim.MaxNamespaceDecls)
		}
	})
}
