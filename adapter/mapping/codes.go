package mapping

import (
	"errors"
	"io/fs"

	"go.yaml.in/yaml/v3"
)

// codeTable maps the codes a dossier uses (e.g. "tam-ung", 0) to the treasury's codes.
type codeTable struct {
	name  string
	codes map[string]string // dossier code as written in JSON → treasury code
}

// tableFile is the shape of mappings/codes/<table>.yaml.
type tableFile struct {
	Table       string    `yaml:"table"`
	Description string    `yaml:"description"`
	Codes       yaml.Node `yaml:"codes"`
}

func tablePath(name string) string { return "codes/" + name + ".yaml" }

// loadTable reads and checks mappings/codes/<name>.yaml.
func loadTable(fsys fs.FS, name string) (*codeTable, error) {
	file := tablePath(name)
	var tf tableFile
	top, err := root.Read(fsys, file, &tf)
	if err != nil {
		return nil, err
	}
	if tf.Table != name {
		return nil, loadErr(file, top.Line, "table: is %q, want %q (the file name)", tf.Table, name)
	}
	if tf.Codes.Kind != yaml.MappingNode || len(tf.Codes.Content) == 0 {
		return nil, loadErr(file, top.Line, "codes: want a non-empty mapping of dossier code to treasury code")
	}
	t := &codeTable{name: name, codes: make(map[string]string, len(tf.Codes.Content)/2)}
	line := make(map[string]int)
	for i := 0; i+1 < len(tf.Codes.Content); i += 2 {
		k, v := tf.Codes.Content[i], tf.Codes.Content[i+1]
		key, err := scalar(k, func(s string) any { return s })
		if err != nil {
			return nil, root.Wrap(file, k.Line, err)
		}
		ks, ok := key.(string)
		if !ok || ks == "" {
			return nil, loadErr(file, k.Line, "code %q: dossier codes are strings or integers", k.Value)
		}
		if first, dup := line[ks]; dup {
			return nil, loadErr(file, k.Line, "code %q already defined at line %d", ks, first)
		}
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" || v.Value == "" {
			return nil, root.Wrap(file, v.Line, errors.New("treasury code must be a non-empty string"))
		}
		line[ks] = k.Line
		t.codes[ks] = v.Value
	}
	return t, nil
}
