package fixturegen

import (
	"strconv"
	"strings"
	"testing"
)

const sampleJSON = `{
  "maHoSo": "G09.20-20260609-0000001",
  "maDVQHNS": "1012345",
  "maCapNs": 2,
  "duyet": false,
  "ghiChu": "a <b> & \"c\" đồng",
  "rong": {},
  "chungTu": {
    "tongSoTien": 30,
    "dongChiTiet": [
      {
        "maNDKT": "6501",
        "soTien": 10
      },
      {
        "maNDKT": "7001",
        "soTien": 20
      }
    ]
  }
}`

func TestJSONRoundTripKeepsBytes(t *testing.T) {
	t.Parallel()
	n, err := parseJSON([]byte(sampleJSON + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := n.encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != sampleJSON {
		t.Fatalf("round trip changed the document:\n%s", out)
	}
}

func TestJSONSetScalar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, value, want, wantErr string
	}{
		{path: "maDVQHNS", value: "12AB", want: `"maDVQHNS": "12AB"`},
		{path: "maCapNs", value: "7", want: `"maCapNs": 7`},
		{path: "maCapNs", value: "bay", want: `"maCapNs": "bay"`},
		{path: "duyet", value: "true", want: `"duyet": true`},
		{path: "maDVQHNS", value: "1999999", want: `"maDVQHNS": "1999999"`},
		{path: "chungTu/tongSoTien", value: "987500000", want: `"tongSoTien": 987500000`},
		{path: "chungTu/dongChiTiet/maNDKT", value: "7799", want: `"maNDKT": "7799"`},
		{path: "/chungTu/dongChiTiet/soTien/", value: "1", want: `"soTien": 1`},
		{path: "chungTu/khong", value: "1", wantErr: `no member "khong"`},
		{path: "chungTu", value: "1", wantErr: "not a scalar"},
		{path: "maHoSo/x", value: "1", wantErr: `no member "x"`},
	}
	for _, tc := range tests {
		t.Run(tc.path+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			n, err := parseJSON([]byte(sampleJSON))
			if err != nil {
				t.Fatal(err)
			}
			err = n.setScalar(tc.path, tc.value)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out, _ := n.encode()
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("missing %s in\n%s", tc.want, out)
			}
			if strings.Count(string(out), "\n") != strings.Count(sampleJSON, "\n") {
				t.Errorf("edit changed the layout:\n%s", out)
			}
		})
	}
}

func TestJSONReplicateLines(t *testing.T) {
	t.Parallel()
	n, err := parseJSON([]byte(sampleJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.replicateLines("chungTu/dongChiTiet", 12); err != nil {
		t.Fatal(err)
	}
	arr := n.member("chungTu").member("dongChiTiet")
	if len(arr.items) != 12 {
		t.Fatalf("%d lines, want 12", len(arr.items))
	}
	var sum int64
	for k, it := range arr.items {
		want := 10 + int64(k%10)*1000
		if got := string(it.member("soTien").raw); got != strconv.FormatInt(want, 10) {
			t.Errorf("line %d soTien %s, want %d", k, got, want)
		}
		if got := string(it.member("maNDKT").raw); got != `"6501"` {
			t.Errorf("line %d is not a copy of the first: maNDKT %s", k, got)
		}
		sum += want
	}
	if got := string(n.member("chungTu").member("tongSoTien").raw); got != strconv.FormatInt(sum, 10) {
		t.Errorf("tongSoTien %s, want %d", got, sum)
	}
	for _, bad := range []string{"chungTu/khong", "maHoSo", "chungTu/tongSoTien"} {
		if err := n.replicateLines(bad, 2); err == nil {
			t.Errorf("replicateLines(%q) succeeded", bad)
		}
	}
}

func TestParseJSONErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "{", `{"a":1} {}`, `{"a":}`} {
		if _, err := parseJSON([]byte(in)); err == nil {
			t.Errorf("parseJSON(%q) succeeded", in)
		}
	}
}
