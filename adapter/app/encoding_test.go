package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kbnn/dvc/adapter/testkit/signing"
)

func (e *env) post(t *testing.T, procedure, contentType string, body []byte, jws string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.adapter.URL+"/v1/procedures/"+procedure+"/dossiers", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer dev-portal-token")
	req.Header.Set("Content-Type", contentType)
	if jws != "" {
		req.Header.Set("X-JWS-Signature", jws)
	}
	return exchange(t, req)
}

// signJSON signs body with both test signers as detached JWS.
func signJSON(t testing.TB, body []byte) string {
	t.Helper()
	var sigs []string
	for _, s := range testSigners(t) {
		j, err := signing.SignJWS(body, "", s)
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, j)
	}
	return strings.Join(sigs, ",")
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// What units' software sends: a byte-order mark before either form is read
// past (the signature still covers the exact bytes), and a JSON body in
// another encoding is refused naming the first byte that is not UTF-8.
func TestBodyEncodings(t *testing.T) {
	e := start(t)

	t.Run("XML with a byte-order mark", func(t *testing.T) {
		body := append(append([]byte{}, bom...), signedTemplate(t, "chi-thuong-xuyen", "G09.20-20260609-0000801")...)
		if a := e.post(t, "chi-thuong-xuyen", "application/xml", body, ""); a.status != http.StatusAccepted {
			t.Fatalf("%d %s", a.status, a.body)
		}
	})

	raw, err := os.ReadFile(filepath.Join(repo, "testdata/templates/chi-thuong-xuyen/dossier.json"))
	if err != nil {
		t.Fatal(err)
	}
	withCode := func(code string) []byte {
		return bytes.Replace(raw, []byte("G09.20-20260609-0000001"), []byte(code), 1)
	}
	if !bytes.Contains(raw, []byte("G09.20-20260609-0000001")) {
		t.Fatal("the JSON template's dossier code changed; update this test")
	}

	t.Run("JSON with a byte-order mark", func(t *testing.T) {
		body := append(append([]byte{}, bom...), withCode("G09.20-20260609-0000802")...)
		if a := e.post(t, "chi-thuong-xuyen", "application/json", body, signJSON(t, body)); a.status != http.StatusAccepted {
			t.Fatalf("%d %s", a.status, a.body)
		}
	})

	t.Run("JSON in windows-1258", func(t *testing.T) {
		body := withCode("G09.20-20260609-0000803")
		i := bytes.Index(body, []byte("ạ")) // U+1EA1, two bytes in windows-1258: 'a' + 0xF2
		if i < 0 {
			t.Fatal("the template has no ạ to re-encode")
		}
		body = append(append(append([]byte{}, body[:i]...), 'a', 0xF2), body[i+len("ạ"):]...)
		a := e.post(t, "chi-thuong-xuyen", "application/json", body, signJSON(t, body))
		if a.status != http.StatusBadRequest || a.code() != "malformed-body" {
			t.Fatalf("%d %s", a.status, a.body)
		}
		if want := "byte offset " + strconv.Itoa(i+1); !strings.Contains(string(a.body), want) {
			t.Fatalf("detail does not name %q: %s", want, a.body)
		}
		if n := e.docsFor(t, "G09.20-20260609-0000803"); n != 0 {
			t.Fatalf("%d treasury documents for a refused body", n)
		}
	})
}

// The portal shows problems to Vietnamese units: Accept-Language: vi gives
// the title and detail in Vietnamese; the code and field paths never change.
func TestProblemsInVietnamese(t *testing.T) {
	e := start(t)
	send := func(lang, procedure string, body []byte, ct, jws string) (answer, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, e.adapter.URL+"/v1/procedures/"+procedure+"/dossiers", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer dev-portal-token")
		req.Header.Set("Content-Type", ct)
		if jws != "" {
			req.Header.Set("X-JWS-Signature", jws)
		}
		if lang != "" {
			req.Header.Set("Accept-Language", lang)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return answer{resp.StatusCode, resp.Header, b}, m
	}
	raw, err := os.ReadFile(filepath.Join(repo, "testdata/templates/chi-thuong-xuyen/dossier.json"))
	if err != nil {
		t.Fatal(err)
	}
	bad := append(append([]byte{}, raw[:20]...), 0xF2)
	bad = append(bad, raw[20:]...)

	a, m := send("vi-VN,vi;q=0.9,en;q=0.5", "chi-thuong-xuyen", bad, "application/json", signJSON(t, bad))
	if a.status != 400 || m["code"] != "malformed-body" || m["title"] != "Nội dung yêu cầu không hợp lệ" ||
		!strings.Contains(m["detail"].(string), "byte thứ 20") || a.header.Get("Content-Language") != "vi" {
		t.Fatalf("invalid UTF-8 in Vietnamese: %d %s", a.status, a.body)
	}
	a, m = send("", "chi-thuong-xuyen", bad, "application/json", signJSON(t, bad))
	if m["title"] != "Malformed request body" || !strings.Contains(m["detail"].(string), "byte offset 20") || a.header.Get("Content-Language") != "en" {
		t.Fatalf("English by default: %d %s", a.status, a.body)
	}
	_, m = send("vi", "khong-co", raw, "application/json", "")
	if m["code"] != "unknown-procedure" || m["title"] != "Thủ tục không tồn tại" || m["detail"] != `Không có thủ tục khong-co.` {
		t.Fatalf("unknown procedure in Vietnamese: %v", m)
	}
	_, m = send("vi", "chi-thuong-xuyen", raw, "application/json", "")
	if m["code"] != "signature-missing" || m["title"] != "Thiếu chữ ký số" {
		t.Fatalf("missing signature in Vietnamese: %v", m)
	}
}

// Dossier codes take one of the configured formats: the portal's
// G09.20-yyyyMMdd-nnnnnnn and the provincial 000.00.01.H22-yyMMdd-nnnn are
// accepted; a code of neither format is refused naming /maHoSo.
func TestDossierCodeFormats(t *testing.T) {
	e := start(t)
	for _, c := range []struct {
		code string
		want int
	}{
		{"G09.20-20260609-0000901", http.StatusAccepted},
		{"000.00.01.H22-260609-0001", http.StatusAccepted},
		{"H22-260609-001", http.StatusUnprocessableEntity},
	} {
		a := e.post(t, "chi-thuong-xuyen", "application/xml", signedTemplate(t, "chi-thuong-xuyen", c.code), "")
		if a.status != c.want {
			t.Fatalf("%s: %d %s, want %d", c.code, a.status, a.body, c.want)
		}
		if c.want == http.StatusUnprocessableEntity && (a.code() != "schema-violation" || !strings.Contains(string(a.body), "/maHoSo")) {
			t.Fatalf("%s: %s, want schema-violation naming /maHoSo", c.code, a.body)
		}
	}
}
