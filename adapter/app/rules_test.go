package app

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kbnn/dvc/adapter/testkit/fixture"
	"github.com/kbnn/dvc/mappings"
	"github.com/kbnn/dvc/schemas"
)

type ruleProblem struct {
	Code   string
	Status int
	Title  string
	Detail string
	Rules  []struct {
		ID        string
		Kind      string
		Paths     []string
		Message   string
		MessageVi string
	}
}

func postFixture(t *testing.T, e *env, proc, name, lang string) (int, ruleProblem) {
	t.Helper()
	c, err := fixture.Load(filepath.Join(repo, "testdata/fixtures", proc, name))
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.Request(e.adapter.URL)
	if err != nil {
		t.Fatal(err)
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	var p ruleProblem
	if resp.StatusCode != http.StatusAccepted {
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
	}
	return resp.StatusCode, p
}

func ruleIDs(p ruleProblem) []string {
	var ids []string
	for _, r := range p.Rules {
		ids = append(ids, r.ID)
	}
	return ids
}

// A chi-thuong-xuyen dossier whose total is 987,500,000 while its lines add up to 187,500,000
// (its words still say 187,500,000) is refused with both failing rules and their field
// paths; a dossier whose words alone are wrong, with that rule; nothing reaches the treasury.
func TestBusinessRulesRefuseWrongTotalAndWords(t *testing.T) {
	e := start(t)
	before := e.documentCalls.Load()
	status, p := postFixture(t, e, "chi-thuong-xuyen", "rule-wrong-total", "")
	if status != http.StatusUnprocessableEntity || p.Code != "business-rule-violation" {
		t.Fatalf("status %d, problem %+v", status, p)
	}
	if got := ruleIDs(p); !slices.Equal(got, []string{"tong-so-tien", "so-tien-bang-chu"}) {
		t.Errorf("failing rules %v, want tong-so-tien and so-tien-bang-chu", got)
	}
	if len(p.Rules) > 0 {
		r := p.Rules[0]
		if !slices.Equal(r.Paths, []string{"chungTu/tongSoTien", "chungTu/dongChiTiet[]/soTien"}) || r.Kind != "sum" || r.Message == "" || r.MessageVi == "" {
			t.Errorf("rule %+v", r)
		}
	}
	status, p = postFixture(t, e, "chi-thuong-xuyen", "rule-wrong-words", "vi")
	if status != http.StatusUnprocessableEntity || !slices.Equal(ruleIDs(p), []string{"so-tien-bang-chu"}) {
		t.Fatalf("status %d, problem %+v", status, p)
	}
	if p.Title != "Hồ sơ vi phạm quy tắc nghiệp vụ của thủ tục" || !strings.Contains(p.Detail, "so-tien-bang-chu") {
		t.Errorf("Vietnamese problem %q / %q", p.Title, p.Detail)
	}
	for _, proc := range []string{"von-dau-tu", "cam-ket-chi"} {
		for _, name := range []string{"rule-wrong-total", "rule-wrong-words"} {
			if status, p := postFixture(t, e, proc, name, ""); status != http.StatusUnprocessableEntity || len(p.Rules) == 0 {
				t.Errorf("%s/%s: status %d, problem %+v", proc, name, status, p)
			}
		}
	}
	if status, p := postFixture(t, e, "tai-khoan", "rule-wrong-date-json", ""); status != http.StatusUnprocessableEntity || !slices.Equal(ruleIDs(p), []string{"quyet-dinh-truoc-ngay-nop"}) {
		t.Errorf("tai-khoan: status %d, problem %+v", status, p)
	}
	if n := e.documentCalls.Load() - before; n != 0 {
		t.Errorf("%d treasury document calls for refused dossiers", n)
	}
	if docs := e.documents(t); len(docs) != 0 {
		t.Errorf("the treasury holds %d documents", len(docs))
	}
	// The valid dossier of the same procedure still goes through.
	if status, p := postFixture(t, e, "chi-thuong-xuyen", "valid-json", ""); status != http.StatusAccepted {
		t.Errorf("valid dossier: %d %+v", status, p)
	}
}

// Start-up refuses a rule file naming a field the procedure's definition does not have, with
// the file and line.
func TestStartupRefusesBadRules(t *testing.T) {
	fsys := fstest.MapFS{}
	if err := copyFS(fsys); err != nil {
		t.Fatal(err)
	}
	fsys["chi-thuong-xuyen/rules.yaml"] = &fstest.MapFile{Data: []byte(`rules:
  - id: tong
    kind: sum
    total: chungTu/tongTien
    items: ["chungTu/dongChiTiet[]/soTien"]
    message: m
    messageVi: v
`)}
	cfg := testConfig(t, "http://127.0.0.1:1")
	_, err := loadProcedures(cfg, fsys, mappings.FS)
	if err == nil || !strings.Contains(err.Error(), `schemas/chi-thuong-xuyen/rules.yaml:4: rule tong: total: the definition has no field "chungTu/tongTien"`) {
		t.Fatalf("error %v", err)
	}
	delete(fsys, "chi-thuong-xuyen/rules.yaml")
	if _, err := loadProcedures(cfg, fsys, mappings.FS); err == nil || !strings.Contains(err.Error(), "rules.yaml") {
		t.Fatalf("a missing rule file: %v", err)
	}
}

// copyFS copies the embedded schemas into dst.
func copyFS(dst fstest.MapFS) error {
	return fs.WalkDir(schemas.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(schemas.FS, p)
		dst[p] = &fstest.MapFile{Data: data}
		return err
	})
}
