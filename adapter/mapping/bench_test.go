package mapping

import "testing"

func BenchmarkApply(b *testing.B) {
	m := loadProcedure(b, "chi-thuong-xuyen")
	for _, bc := range []struct {
		name string
		doc  map[string]any
	}{
		{"template", template(b, "chi-thuong-xuyen")},
		{"lines=5000", largeDossier(b, 5000)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := contextFor("chi-thuong-xuyen", bc.doc)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Apply(bc.doc, ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLoad(b *testing.B) {
	ds, rs := dossierSchema(b, "chi-thuong-xuyen"), requestSchema(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(mappingsFS, "chi-thuong-xuyen", ds, rs); err != nil {
			b.Fatal(err)
		}
	}
}
