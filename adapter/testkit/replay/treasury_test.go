package replay

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/kbnn/dvc/adapter/testkit/fixture"
)

// result builds a result for a case with the given attempt statuses.
func result(procedure, name string, statuses ...int) Result {
	r := Result{Case: newCase(procedure, name, "", fixture.Expect{Status: 202})}
	for i, s := range statuses {
		r.Attempts = append(r.Attempts, Attempt{Round: i + 1, Status: s})
	}
	return r
}

func doc(procedure, name string) Document {
	return Document{Procedure: procedure, DossierCode: "HS-" + name}
}

func TestCheckTreasury(t *testing.T) {
	t.Parallel()
	unreadable := result("p", "broken", 202)
	unreadable.Case.Body = []byte(`{"maHoSo":`)
	unreadableRejected := result("p", "broken", 400)
	unreadableRejected.Case.Body = []byte(`<<<`)
	tests := []struct {
		name    string
		results []Result
		docs    []Document
		want    []string // failure substring per result; "" = none
	}{
		{name: "accepted once", results: []Result{result("p", "a", 202)}, docs: []Document{doc("p", "a")}, want: []string{""}},
		{name: "accepted, duplicate", results: []Result{result("p", "a", 202)}, docs: []Document{doc("p", "a"), doc("p", "a")}, want: []string{"accepted dossier HS-a has 2 documents, want exactly 1"}},
		{name: "accepted, missing", results: []Result{result("p", "a", 202)}, want: []string{"has 0 documents"}},
		{name: "accepted, filed under another procedure", results: []Result{result("p", "a", 202)}, docs: []Document{doc("q", "a")}, want: []string{"has 0 documents"}},
		{name: "repeated sends, one document", results: []Result{result("p", "a", 202, 202, 202)}, docs: []Document{doc("p", "a")}, want: []string{""}},
		{name: "rejected, absent", results: []Result{result("p", "r", 400)}, docs: []Document{doc("p", "a")}, want: []string{""}},
		{name: "rejected, present", results: []Result{result("p", "r", 400)}, docs: []Document{doc("p", "r")}, want: []string{"rejected dossier HS-r has 1 document, want none"}},
		{name: "refused by treasury, present", results: []Result{result("p", "r", 422)}, docs: []Document{doc("p", "r")}, want: []string{"want none"}},
		{
			name:    "rejected duplicate of an accepted dossier",
			results: []Result{result("p", "a", 202), func() Result { r := result("p", "dup", 409); r.Case.Body = []byte(`{"maHoSo":"HS-a"}`); return r }()},
			docs:    []Document{doc("p", "a")},
			want:    []string{"", ""},
		},
		{name: "accepted then rejected on repeat counts as accepted", results: []Result{result("p", "a", 202, 409)}, docs: []Document{doc("p", "a")}, want: []string{""}},
		{name: "server error is not checked", results: []Result{result("p", "t", 504)}, docs: []Document{doc("p", "t")}, want: []string{""}},
		{name: "no answer is not checked", results: []Result{result("p", "t", 0)}, docs: []Document{doc("p", "t")}, want: []string{""}},
		{name: "not sent is not checked", results: []Result{result("p", "t")}, docs: []Document{doc("p", "t")}, want: []string{""}},
		{name: "accepted without dossier code", results: []Result{unreadable}, want: []string{"accepted but"}},
		{name: "rejected without dossier code is skipped", results: []Result{unreadableRejected}, want: []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			failed := CheckTreasury(tt.results, tt.docs)
			wantFailed := 0
			for i, want := range tt.want {
				got := strings.Join(tt.results[i].Failures, "; ")
				if want == "" {
					if got != "" {
						t.Errorf("result %d: failures %q, want none", i, got)
					}
					continue
				}
				wantFailed++
				if !strings.Contains(got, want) {
					t.Errorf("result %d: failures %q, want %q", i, got, want)
				}
				if tt.results[i].Passed() {
					t.Errorf("result %d passes despite the failure", i)
				}
			}
			if failed != wantFailed {
				t.Errorf("CheckTreasury() = %d, want %d", failed, wantFailed)
			}
		})
	}
}

func TestFetchDocuments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		want    []Document
		wantErr string
	}{
		{
			name: "listing with extra fields", status: 200,
			body: `[{"documentId":"KB-2026-000001","procedure":"tai-khoan","dossierCode":"HS-1","status":"RECEIVED"}]`,
			want: []Document{{Procedure: "tai-khoan", DossierCode: "HS-1"}},
		},
		{name: "empty", status: 200, body: `[]`, want: []Document{}},
		{name: "server error", status: 500, body: `oops`, wantErr: "status 500"},
		{name: "not an array", status: 200, body: `{"documents":[]}`, wantErr: "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/sim/documents" {
					t.Errorf("got %s %s", r.Method, r.URL.Path)
				}
				w.WriteHeader(tt.status)
				_, _ = fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			got, err := FetchDocuments(t.Context(), srv.Client(), srv.URL+"/")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FetchDocuments() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("FetchDocuments() = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
