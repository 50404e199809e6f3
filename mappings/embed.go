// Package mappings owns the mapping data that turns a dossier of each procedure into the
// treasury's SendDocument request: <procedure>/mapping.yaml (one field table per procedure)
// and codes/<table>.yaml (code tables), read by adapter/mapping; and each procedure's
// lifecycle on the portal, <procedure>/status.yaml, read by adapter/statusmap. The formats are
// described in README.md.
package mappings

import "embed"

// FS holds the mapping files (field tables, status tables, code tables),
// addressed by their path under mappings/ (e.g. "tai-khoan/status.yaml",
// "chi-thuong-xuyen/mapping.yaml", "codes/tinh-chat.yaml").
//
//go:embed */mapping.yaml */status.yaml codes/*.yaml
var FS embed.FS
