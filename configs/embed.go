// Package configs holds the adapter's configuration files; local.yaml is
// embedded so that `make run` needs nothing else.
package configs

import (
	"embed"
	"io/fs"
)

// Local is configs/local.yaml, the embedded default.
//
//go:embed local.yaml
var Local []byte

//go:embed holidays/*.yaml
var holidays embed.FS

// Holidays returns configs/holidays/: one <year>.yaml file per year of public
// holidays that due dates skip.
func Holidays() fs.FS {
	sub, err := fs.Sub(holidays, "holidays")
	if err != nil {
		panic(err) // a constant, valid path
	}
	return sub
}

// Signers is configs/signers.yaml, the registered signers of the test PKI
// that signatures.registeredSeed "embedded" loads.
//
//go:embed signers.yaml
var Signers []byte
