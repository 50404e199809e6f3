package fixturegen

import (
	"bytes"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kbnn/dvc/adapter/testkit/fixture"
	"github.com/kbnn/dvc/adapter/testkit/signing"
	"github.com/kbnn/dvc/adapter/testkit/testpki"
)

var realTemplates = filepath.Join("..", "..", "..", "testdata", "templates")

func TestLoadDossiersAreUniqueAndSigned(t *testing.T) {
	t.Parallel()
	pki := testPKIDir(t)
	g, err := NewLoadGenerator(LoadOptions{Templates: realTemplates, PKI: testpki.NewDir(pki), Form: FormMixed, RunTag: "T1"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 16                // 4 procedures × 2 forms, twice
	var progressed atomic.Int64 // called from the signing goroutines
	got, err := g.Generate(41, n, 3, func(int) { progressed.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || progressed.Load() != n {
		t.Fatalf("%d dossiers, progress called %d times; want %d", len(got), progressed.Load(), n)
	}
	seen := map[string]bool{}
	forms := map[string]int{}
	for i, d := range got {
		c := fixture.Case{Procedure: d.Procedure, Body: d.Body, Header: d.Header}
		code, err := c.DossierCode()
		if err != nil || code != d.Code {
			t.Fatalf("dossier %d: code in body %q (%v), want %q", i, code, err, d.Code)
		}
		if !strings.HasPrefix(code, "G09.20.T1-") || seen[code] {
			t.Errorf("dossier %d: code %q not fresh or not tagged", i, code)
		}
		seen[code] = true
		spec, err := readProcedureSpec(filepath.Join(realTemplates, d.Procedure, "cases.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if d.Header.Get("Authorization") != "Bearer "+DevPortalToken {
			t.Errorf("dossier %d: no bearer token", i)
		}
		if d.JSON {
			forms["json"]++
			checkJSONCase(t, "valid-json", d.Body, d.Header.Get(jwsHeader), spec.Signers, pki)
		} else {
			forms["xml"]++
			checkXMLCase(t, "valid-xml", d.Body, spec.Signers, spec)
		}
	}
	if forms["xml"] != n/2 || forms["json"] != n/2 {
		t.Errorf("forms %v, want %d of each", forms, n/2)
	}
	if len(g.Files()) == 0 {
		t.Error("no files listed by the templates")
	}
	// Another run tag gives other codes for the same sequences.
	other, err := NewLoadGenerator(LoadOptions{Templates: realTemplates, PKI: testpki.NewDir(pki), Form: FormXML, RunTag: "T2"})
	if err != nil {
		t.Fatal(err)
	}
	more, err := other.Generate(41, 1, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if seen[more[0].Code] {
		t.Errorf("run tag T2 repeats code %s", more[0].Code)
	}
}

func TestLoadPayrollHasItsLines(t *testing.T) {
	t.Parallel()
	pki := testPKIDir(t)
	g, err := NewLoadGenerator(LoadOptions{Templates: realTemplates, PKI: testpki.NewDir(pki),
		Procedures: []string{"chi-thuong-xuyen"}, RunTag: "P", Lines: 50})
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.Generate(1, 1, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := readProcedureSpec(filepath.Join(realTemplates, "chi-thuong-xuyen", "cases.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec.LargeLines.Count = 50
	checkXMLCase(t, "large-payroll", got[0].Body, spec.Signers, spec)
}

func TestLoadGeneratorRefuses(t *testing.T) {
	t.Parallel()
	pki := testpki.NewDir(testPKIDir(t))
	tests := []struct {
		name string
		o    LoadOptions
		want string
	}{
		{"no templates", LoadOptions{PKI: pki, RunTag: "A"}, "required"},
		{"bad run tag", LoadOptions{Templates: realTemplates, PKI: pki, RunTag: "a-b"}, "run tag"},
		{"long run tag", LoadOptions{Templates: realTemplates, PKI: pki, RunTag: "ABCDEFGHIJ"}, "run tag"},
		{"bad form", LoadOptions{Templates: realTemplates, PKI: pki, RunTag: "A", Form: "yaml"}, "form"},
		{"unknown procedure", LoadOptions{Templates: realTemplates, PKI: pki, RunTag: "A", Procedures: []string{"nope"}}, "nope"},
		{"lines without largeLines", LoadOptions{Templates: realTemplates, PKI: pki, RunTag: "A", Procedures: []string{"tai-khoan"}, Lines: 10}, "largeLines"},
	}
	for _, tt := range tests {
		if _, err := NewLoadGenerator(tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
		}
	}
	g, err := NewLoadGenerator(LoadOptions{Templates: realTemplates, PKI: pki, RunTag: "A"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Generate(g.Capacity(), 2, 1, nil); err == nil {
		t.Error("sequences beyond the code's digits accepted")
	}
}

func BenchmarkLoadGenerate(b *testing.B) {
	for _, form := range []string{FormXML, FormJSON} {
		b.Run(form, func(b *testing.B) {
			g, err := NewLoadGenerator(LoadOptions{Templates: realTemplates, PKI: testpki.NewDir(filepath.Join("..", "..", "..", "testdata", "pki")),
				Procedures: []string{"chi-thuong-xuyen"}, Form: form, RunTag: "B"})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := g.Generate(1+i%1000, 1, 1, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The template path gives byte for byte what SignXML gives for the same
// code, for every procedure (one and two signers) and for a payroll.
func TestXMLTemplateMatchesSignXML(t *testing.T) {
	t.Parallel()
	pki := testpki.NewDir(testPKIDir(t))
	for _, lines := range []int{0, 50} {
		var procs []string
		if lines > 0 {
			procs = []string{"chi-thuong-xuyen"}
		}
		g, err := NewLoadGenerator(LoadOptions{Templates: realTemplates, PKI: pki, Procedures: procs, RunTag: "X", Lines: lines})
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range g.bases {
			if b.tmpl == nil {
				t.Fatalf("%s (lines %d): no template, every dossier would be signed by SignXML", b.procedure, lines)
			}
			d, err := g.dossier(i, 4242)
			if err != nil {
				t.Fatal(err)
			}
			want, err := signing.SignXML(bytes.ReplaceAll(b.body, b.placeholder, []byte(d.Code)), signing.XMLOptions{}, b.signers...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(d.Body, want) {
				t.Errorf("%s (lines %d): the template's document differs from SignXML's", b.procedure, lines)
			}
		}
	}
}
