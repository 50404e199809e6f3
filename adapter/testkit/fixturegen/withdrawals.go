package fixturegen

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/beevik/etree"
	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// Withdrawal fixtures: testdata/templates/<procedure>/withdrawal.xml and withdrawal.json are
// unsigned withdrawal requests (schemas/withdrawal/withdrawal.schema.json); they become the
// cases under testdata/withdrawals/<procedure>/<case>/, laid out like the submission
// fixtures (request.xml or request.json, headers.txt, expect.json) and read with
// adapter/testkit/fixture. Each is posted to /v1/procedures/<procedure>/dossiers/<maHoSo>/
// withdrawal, and its expectation holds once that procedure's valid-xml and valid-json
// fixtures were submitted (and not yet paid).
const (
	withdrawalXMLTemplate  = "withdrawal.xml"
	withdrawalJSONTemplate = "withdrawal.json"
	withdrawalIDPrefix     = "RHS-"
	// withdrawalSigner is the role that signs a withdrawal: the unit's account holder.
	withdrawalSigner = "chu-tai-khoan"
	// unknownSequence is the dossier sequence of the withdrawal of a dossier no fixture
	// submits.
	unknownSequence = 999
)

// withdrawalCase is one folder under testdata/withdrawals/<procedure>/.
type withdrawalCase struct {
	name string
	json bool
	// target is the submission case whose dossier is withdrawn; "" means a dossier no
	// fixture submits.
	target  string
	signers []string
	before  *valueEdit                   // value set before signing
	after   func([]byte) ([]byte, error) // body change after signing
	status  int
	code    string
}

// withdrawalCases is every withdrawal case. Keep the order stable: the README lists them in it.
var withdrawalCases = []withdrawalCase{
	{name: "withdrawal-xml", target: "valid-xml", signers: []string{withdrawalSigner}, status: 202},
	{name: "withdrawal-json", json: true, target: "valid-json", signers: []string{withdrawalSigner}, status: 202},
	{name: "withdrawal-unsigned", target: "valid-xml", status: 400, code: "signature-missing"},
	{name: "withdrawal-wrong-signer", target: "valid-xml", signers: []string{"ke-toan-truong"}, status: 400, code: "signer-role-missing"},
	{name: "withdrawal-tampered", target: "valid-xml", signers: []string{withdrawalSigner}, after: func(b []byte) ([]byte, error) {
		return editXMLPath(b, valueEdit{Path: "lyDo", Value: "Rút hồ sơ theo yêu cầu"})
	}, status: 400, code: "signature-invalid"},
	{name: "withdrawal-schema-violation", json: true, target: "valid-json", signers: []string{withdrawalSigner},
		before: &valueEdit{Path: "maDVQHNS", Value: "12AB"}, status: 422, code: "schema-violation"},
	{name: "withdrawal-unknown-dossier", json: true, signers: []string{withdrawalSigner}, status: 404, code: "not-found"},
}

// GenerateWithdrawals regenerates the withdrawal fixtures of every procedure under templates
// that has a cases.yaml, a withdrawal.xml and a withdrawal.json into out, signing with signers
// from pki, and returns the number of case folders written. Each case folder is replaced;
// out/README.md is rewritten. Without any withdrawal template nothing is written.
func GenerateWithdrawals(templates, out string, pki SignerSource) (int, error) {
	procs, err := fixtureGenerator{templates: templates}.procedures()
	if err != nil {
		return 0, err
	}
	total := 0
	for _, p := range procs {
		n, err := generateWithdrawals(filepath.Join(templates, p), filepath.Join(out, p), pki)
		if err != nil {
			return total, fmt.Errorf("withdrawals: %s: %w", p, err)
		}
		total += n
	}
	if total == 0 {
		return 0, nil
	}
	if err := os.WriteFile(filepath.Join(out, "README.md"), []byte(withdrawalsReadme()), 0o644); err != nil {
		return total, fmt.Errorf("withdrawals: %w", err)
	}
	return total, nil
}

// withdrawalTemplates returns the procedure's withdrawal templates; ok is false when it has
// none (either one alone is an error).
func withdrawalTemplates(dir string) (xmlDoc, jsonDoc []byte, ok bool, err error) {
	xmlDoc, xerr := os.ReadFile(filepath.Join(dir, withdrawalXMLTemplate))
	jsonDoc, jerr := os.ReadFile(filepath.Join(dir, withdrawalJSONTemplate))
	switch {
	case errors.Is(xerr, os.ErrNotExist) && errors.Is(jerr, os.ErrNotExist):
		return nil, nil, false, nil
	case xerr != nil:
		return nil, nil, false, xerr
	case jerr != nil:
		return nil, nil, false, jerr
	}
	return xmlDoc, jsonDoc, true, nil
}

func generateWithdrawals(dir, out string, pki SignerSource) (int, error) {
	xmlDoc, jsonDoc, ok, err := withdrawalTemplates(dir)
	if err != nil || !ok {
		return 0, err
	}
	tree, err := parseXML(xmlDoc)
	if err != nil {
		return 0, err
	}
	el, err := xmlFind(tree.Root(), codeElement)
	if err != nil {
		return 0, err
	}
	templateCode := strings.TrimSpace(el.Text())
	written := 0
	for _, c := range withdrawalCases {
		seq := unknownSequence
		if c.target != "" {
			if seq, err = caseSequence(c.target); err != nil {
				return written, err
			}
		}
		code, err := withSequence(templateCode, seq)
		if err != nil {
			return written, err
		}
		body, hdr, err := buildWithdrawal(c, xmlDoc, jsonDoc, code, pki)
		if err != nil {
			return written, fmt.Errorf("%s: %w", c.name, err)
		}
		caseDir := filepath.Join(out, c.name)
		if err := os.RemoveAll(caseDir); err != nil {
			return written, err
		}
		if err := writeCase(caseDir, fixtureCase{json: c.json, status: c.status, code: c.code}, body, hdr); err != nil {
			return written, fmt.Errorf("%s: %w", c.name, err)
		}
		written++
	}
	return written, nil
}

// caseSequence is the dossier sequence of the submission case named name.
func caseSequence(name string) (int, error) {
	for i, c := range fixtureCases {
		if c.name == name {
			return firstCaseSequence + i, nil
		}
	}
	return 0, fmt.Errorf("no submission case %q", name)
}

// buildWithdrawal returns the request body and headers of one withdrawal case.
func buildWithdrawal(c withdrawalCase, xmlDoc, jsonDoc []byte, code string, pki SignerSource) ([]byte, headerSet, error) {
	var signers []signing.Signer
	if len(c.signers) > 0 {
		var err error
		if signers, err = pki.Signers(c.signers); err != nil {
			return nil, headerSet{}, err
		}
	}
	hdr := headerSet{token: DevPortalToken}
	var body []byte
	var err error
	if c.json {
		hdr.contentType = "application/json"
		var n *jsonNode
		if n, err = parseJSON(jsonDoc); err != nil {
			return nil, hdr, err
		}
		if err = n.setScalar(codeElement, code); err == nil && c.before != nil {
			err = n.setScalar(c.before.Path, c.before.Value)
		}
		if err == nil {
			body, err = n.encode()
		}
		if err == nil && len(signers) > 0 {
			hdr.jws, err = signJSON(body, "", signers)
		}
	} else {
		hdr.contentType = "application/xml"
		body, err = editXML(xmlDoc, func(root *etree.Element) error {
			if err := xmlSetPath(root, codeElement, code); err != nil {
				return err
			}
			root.CreateAttr("Id", withdrawalIDPrefix+code)
			if c.before != nil {
				return xmlSetPath(root, c.before.Path, c.before.Value)
			}
			return nil
		})
		if err == nil && len(signers) > 0 {
			body, err = signing.SignXML(body, signing.XMLOptions{}, signers...)
		}
	}
	if err == nil && c.after != nil {
		body, err = c.after(body)
	}
	return body, hdr, err
}

func withdrawalsReadme() string {
	var b strings.Builder
	b.WriteString(`# Withdrawal fixtures (generated: do not edit by hand)

Regenerated with the submission fixtures: ` + "`go run ./cmd/dvc-sign fixtures -templates testdata/templates -pki testdata/pki -out testdata/fixtures`" + `
(withdrawals go beside the fixtures, in ` + "`testdata/withdrawals`" + `, unless ` + "`-withdrawals`" + ` says otherwise),
from ` + "`testdata/templates/<procedure>/withdrawal.xml`" + ` and ` + "`withdrawal.json`" + `.

Each ` + "`<procedure>/<case>/`" + ` holds ` + "`request.xml`" + ` or ` + "`request.json`" + `, ` + "`headers.txt`" + ` and
` + "`expect.json`" + `, like the submission fixtures. POST the body to
` + "`/v1/procedures/<procedure>/dossiers/<maHoSo>/withdrawal`" + ` (` + "`maHoSo`" + ` is the request's). The
expectations hold once the procedure's ` + "`valid-xml`" + ` and ` + "`valid-json`" + ` fixtures were submitted
and before the treasury paid them: the XML withdrawal withdraws the ` + "`valid-xml`" + ` dossier, the JSON
one the ` + "`valid-json`" + ` dossier. Signed by the account holder (` + "`chu-tai-khoan`" + `) of
` + "`testdata/pki/`" + ` (TEST ONLY), but for ` + "`withdrawal-unsigned`" + ` and ` + "`withdrawal-wrong-signer`" + ` (the chief accountant).

| case | form | withdraws | expected |
|---|---|---|---|
`)
	for _, c := range withdrawalCases {
		form := "XML"
		if c.json {
			form = "JSON"
		}
		target := c.target
		if target == "" {
			target = fmt.Sprintf("a dossier no fixture submits (sequence %d)", unknownSequence)
		}
		exp := fmt.Sprint(c.status)
		if c.code != "" {
			exp += " " + c.code
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.name, form, target, exp)
	}
	return b.String()
}
