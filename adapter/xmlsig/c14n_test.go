package xmlsig

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// canonical is the fast canonicalization of el as the apex, as bytes.
func canonical(t testing.TB, el *etree.Element, alg string) ([]byte, error) {
	t.Helper()
	s := &sink{}
	c := &c14n{s: s, exclusive: isExclusive(alg), comments: withComments(alg)}
	err := c.run(el)
	return s.buf, err
}

// referenceCanonical is goxmldsig's canonicalization of el.
func referenceCanonical(el *etree.Element, alg string) ([]byte, error) {
	var c dsig.Canonicalizer
	switch alg {
	case C14N10:
		c = dsig.MakeC14N10RecCanonicalizer()
	case C14N10Comments:
		c = dsig.MakeC14N10WithCommentsCanonicalizer()
	case ExcC14N:
		c = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	case ExcC14NComments:
		c = dsig.MakeC14N10ExclusiveWithCommentsCanonicalizerWithPrefixList("")
	}
	return c.Canonicalize(el.Copy())
}

var canonicalizations = []string{C14N10, C14N10Comments, ExcC14N, ExcC14NComments}

// checkCanonical fails when the fast canonicalization of body's root
// differs from goxmldsig's, or succeeds where goxmldsig fails.
func checkCanonical(t *testing.T, body []byte) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil || doc.Root() == nil {
		return
	}
	for _, alg := range canonicalizations {
		want, werr := referenceCanonical(doc.Root(), alg)
		got, gerr := canonical(t, doc.Root(), alg)
		if gerr != nil {
			continue // refusing is always allowed
		}
		if werr != nil {
			t.Fatalf("%s: goxmldsig refuses (%v), the fast canonicalization does not", alg, werr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s:\nfast      %q\ngoxmldsig %q", alg, got, want)
		}
	}
}

func canonicalSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{
		[]byte(`<a xmlns="urn:x" xmlns:b="urn:b" z="1" b:y="&lt;&#9;&#10;&#13;&quot;'>"><b:c b:k="1" xmlns:b="urn:b"/><d xmlns=""> t&amp;&gt;&#13; <!--c--d-><![CDATA[x]]>y]]&gt;</d></a>`),
		[]byte(`<r xmlns:p="urn:p" xmlns:q="urn:p"><p:e q:a="1" p:b="2" c="3"/><e xmlns:p="urn:other"><p:x/></e></r>`),
		[]byte(`<r xml:lang="vi" Id="X"><e xmlns="urn:d"><f xmlns="urn:d"/></e><!-- end --></r>`),
	}
	files, _ := filepath.Glob("../../testdata/fixtures/*/*/request.xml")
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && len(b) < 64<<10 {
			seeds = append(seeds, b)
		}
	}
	return seeds
}

func TestCanonicalMatchesReference(t *testing.T) {
	for _, s := range canonicalSeeds(t) {
		checkCanonical(t, s)
	}
}

func FuzzCanonicalMatchesReference(f *testing.F) {
	for _, s := range canonicalSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 16<<10 {
			return
		}
		checkCanonical(t, body)
	})
}

// treeOf renders everything of a parsed document that a reader can see,
// including each token's parent and index.
func treeOf(doc *etree.Document) string {
	var b bytes.Buffer
	var walk func(e *etree.Element, depth int)
	walk = func(e *etree.Element, depth int) {
		for i, t := range e.Child {
			if t.Parent() != e || t.Index() != i {
				b.WriteString("!parent/index ")
			}
			switch x := t.(type) {
			case *etree.Element:
				fmt.Fprintf(&b, "%d<%q %q", depth, x.Space, x.Tag)
				for _, a := range x.Attr {
					if a.Element() != x {
						b.WriteString("!attr-element ")
					}
					fmt.Fprintf(&b, " %q:%q=%q", a.Space, a.Key, a.Value)
				}
				b.WriteString(">\n")
				walk(x, depth+1)
			case *etree.CharData:
				fmt.Fprintf(&b, "%dtext %q cdata=%v ws=%v\n", depth, x.Data, x.IsCData(), x.IsWhitespace())
			case *etree.Comment:
				fmt.Fprintf(&b, "%dcomment %q\n", depth, x.Data)
			case *etree.ProcInst:
				fmt.Fprintf(&b, "%dpi %q %q\n", depth, x.Target, x.Inst)
			case *etree.Directive:
				fmt.Fprintf(&b, "%ddirective %q\n", depth, x.Data)
			}
		}
	}
	walk(&doc.Element, 0)
	return b.String()
}

func checkTree(t *testing.T, body []byte) {
	got, ok := buildTree(body)
	if !ok {
		return
	}
	want, err := parseEtree(body, Limits{}.withDefaults())
	if err != nil {
		t.Fatalf("buildTree accepts what etree refuses (%v): %q", err, body)
	}
	if g, w := treeOf(got), treeOf(want); g != w {
		t.Fatalf("trees differ for %q:\nbuildTree\n%s\netree\n%s", body, g, w)
	}
}

func TestTreeMatchesEtree(t *testing.T) {
	for _, s := range canonicalSeeds(t) {
		checkTree(t, s)
	}
	for _, s := range [][]byte{
		[]byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a b='1' c = \"&amp;&lt;&gt;&apos;&quot;\"><!-- x --> t <d/><e:f xmlns:e=\"u\">\n</e:f></a>\n"),
		[]byte(`<?xml version="1.0"?><a/>`),
	} {
		if _, ok := buildTree(s); !ok {
			t.Fatalf("buildTree refuses %q", s)
		}
		checkTree(t, s)
	}
}

func FuzzTreeMatchesEtree(f *testing.F) {
	for _, s := range canonicalSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkTree(t, body)
	})
}
