// Package schemas owns the JSON Schemas (draft 2020-12) of the project's contracts and embeds
// them: <procedure>/dossier.schema.json is the one definition of each procedure's dossier
// (its XML and JSON forms alike; dossier.xsd is generated from it for integrators),
// withdrawal/withdrawal.schema.json the one definition of a withdrawal request (withdrawal.xsd
// likewise), and treasury/ holds the adapter → treasury contract (one <name>.schema.json per
// message and openapi.yaml describing the routes). Each schema's $id is
// https://kbnn.gov.vn/dvc/schemas/<folder>/<file>; the path after /schemas/ is the file's path
// in FS.
package schemas

import "embed"

// FS holds the schema files, addressed by their path under schemas/ (e.g.
// "treasury/send-document-request.schema.json", "chi-thuong-xuyen/dossier.schema.json",
// "withdrawal/withdrawal.schema.json").
//
//go:embed all:treasury */dossier.schema.json */dossier.xsd */forms.yaml */rules.yaml withdrawal/withdrawal.schema.json withdrawal/withdrawal.xsd
var FS embed.FS
