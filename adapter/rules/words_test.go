package rules

import (
	"testing"

	"golang.org/x/text/unicode/norm"
)

// Spellings met on real vouchers, with the usual variants.
var spellings = []struct {
	text string
	want int64
}{
	{"Một trăm tám mươi bảy triệu năm trăm nghìn đồng", 187_500_000},
	{"một trăm tám mươi bảy triệu năm trăm ngàn đồng", 187_500_000},
	{"MỘT TRĂM TÁM MƯƠI BẢY TRIỆU NĂM TRĂM NGHÌN ĐỒNG CHẴN", 187_500_000},
	{"Một trăm tám mươi bảy triệu năm trăm nghìn đồng chẵn./.", 187_500_000},
	{"Một trăm tám mươi bẩy triệu, năm trăm nghìn đồng.", 187_500_000},
	{"Một trăm tám mươi bảy triệu năm trăm nghìn", 187_500_000},
	{"Một tỷ hai trăm năm mươi triệu đồng", 1_250_000_000},
	{"Một tỉ hai trăm năm mươi triệu đồng", 1_250_000_000},
	{"Sáu trăm bốn mươi triệu đồng", 640_000_000},
	{"Sáu trăm bốn mười triệu đồng", 640_000_000},
	{"Hai mươi mốt nghìn đồng", 21_000},
	{"Hai mươi một nghìn đồng", 21_000},
	{"Hai mươi tư triệu đồng", 24_000_000},
	{"Hai mươi bốn triệu đồng", 24_000_000},
	{"Mười lăm nghìn đồng", 15_000},
	{"Mười năm nghìn đồng", 15_000},
	{"Hai mươi lăm nghìn đồng", 25_000},
	{"Hai mươi nhăm nghìn đồng", 25_000},
	{"Một trăm linh năm nghìn đồng", 105_000},
	{"Một trăm lẻ năm nghìn đồng", 105_000},
	{"Một triệu không trăm linh năm đồng", 1_000_005},
	{"Một triệu lẻ năm đồng", 1_000_005},
	{"Một tỷ không trăm năm mươi triệu đồng", 1_050_000_000},
	{"Mười triệu đồng", 10_000_000},
	{"Chín trăm chín mươi chín nghìn chín trăm chín mươi chín tỷ chín trăm chín mươi chín triệu chín trăm chín mươi chín nghìn chín trăm chín mươi chín đồng", 999_999_999_999_999},
	{"Một nghìn tỷ đồng", 1_000_000_000_000},
	{"Một triệu tỷ đồng", 1_000_000_000_000_000},
	{"Ba nghìn hai trăm tỷ bốn triệu đồng", 3_200_004_000_000},
	{"Bằng chữ: Sáu trăm bốn mươi triệu đồng chẵn", 640_000_000},
	{"Số tiền bằng chữ: Sáu trăm bốn mươi triệu đồng", 640_000_000},
	{"(Viết bằng chữ: Sáu trăm bốn mươi triệu đồng Việt Nam)", 640_000_000},
	{"Sáu trăm bốn mươi triệu Việt Nam đồng", 640_000_000},
	{"Sáu trăm bốn mươi triệu VNĐ", 640_000_000},
	{"Một trăm tám mươi bảy triệu linh năm nghìn đồng", 187_005_000},
	{"Một triệu không trăm lẻ năm nghìn đồng", 1_005_000},
	{"Hai mươi mốt triệu năm trăm nghìn đồng", 21_500_000},
	{"Một tỉ hai trăm năm mươi triệu đồng chẵn./.", 1_250_000_000},
	{"Mười tư nghìn đồng", 14_000},
	{"Không đồng", 0},
	{"Bảy đồng", 7},
	{"  năm   mươi  đồng ", 50},
}

func TestParseWordsSpellings(t *testing.T) {
	for _, c := range spellings {
		for _, form := range []string{c.text, norm.NFD.String(c.text), norm.NFC.String(c.text)} {
			got, err := ParseWords(form)
			if err != nil || got != c.want {
				t.Errorf("ParseWords(%q) = %d, %v; want %d", form, got, err, c.want)
			}
		}
	}
}

func TestParseWordsRefuses(t *testing.T) {
	for _, s := range []string{
		"", "đồng", "một trăm tám mươi bảy triệu năm trăm nghìn euro",
		"triệu đồng", "mươi đồng", "một mươi đồng", "linh năm đồng", "không trăm năm mươi đồng",
		"hai mươi mươi đồng", "một trăm hai ba đồng", "một nghìn hai nghìn đồng",
		"một triệu hai triệu đồng", "187500000 đồng", "một tỷ tỷ tỷ đồng", "không không đồng",
		"mười mười đồng", "một trăm linh không đồng", "năm nam đồng", "chữ", "bằng chữ: đồng",
	} {
		if n, err := ParseWords(s); err == nil {
			t.Errorf("ParseWords(%q) = %d, want an error", s, n)
		}
	}
}

func TestWordsWrites(t *testing.T) {
	for n, want := range map[int64]string{
		187_500_000:           "Một trăm tám mươi bảy triệu năm trăm nghìn đồng",
		1_250_000_000:         "Một tỷ hai trăm năm mươi triệu đồng",
		640_000_000:           "Sáu trăm bốn mươi triệu đồng",
		1_000_005:             "Một triệu không trăm linh năm đồng",
		21_015:                "Hai mươi mốt nghìn không trăm mười lăm đồng",
		24:                    "Hai mươi tư đồng",
		0:                     "Không đồng",
		1_000_000_000_000_000: "Một triệu tỷ đồng",
	} {
		if got := Words(n); got != want {
			t.Errorf("Words(%d) = %q, want %q", n, got, want)
		}
	}
	if Words(-1) != "" || Words(MaxWords+1) != "" {
		t.Error("Words writes an amount out of range")
	}
}

// TestWordsRoundTrip reads back what Words writes over a spread of amounts up to 10^18.
func TestWordsRoundTrip(t *testing.T) {
	n := int64(0)
	for i := 0; i < 200_000 && n <= MaxWords; i++ {
		if got, err := ParseWords(Words(n)); err != nil || got != n {
			t.Fatalf("ParseWords(Words(%d) = %q) = %d, %v", n, Words(n), got, err)
		}
		n = n*7/5 + int64(i%97) + 1
	}
	for n := range int64(2100) {
		if got, err := ParseWords(Words(n)); err != nil || got != n {
			t.Fatalf("ParseWords(Words(%d) = %q) = %d, %v", n, Words(n), got, err)
		}
	}
}

func FuzzWords(f *testing.F) {
	for _, c := range spellings {
		f.Add(c.text)
	}
	f.Add("một tỷ tỷ tỷ tỷ tỷ đồng")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseWords(s)
		if err != nil {
			return
		}
		if n < 0 || n > MaxWords {
			t.Fatalf("ParseWords(%q) = %d out of range", s, n)
		}
		// What it reads, written in the standard way, reads back the same.
		if back, err := ParseWords(Words(n)); err != nil || back != n {
			t.Fatalf("ParseWords(Words(%d)) = %d, %v", n, back, err)
		}
	})
}
