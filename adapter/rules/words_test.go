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
	// A last group after a scale word, written so that it reads one way.
	{"Một nghìn linh năm đồng", 1_005},
	{"Một nghìn lẻ một đồng", 1_001},
	{"Một nghìn hai mươi đồng", 1_020},
	{"Một nghìn mười lăm đồng", 1_015},
	{"Một nghìn hai trăm đồng", 1_200},
	{"Một nghìn không trăm linh hai đồng", 1_002},
	{"Một triệu không trăm hai mươi đồng", 1_000_020},
	{"Một triệu không nghìn hai trăm đồng", 1_000_200},
	{"Một triệu không trăm nghìn hai trăm linh ba đồng", 1_000_203},
	{"Một triệu hai trăm nghìn đồng", 1_200_000},
	{"Một tỷ không nghìn hai trăm đồng", 1_000_000_200},
	{"Một tỷ không triệu không nghìn hai trăm đồng", 1_000_000_200},
	{"Hai tỷ ba triệu đồng", 2_003_000_000},
	// Spelling variants where each is written.
	{"Một trăm linh tư nghìn đồng", 104_000},
	{"Một trăm lẻ tư đồng", 104},
	{"Hai mươi nhăm đồng", 25},
	{"Hai mươi năm đồng", 25},
	{"Ba mươi mốt triệu đồng", 31_000_000},
	{"Hai chục nghìn đồng", 20_000},
	{"Một chục triệu đồng", 10_000_000},
	{"Ba chục mốt nghìn đồng", 31_000},
	{"Hai mươi tư ngàn đồng", 24_000},
	{"Mười một đồng", 11},
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

// A whole group after triệu or tỷ with no lower scale word is the units
// group, as accounting software writes it when it skips zero groups
// ("Một triệu hai trăm đồng" for 1,000,200). Speech may mean 1,200,000 by
// it, but then the amount does not match and the rule refuses the dossier:
// the literal reading never lets a wrong amount through.
func TestParseWordsReadsTheGroupAfterTrieuLiterally(t *testing.T) {
	for text, want := range map[string]int64{
		"một triệu hai trăm đồng":             1_000_200,
		"một triệu hai trăm năm mươi đồng":    1_000_250,
		"một triệu hai mươi đồng":             1_000_020,
		"một triệu mười lăm đồng":             1_000_015,
		"một tỷ hai trăm đồng":                1_000_000_200,
		"một triệu không nghìn hai trăm đồng": 1_000_200,
	} {
		if n, err := ParseWords(text); err != nil || n != want {
			t.Errorf("ParseWords(%q) = %d, %v; want %d", text, n, err, want)
		}
	}
}

// What speech shortens, and so could be read two ways, is refused: the
// writer must say which.
func TestParseWordsRefusesAmbiguous(t *testing.T) {
	for _, tc := range []struct{ text, readings string }{
		{"một triệu hai trăm ba đồng", "1,000,203 / 1,000,230 / 1,230,000"},
		{"hai trăm ba đồng", "203 / 230"},
		{"một trăm năm đồng", "105 / 150"},
		{"Một trăm năm mươi triệu hai trăm ba đồng", "150,000,203 / 150,000,230 / 150,230,000"},
		{"một nghìn hai đồng", "1,002 / 1,200"},
		{"một nghìn mốt đồng", "1,001 / 1,100"},
		{"một triệu hai đồng", "1,000,002 / 1,200,000"},
		{"một tỷ rưỡi đồng", "not a number word"},
		{"một tỷ năm đồng", "1,000,000,005 / 1,500,000,000"},
		{"một nghìn hai tỷ đồng", "1,002 / 1,200 tỷ"},
		{"hai trăm mốt đồng", "201 / 210"},
		{"hai trăm tư đồng", "204 / 240"},
		{"ba trăm lăm nghìn đồng", "305,000 / 350,000"},
		// Variants out of their place.
		{"mốt triệu đồng", ""}, {"lăm nghìn đồng", ""}, {"tư triệu đồng", ""}, {"nhăm đồng", ""},
		{"một trăm linh mốt đồng", ""}, {"một trăm linh lăm đồng", ""}, {"mười mốt đồng", ""},
		{"một mươi đồng", ""}, {"không chục đồng", ""},
		// Zero groups that hold no place.
		{"không nghìn năm trăm đồng", ""}, {"một triệu không nghìn đồng", ""}, {"một nghìn không đồng", ""},
		// Digits among the words.
		{"1 triệu đồng", ""}, {"một trăm 5 nghìn đồng", ""}, {"hai mươi3 đồng", ""}, {"hai mươi ba (23) đồng", ""},
		{"một triệu đồng ٣", ""},
	} {
		if n, err := ParseWords(tc.text); err == nil {
			t.Errorf("ParseWords(%q) = %d, want an error (%s)", tc.text, n, tc.readings)
		}
	}
}

// What Words writes around the places that must not be shortened reads
// back.
func TestParseWordsReadsWhatWordsWrites(t *testing.T) {
	for _, n := range []int64{1_000_200, 1_000_020, 1_000_000_200, 5_000_000_999, 1_002, 1_200, 2_003_000_000, 1_000_000_000_000_100} {
		if got, err := ParseWords(Words(n)); err != nil || got != n {
			t.Errorf("ParseWords(Words(%d) = %q) = %d, %v", n, Words(n), got, err)
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
		1_000_200:             "Một triệu không nghìn hai trăm đồng",
		1_000_020:             "Một triệu không trăm hai mươi đồng",
		1_000_000_200:         "Một tỷ không nghìn hai trăm đồng",
		1_200:                 "Một nghìn hai trăm đồng",
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
	f.Add("một triệu hai trăm ba đồng")
	f.Add("Một triệu không nghìn hai trăm đồng")
	f.Add("hai mươi3 đồng")
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
