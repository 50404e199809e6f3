package xmlsig

import (
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// dropCommentsOneByOne is the first dropComments: a comment removed at a
// time, the text around it joined by concatenation. It is the reference
// for what dropComments must leave; its cost grew with the comments
// squared.
func dropCommentsOneByOne(el *etree.Element) {
	for i := 0; i < len(el.Child); {
		switch t := el.Child[i].(type) {
		case *etree.Comment:
			el.RemoveChildAt(i)
			if i > 0 && i < len(el.Child) {
				prev, ok1 := el.Child[i-1].(*etree.CharData)
				next, ok2 := el.Child[i].(*etree.CharData)
				if ok1 && ok2 && !prev.IsCData() && !next.IsCData() {
					prev.Data += next.Data
					el.RemoveChildAt(i)
				}
			}
			continue
		case *etree.Element:
			dropCommentsOneByOne(t)
		}
		i++
	}
}

// shape writes el's tree token by token, each with its kind and index, so
// that two trees compare equal only when their nodes, not just their
// serializations, are the same.
func shape(el *etree.Element) string {
	var b strings.Builder
	var walk func(el *etree.Element)
	walk = func(el *etree.Element) {
		b.WriteString("<" + el.FullTag() + ">")
		for i, t := range el.Child {
			if t.Index() != i || t.Parent() != el {
				b.WriteString("!index:" + strconv.Itoa(t.Index()) + "@" + strconv.Itoa(i))
			}
			switch c := t.(type) {
			case *etree.Element:
				walk(c)
			case *etree.CharData:
				if c.IsCData() {
					b.WriteString("[cdata " + strconv.Quote(c.Data) + "]")
				} else {
					b.WriteString("[text " + strconv.Quote(c.Data) + "]")
				}
			case *etree.Comment:
				b.WriteString("[comment " + strconv.Quote(c.Data) + "]")
			default:
				b.WriteString("[other]")
			}
		}
		b.WriteString("</>")
	}
	walk(el)
	return b.String()
}

var commentSeeds = []string{
	`<r>a<!--x-->b</r>`,
	`<r>a<!--x--><!--y-->b<!--z-->c</r>`,
	`<r><!--x-->a<!--y--></r>`,
	`<r>a<![CDATA[c]]><!--x-->b<!--y--><![CDATA[d]]>e</r>`,
	`<r>a<!--x--><e>t<!--y-->u</e><!--z-->b<e/>c<!--w--></r>`,
	`<r><a><b>1<!--x-->2<!--x-->3</b></a>4<!--x-->5</r>`,
	`<r>no comments<e>here</e></r>`,
	`<r><!----><!----><!----></r>`,
	"<r>\n  <e>1</e>\n  <!-- note -->\n  <e>2</e>\n</r>",
}

// FuzzDropComments holds dropComments to the one-comment-at-a-time
// reference: the same nodes, the same texts joined, every index right.
func FuzzDropComments(f *testing.F) {
	for _, s := range commentSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := etree.NewDocument()
		if err := want.ReadFromString(s); err != nil || want.Root() == nil {
			return
		}
		got := etree.NewDocument()
		if err := got.ReadFromString(s); err != nil {
			t.Fatal(err)
		}
		dropCommentsOneByOne(want.Root())
		dropComments(got.Root())
		if g, w := shape(got.Root()), shape(want.Root()); g != w {
			t.Fatalf("dropComments(%q):\n got %s\nwant %s", s, g, w)
		}
	})
}

// commentedText is a root holding n pieces of text, each followed by a
// comment: what dropComments joins into one text node.
func commentedText(n int) string {
	return "<r>" + strings.Repeat("ab<!---->", n) + "</r>"
}

// TestDropCommentsJoinsOnce: text split by many comments is joined into one
// node whose bytes are allocated about once, not once per comment (the
// concatenation allocated n² / 2 pieces: about 800 MB here).
func TestDropCommentsJoinsOnce(t *testing.T) {
	const n = 20_000
	doc := etree.NewDocument()
	if err := doc.ReadFromString(commentedText(n)); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	dropComments(doc.Root())
	runtime.ReadMemStats(&after)
	if len(doc.Root().Child) != 1 {
		t.Fatalf("%d children left, want the one joined text", len(doc.Root().Child))
	}
	if got := doc.Root().Text(); got != strings.Repeat("ab", n) {
		t.Fatalf("joined text is %d bytes, want %d", len(got), 2*n)
	}
	// 2n bytes of text, built once (with the builder's growth about 4n);
	// the bound leaves room for anything else running meanwhile.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Fatalf("dropComments allocated %d bytes for %d bytes of text", alloc, 2*n)
	}
}

// BenchmarkDropComments reports the cost of removing comments per comment,
// at two sizes: with the one-pass rebuild it does not grow with their
// number.
func BenchmarkDropComments(b *testing.B) {
	for _, n := range []int{10_000, 40_000} {
		for _, tc := range []struct {
			name, body string
		}{
			{"only-comments", "<r>" + strings.Repeat("<!---->", n) + "</r>"},
			{"text-between", commentedText(n)},
		} {
			b.Run(tc.name+"-"+strconv.Itoa(n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					doc := etree.NewDocument()
					if err := doc.ReadFromString(tc.body); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					dropComments(doc.Root())
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/comment")
			})
		}
	}
}
