package fixturegen

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/beevik/etree"
)

const sampleXML = `<?xml version="1.0" encoding="UTF-8"?>
<HoSo Id="HS-G09.20-20260609-0000001">
  <maHoSo>G09.20-20260609-0000001</maHoSo>
  <maDVQHNS>1012345</maDVQHNS>
  <chungTu>
    <tongSoTien>30</tongSoTien>
    <dongChiTiet>
      <maNDKT>6501</maNDKT>
      <soTien>10</soTien>
    </dongChiTiet>
    <dongChiTiet>
      <maNDKT>7001</maNDKT>
      <soTien>20</soTien>
    </dongChiTiet>
    <ghiChu>Thanh toán đồng</ghiChu>
  </chungTu>
</HoSo>
`

func TestEditXML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(*etree.Element) error
		want    []string
		wantErr string
	}{
		{"set top-level", func(r *etree.Element) error { return xmlSetPath(r, "maDVQHNS", "12AB") }, []string{"<maDVQHNS>12AB</maDVQHNS>"}, ""},
		{"first of repeated", func(r *etree.Element) error { return xmlSetPath(r, "chungTu/dongChiTiet/maNDKT", "7799") },
			[]string{"<maNDKT>7799</maNDKT>", "<maNDKT>7001</maNDKT>"}, ""},
		{"code and Id", func(r *etree.Element) error { return xmlSetCode(r, "G09.20-20260609-0000105") },
			[]string{`<HoSo Id="HS-G09.20-20260609-0000105">`, "<maHoSo>G09.20-20260609-0000105</maHoSo>"}, ""},
		{"missing step", func(r *etree.Element) error { return xmlSetPath(r, "chungTu/khong", "1") }, nil, `no element "khong" under <chungTu>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := editXML([]byte(sampleXML), tc.edit)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("missing %s in\n%s", w, out)
				}
			}
			if strings.Count(string(out), "\n") != strings.Count(sampleXML, "\n") {
				t.Errorf("edit changed the layout:\n%s", out)
			}
		})
	}
}

func TestXMLReplicateLines(t *testing.T) {
	t.Parallel()
	out, err := editXML([]byte(sampleXML), func(r *etree.Element) error { return xmlReplicateLines(r, "chungTu/dongChiTiet", 12) })
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if got := strings.Count(s, "<dongChiTiet>"); got != 12 {
		t.Fatalf("%d lines, want 12", got)
	}
	if strings.Contains(s, "7001") {
		t.Error("the second template line survived")
	}
	// 10+0, 10+1000, ..., 10+9000, 10, 10+1000 → 12×10 + 45000 + 1000
	if !strings.Contains(s, "<tongSoTien>46120</tongSoTien>") {
		t.Errorf("total not recomputed:\n%s", s)
	}
	if !strings.Contains(s, "</dongChiTiet>\n    <dongChiTiet>\n      <maNDKT>6501") ||
		!strings.Contains(s, "</dongChiTiet>\n    <ghiChu>") {
		t.Errorf("indentation not kept:\n%s", s)
	}
	for _, bad := range []string{"chungTu/khong", "khong/dongChiTiet"} {
		if _, err := editXML([]byte(sampleXML), func(r *etree.Element) error { return xmlReplicateLines(r, bad, 2) }); err == nil {
			t.Errorf("replicating %q succeeded", bad)
		}
	}
}

func TestInsertDoctype(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`<?xml version="1.0"?>` + "\n<HoSo/>", `<?xml version="1.0"?>` + "\n" + doctypeDecl + "\n<HoSo/>"},
		{"<HoSo/>", doctypeDecl + "\n<HoSo/>"},
	}
	for _, tc := range tests {
		if got := string(insertDoctype([]byte(tc.in))); got != tc.want {
			t.Errorf("insertDoctype(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTruncateMiddle(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "a", sampleXML, "đđđđđđđ", "ađđđđđđ"} {
		got := truncateMiddle([]byte(in))
		if !utf8.Valid(got) || !bytes.HasPrefix([]byte(in), got) || (len(in) > 1 && len(got) == len(in)) {
			t.Errorf("truncateMiddle(%q) = %q", in, got)
		}
	}
	if _, err := parseXML(truncateMiddle([]byte(sampleXML))); err == nil {
		t.Error("truncated document still parses")
	}
}

func TestWithSequence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code    string
		seq     int
		want    string
		wantErr bool
	}{
		{"G09.20-20260609-0000001", 101, "G09.20-20260609-0000101", false},
		{"G09.20-20260609-01", 7, "G09.20-20260609-07", false},
		{"X-9", 123, "X-123", false},
		{"G09.20-20260609-ABC", 1, "", true},
	}
	for _, tc := range tests {
		got, err := withSequence(tc.code, tc.seq)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("withSequence(%q, %d) = %q, %v; want %q", tc.code, tc.seq, got, err, tc.want)
		}
	}
}

func TestSignatureAttacks(t *testing.T) {
	t.Parallel()
	signed := []byte(strings.Replace(sampleXML, "</HoSo>",
		`<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/></ds:Signature>`+
			`<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/></ds:Signature></HoSo>`, 1))

	wrapped, err := wrapSignature(signed, "chungTu/tongSoTien", "999")
	if err != nil {
		t.Fatal(err)
	}
	root := mustParse(t, wrapped)
	if got := root.FindElement("./chungTu/tongSoTien").Text(); got != "999" {
		t.Errorf("forged root amount %q", got)
	}
	inner := root.FindElement("./Signature[2]/Object/HoSo")
	if inner == nil {
		t.Fatalf("no original root inside the last signature's ds:Object:\n%s", wrapped)
	}
	if inner.SelectAttrValue("Id", "") != root.SelectAttrValue("Id", "x") ||
		inner.FindElement("./chungTu/tongSoTien").Text() != "30" ||
		len(inner.SelectElements("Signature")) != 1 {
		t.Errorf("wrapped original is not the content signature 2 covers:\n%s", wrapped)
	}

	extra, err := addUnsignedNode(signed)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustParse(t, extra).FindElement("./Signature[2]/Object/soTien"); got == nil || got.Text() != "1" {
		t.Errorf("no unsigned soTien in the last signature:\n%s", extra)
	}
	if _, err := addUnsignedNode([]byte(sampleXML)); err == nil {
		t.Error("unsigned node added to an unsigned document")
	}
}

func mustParse(t *testing.T, doc []byte) *etree.Element {
	t.Helper()
	tree, err := parseXML(doc)
	if err != nil {
		t.Fatal(err)
	}
	return tree.Root()
}
