package app

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/testkit/fixture"
)

// uploadFiles sends the case's uploads (PUT /v1/attachments/{sha256}) to the
// adapter at base, each answered 201 or 200.
func uploadFiles(t *testing.T, base string, c fixture.Case) {
	t.Helper()
	reqs, err := c.UploadRequests(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range reqs {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			t.Fatalf("upload %s: %d", req.URL.Path, resp.StatusCode)
		}
	}
}

// seedTemplateFiles stores every file the templates list
// (testdata/attachments) in the adapter's upload store, as a unit would
// upload them before submitting: tests that sign an edited template and
// post it alone rely on it.
func seedTemplateFiles(t testing.TB, a *Adapter) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repo, "testdata/attachments/*/*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("testdata/attachments: %v (%d files)", err, len(paths))
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Intake.Attachments().Put(context.Background(), attachment.Sum(data), data); err != nil {
			t.Fatal(err)
		}
	}
}
