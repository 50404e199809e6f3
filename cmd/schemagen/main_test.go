package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommittedXSDsAreUpToDate fails when a schemas/<procedure>/dossier.xsd was not
// regenerated after its dossier.schema.json (or the generator) changed.
func TestCommittedXSDsAreUpToDate(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-schemas", "../../schemas", "-check"}, &stdout, &stderr); code != 0 {
		t.Fatalf("schemagen -check exited %d:\n%s\nrun: go run ./cmd/schemagen -schemas schemas", code, stderr.String())
	}
}

const tinySchema = `{"type":"object","additionalProperties":false,"properties":{"a":{"type":"string"}}}`

// tree creates dir/<name>/<file> for each "name/file" key.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		files      map[string]string
		args       []string
		wantCode   int
		wantStderr string
		wantXSD    []string // procedures whose dossier.xsd must exist afterwards
		wantNoXSD  []string // procedures whose dossier.xsd must not exist afterwards
	}{
		{
			name:    "writes one XSD per procedure folder",
			files:   map[string]string{"p1/dossier.schema.json": tinySchema, "p2/dossier.schema.json": tinySchema, "notes/README.md": "x"},
			wantXSD: []string{"p1", "p2"},
		},
		{
			name:       "check reports a missing XSD and writes nothing",
			files:      map[string]string{"p1/dossier.schema.json": tinySchema},
			args:       []string{"-check"},
			wantCode:   1,
			wantStderr: "p1/dossier.xsd is out of date",
			wantNoXSD:  []string{"p1"},
		},
		{
			name:       "check reports an edited XSD",
			files:      map[string]string{"p1/dossier.schema.json": tinySchema, "p1/dossier.xsd": "<stale/>"},
			args:       []string{"-check"},
			wantCode:   1,
			wantStderr: "out of date",
		},
		{
			name:       "unsupported keyword stops generation and is named",
			files:      map[string]string{"p1/dossier.schema.json": `{"type":"object","additionalProperties":false,"properties":{"a":{"anyOf":[]}}}`},
			wantCode:   2,
			wantStderr: `keyword "anyOf" at #/properties/a`,
			wantNoXSD:  []string{"p1"},
		},
		{
			name:       "no procedure folder",
			files:      map[string]string{"README.md": "x"},
			wantCode:   2,
			wantStderr: "no dossier.schema.json",
		},
		{
			name:       "stray argument",
			files:      map[string]string{"p1/dossier.schema.json": tinySchema},
			args:       []string{"extra"},
			wantCode:   2,
			wantStderr: "unexpected argument",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := tree(t, tc.files)
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"-schemas", dir}, tc.args...), &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.wantStderr)
			}
			for _, p := range tc.wantXSD {
				if _, err := os.Stat(filepath.Join(dir, p, "dossier.xsd")); err != nil {
					t.Errorf("want %s/dossier.xsd: %v", p, err)
				}
			}
			for _, p := range tc.wantNoXSD {
				if _, err := os.Stat(filepath.Join(dir, p, "dossier.xsd")); err == nil {
					t.Errorf("%s/dossier.xsd was written", p)
				}
			}
		})
	}
}

// TestRunWithdrawal checks that a withdrawal.schema.json gets its withdrawal.xsd, whose root
// element is the withdrawal request's, beside the dossiers' XSDs.
func TestRunWithdrawal(t *testing.T) {
	t.Parallel()
	dir := tree(t, map[string]string{"p1/dossier.schema.json": tinySchema, "withdrawal/withdrawal.schema.json": tinySchema})
	var out bytes.Buffer
	if code := run([]string{"-schemas", dir}, &out, &out); code != 0 {
		t.Fatalf("generate exited %d: %s", code, out.String())
	}
	got, err := os.ReadFile(filepath.Join(dir, "withdrawal", "withdrawal.xsd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<xs:element name="YeuCauRutHoSo">`, "Generated from withdrawal.schema.json"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("withdrawal.xsd lacks %q:\n%s", want, got)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "withdrawal", "dossier.xsd")); err == nil {
		t.Error("a dossier.xsd was written for the withdrawal folder")
	}
	if err := os.WriteFile(filepath.Join(dir, "withdrawal", "withdrawal.xsd"), []byte("<stale/>"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"-schemas", dir, "-check"}, &out, &out); code != 1 || !strings.Contains(out.String(), "withdrawal.xsd is out of date") {
		t.Fatalf("check of a stale withdrawal.xsd exited %d: %s", code, out.String())
	}
}

// TestRunThenCheck checks that what run writes is what -check expects.
func TestRunThenCheck(t *testing.T) {
	t.Parallel()
	dir := tree(t, map[string]string{"p1/dossier.schema.json": tinySchema})
	var out bytes.Buffer
	if code := run([]string{"-schemas", dir}, &out, &out); code != 0 {
		t.Fatalf("generate exited %d: %s", code, out.String())
	}
	if code := run([]string{"-schemas", dir, "-check"}, &out, &out); code != 0 {
		t.Fatalf("check after generate exited %d: %s", code, out.String())
	}
}
