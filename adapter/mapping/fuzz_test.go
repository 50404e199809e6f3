package mapping

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzApply feeds arbitrary JSON to every procedure's mapping: Apply must return a request or
// an error, never panic, and a request must hold only JSON-safe types with integers as int64.
func FuzzApply(f *testing.F) {
	maps := make(map[string]*Mapping, len(procedures))
	for _, p := range procedures {
		maps[p] = loadProcedure(f, p)
		f.Add(readRepoFile(f, "testdata", "templates", p, "dossier.json"))
	}
	f.Add([]byte(`{"taiLieu": [{"dongChiTiet": [null, 1, {"soTien": 1.5}], "tongSoTien": "1"}, null, 3]}`))
	f.Add([]byte(`{"deNghiDangKy": {"mauChuKy": {"vaiTro": []}}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var doc any
		if dec.Decode(&doc) != nil {
			return
		}
		for p, m := range maps {
			out, err := m.Apply(doc, Context{Procedure: p, ProcedureCode: "1.0"})
			if err != nil {
				continue
			}
			checkOutputTypes(t, p, out)
			if _, err := json.Marshal(out); err != nil {
				t.Fatalf("%s: request does not marshal: %v", p, err)
			}
		}
	})
}
