package replay

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kbnn/dvc/adapter/testkit/fixture"
)

// answerHeader tells the fake adapter how to answer: "202", "400 code",
// "400 code json" (code in a plain JSON body), "400 garbage" (unreadable
// problem body) or "307".
const answerHeader = "X-Test-Answer"

// newCase builds a JSON case whose fake answer and expectation are given.
func newCase(procedure, name, answer string, exp fixture.Expect) fixture.Case {
	return fixture.Case{
		Procedure: procedure,
		Name:      name,
		Body:      fmt.Appendf(nil, `{"maHoSo":%q}`, "HS-"+name),
		Header: http.Header{
			"Content-Type":  {"application/json"},
			"Authorization": {"Bearer dev-portal-token"},
			answerHeader:    {answer},
		},
		Expect: exp,
	}
}

// fakeAdapter answers each request as its X-Test-Answer header says and, for
// each 202, files a treasury document as the real adapter would.
type fakeAdapter struct {
	mu       sync.Mutex
	requests []string // "<procedure>/<maHoSo>" in arrival order
	docs     []Document
}

func (f *fakeAdapter) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/procedures/{procedure}/dossiers", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			MaHoSo string `json:"maHoSo"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("fake adapter: body: %v", err)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer dev-portal-token" {
			t.Errorf("fake adapter: Authorization = %q", got)
		}
		procedure := r.PathValue("procedure")
		f.mu.Lock()
		f.requests = append(f.requests, procedure+"/"+body.MaHoSo)
		f.mu.Unlock()

		fields := strings.Fields(r.Header.Get(answerHeader))
		if len(fields) == 0 {
			t.Errorf("fake adapter: no %s header", answerHeader)
			return
		}
		status, _ := strconv.Atoi(fields[0])
		switch {
		case status == http.StatusAccepted:
			f.mu.Lock()
			f.docs = append(f.docs, Document{Procedure: procedure, DossierCode: body.MaHoSo})
			f.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = fmt.Fprintf(w, `{"maHoSo":%q,"trangThai":"2"}`, body.MaHoSo)
		case status >= 300 && status < 400:
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(status)
		case len(fields) == 3 && fields[2] == "json":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = fmt.Fprintf(w, `{"code":%q}`, fields[1])
		case len(fields) == 2 && fields[1] == "garbage":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			_, _ = fmt.Fprint(w, `{"code":`)
		default:
			code := ""
			if len(fields) > 1 {
				code = fields[1]
			}
			w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
			w.WriteHeader(status)
			_, _ = fmt.Fprintf(w, `{"type":"about:blank","status":%d,"code":%q,"extra":[1,2]}`, status, code)
		}
	})
	mux.HandleFunc("GET /elsewhere", func(w http.ResponseWriter, r *http.Request) {
		t.Error("fake adapter: redirect followed")
	})
	return mux
}

func (f *fakeAdapter) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func startAdapter(t *testing.T) (*fakeAdapter, *httptest.Server) {
	t.Helper()
	f := &fakeAdapter{}
	srv := httptest.NewServer(f.handler(t))
	t.Cleanup(srv.Close)
	return f, srv
}

// writeFixture writes a case folder under root for the fake adapter.
func writeFixture(t *testing.T, root, procedure, name, answer, expect string) {
	t.Helper()
	dir := filepath.Join(root, procedure, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		fixture.RequestJSON: fmt.Sprintf(`{"maHoSo":%q}`, "HS-"+name),
		fixture.HeadersFile: "Content-Type: application/json\nAuthorization: Bearer dev-portal-token\n" + answerHeader + ": " + answer + "\n",
		fixture.ExpectFile:  expect,
	}
	for file, content := range files {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
