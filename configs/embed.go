// Package configs holds the adapter's configuration files; local.yaml is
// embedded so that `make run` needs nothing else.
package configs

import _ "embed"

// Local is configs/local.yaml, the embedded default.
//
//go:embed local.yaml
var Local []byte
