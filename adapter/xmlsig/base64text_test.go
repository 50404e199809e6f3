package xmlsig

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// decodeBase64Text reads what base64 of the text with strings.Fields'
// white space removed reads, and refuses what it refuses (the bytes read
// before an error are not compared: callers drop them).
func agreeBase64Text(t *testing.T, text string) {
	t.Helper()
	want, werr := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
	got, gerr := decodeBase64Text(text)
	if (werr == nil) != (gerr == nil) || (werr == nil && !bytes.Equal(got, want)) {
		t.Fatalf("%q: decodeBase64Text = %x, %v; want %x, %v", text, got, gerr, want, werr)
	}
}

func TestDecodeBase64Text(t *testing.T) {
	for _, s := range []string{"", "TUlJ", "TU lJ\n\tQg==", "\r\nTUlJQg==\r\n", "TUlJ\u00a0Qg==", "TUlJ\u0085Qg==", "TUlJ\u2003Qg==",
		"TUlJ\vQg==\f", "TUlJ\xffQg==", "TUlJQ", "TUlJ*g==", "====", "TUlJQg==TUlJ"} {
		agreeBase64Text(t, s)
	}
}

func FuzzDecodeBase64Text(f *testing.F) {
	f.Add("TU lJ\n\tQg==")
	f.Add("TUlJ\u00a0Qg==")
	f.Fuzz(func(t *testing.T, s string) {
		agreeBase64Text(t, s)
	})
}
