// Package fixturegen owns the generation of signed test requests: it turns
// the templates under testdata/templates/<procedure>/ (dossier.xml,
// dossier.json, cases.yaml) into the fixture cases under
// testdata/fixtures/<procedure>/<case>/, and signs single templates for
// testers (dvc-sign sign). Signers come from a SignerSource, in practice the
// TEST-ONLY PKI of adapter/testpki. Reading fixtures back is adapter/fixture's
// job.
package fixturegen

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/beevik/etree"
	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// firstCaseSequence is the dossier sequence of fixtureCases[0]; the template's
// own code (…-0000001) is never reused by a fixture.
const firstCaseSequence = 101

// Generate regenerates the fixtures of every procedure under templates that
// has a cases.yaml into out, signing with signers from pki, and returns the
// number of case folders written. Each case folder is replaced; out/README.md
// is rewritten.
func Generate(templates, out string, pki SignerSource) (int, error) {
	return fixtureGenerator{templates: templates, out: out, pki: pki}.run()
}

// fixtureGenerator turns testdata/templates/<procedure>/ into
// testdata/fixtures/<procedure>/<case>/.
type fixtureGenerator struct {
	templates, out string
	pki            SignerSource
}

// run regenerates the fixtures of every procedure that has a cases.yaml and
// returns the number of case folders written.
func (g fixtureGenerator) run() (int, error) {
	procs, err := g.procedures()
	if err != nil {
		return 0, err
	}
	total := 0
	for _, p := range procs {
		n, err := g.procedure(p)
		if err != nil {
			return total, fmt.Errorf("fixtures: %s: %w", p, err)
		}
		total += n
	}
	if err := os.WriteFile(filepath.Join(g.out, "README.md"), []byte(fixturesReadme()), 0o644); err != nil {
		return total, fmt.Errorf("fixtures: %w", err)
	}
	return total, nil
}

func (g fixtureGenerator) procedures() ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(g.templates, "*", "cases.yaml"))
	if err != nil {
		return nil, fmt.Errorf("fixtures: %w", err)
	}
	if len(matches) == 0 {
		return nil, fmt.Errorf("fixtures: no */cases.yaml under %s", g.templates)
	}
	var procs []string
	for _, m := range matches {
		procs = append(procs, filepath.Base(filepath.Dir(m)))
	}
	sort.Strings(procs)
	return procs, nil
}

// procedureTemplates is what one procedure's template folder holds.
type procedureTemplates struct {
	spec      procedureSpec
	xml, json []byte
	code      string // the template's dossier code
	// files are what the template lists (dinhKem[]), read from
	// <templates>/../attachments/<procedure>/.
	files []attachment
}

func (g fixtureGenerator) load(proc string) (procedureTemplates, error) {
	dir := filepath.Join(g.templates, proc)
	var t procedureTemplates
	var err error
	if t.spec, err = readProcedureSpec(filepath.Join(dir, "cases.yaml")); err != nil {
		return t, err
	}
	if t.xml, err = os.ReadFile(filepath.Join(dir, "dossier.xml")); err != nil {
		return t, err
	}
	if t.json, err = os.ReadFile(filepath.Join(dir, "dossier.json")); err != nil {
		return t, err
	}
	tree, err := parseXML(t.xml)
	if err != nil {
		return t, err
	}
	el, err := xmlFind(tree.Root(), codeElement)
	if err != nil {
		return t, err
	}
	t.code = strings.TrimSpace(el.Text())
	if t.files, err = loadAttachments(t.json, filepath.Join(filepath.Dir(filepath.Clean(g.templates)), "attachments", proc)); err != nil {
		return t, err
	}
	return t, nil
}

func (g fixtureGenerator) procedure(proc string) (int, error) {
	t, err := g.load(proc)
	if err != nil {
		return 0, err
	}
	written := 0
	for i, c := range fixtureCases {
		dir := filepath.Join(g.out, proc, c.name)
		if err := os.RemoveAll(dir); err != nil {
			return written, err
		}
		if !c.applies(t.spec) || (c.needsFiles && len(t.files) == 0) {
			continue
		}
		code, err := withSequence(t.code, firstCaseSequence+i)
		if err != nil {
			return written, err
		}
		body, hdr, err := g.build(c, t, code)
		if err != nil {
			return written, fmt.Errorf("%s: %w", c.name, err)
		}
		var rules []string
		if c.code == "business-rule-violation" {
			rules = c.before(t.spec).Rules
		}
		if err := writeCase(dir, c, body, hdr, rules...); err != nil {
			return written, fmt.Errorf("%s: %w", c.name, err)
		}
		files := t.files
		if c.name == "attachment-missing" && len(files) > 0 {
			files = files[1:] // the first is listed under neverSent
		}
		if err := writeFiles(dir, c.files, files); err != nil {
			return written, fmt.Errorf("%s: %w", c.name, err)
		}
		written++
	}
	return written, nil
}

// build returns the request body and headers of one case.
func (g fixtureGenerator) build(c fixtureCase, t procedureTemplates, code string) ([]byte, headerSet, error) {
	var signers []signing.Signer
	if c.signers != nil {
		var err error
		if signers, err = g.pki.Signers(c.signers(t.spec)); err != nil {
			return nil, headerSet{}, err
		}
	}
	var edit *valueEdit
	if c.before != nil {
		edit = c.before(t.spec)
	}
	hdr := headerSet{contentType: c.contentType, token: DevPortalToken}
	if c.noAuth {
		hdr.token = ""
	}
	var body []byte
	var err error
	if c.json {
		if hdr.contentType == "" {
			hdr.contentType = "application/json"
		}
		body, err = prepareJSON(t, code, edit, c.lines)
		if err == nil && len(signers) > 0 {
			hdr.jws, err = signJSON(body, c.alg, signers)
		}
	} else {
		if hdr.contentType == "" {
			hdr.contentType = "application/xml"
		}
		body, err = prepareXML(t, code, edit, c.lines)
		if err == nil && len(signers) > 0 {
			body, err = signing.SignXML(body, signing.XMLOptions{SignatureMethod: c.alg}, signers...)
		}
	}
	if err == nil && c.after != nil {
		body, err = c.after(t.spec, body)
	}
	return body, hdr, err
}

func prepareXML(t procedureTemplates, code string, edit *valueEdit, lines bool) ([]byte, error) {
	return editXML(t.xml, func(root *etree.Element) error {
		if err := xmlSetCode(root, code); err != nil {
			return err
		}
		if edit != nil {
			if err := xmlSetPath(root, edit.Path, edit.Value); err != nil {
				return err
			}
		}
		if lines {
			return xmlReplicateLines(root, t.spec.LargeLines.Path, t.spec.LargeLines.Count)
		}
		return nil
	})
}

func prepareJSON(t procedureTemplates, code string, edit *valueEdit, lines bool) ([]byte, error) {
	n, err := parseJSON(t.json)
	if err != nil {
		return nil, err
	}
	if err := n.setScalar(codeElement, code); err != nil {
		return nil, err
	}
	if edit != nil {
		if err := n.setScalar(edit.Path, edit.Value); err != nil {
			return nil, err
		}
	}
	if lines {
		if err := n.replicateLines(t.spec.LargeLines.Path, t.spec.LargeLines.Count); err != nil {
			return nil, err
		}
	}
	return n.encode()
}

func editXMLPath(doc []byte, e valueEdit) ([]byte, error) {
	return editXML(doc, func(root *etree.Element) error { return xmlSetPath(root, e.Path, e.Value) })
}

// withSequence replaces the final run of digits of code by seq, zero-padded to
// the same width.
func withSequence(code string, seq int) (string, error) {
	i := len(code)
	for i > 0 && code[i-1] >= '0' && code[i-1] <= '9' {
		i--
	}
	if i == len(code) {
		return "", fmt.Errorf("dossier code %q does not end in a sequence number", code)
	}
	return fmt.Sprintf("%s%0*d", code[:i], len(code)-i, seq), nil
}

// expectation is expect.json.
type expectation struct {
	Status int      `json:"status"`
	Code   string   `json:"code,omitempty"`
	Rules  []string `json:"rules,omitempty"`
}

// writeCase writes the case folder; rules are the business rules the answer
// must list (expect.json "rules"), for a business-rule case.
func writeCase(dir string, c fixtureCase, body []byte, hdr headerSet, rules ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := "request.xml"
	if c.json {
		name = "request.json"
	}
	exp, err := json.Marshal(expectation{Status: c.status, Code: c.code, Rules: rules})
	if err != nil {
		return err
	}
	return errors.Join(
		os.WriteFile(filepath.Join(dir, name), body, 0o644),
		os.WriteFile(filepath.Join(dir, "headers.txt"), hdr.bytes(), 0o644),
		os.WriteFile(filepath.Join(dir, "expect.json"), append(exp, '\n'), 0o644),
	)
}

func fixturesReadme() string {
	var b strings.Builder
	b.WriteString(`# Fixtures (generated: do not edit by hand)

Regenerate with ` + "`go run ./cmd/dvc-sign fixtures -templates testdata/templates -pki testdata/pki -out testdata/fixtures`" + `
after changing a template under ` + "`testdata/templates/<procedure>/`" + ` or the test PKI.

Each ` + "`<procedure>/<case>/`" + ` holds ` + "`request.xml`" + ` or ` + "`request.json`" + ` (the exact body
bytes: never reformat them, the signatures cover them), ` + "`headers.txt`" + ` (` + "`Name: value`" + `
lines) and ` + "`expect.json`" + ` (` + "`status`" + `, the problem ` + "`code`" + `, and for a business-rule case the ` +
		"`rules`" + ` ids the answer lists, in order, as ` + "`cases.yaml`" + ` names them); a case whose dossier lists attachments (` + "`dinhKem[]`" + `, files from
` + "`testdata/attachments/<procedure>/`" + `) may hold ` + "`parts/<sha256>.<ext>`" + ` (sent with the dossier as
` + "`multipart/related`" + `, Content-ID the file name's stem) or ` + "`uploads/<sha256>.<ext>`" + ` (uploaded to
` + "`PUT /v1/attachments/<sha256>`" + ` before the dossier). Every case has its own dossier code: the template's final
sequence number is replaced by ` + fmt.Sprint(firstCaseSequence) + ` for the first case below, the next
number for the next case, and so on.
Certificates come from ` + "`testdata/pki/`" + ` (TEST ONLY); signatures do not depend on the
clock, the certificates are valid from 2025 to 2050.

| case | form | expected |
|---|---|---|
`)
	for _, c := range fixtureCases {
		form := "XML"
		if c.json {
			form = "JSON"
		}
		exp := fmt.Sprint(c.status)
		if c.code != "" {
			exp += " " + c.code
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.name, form, exp)
	}
	b.WriteString("\n`large-payroll` exists only for procedures whose cases.yaml has `largeLines`, " +
		"`unregistered-signer` for those with `unregisteredSigner`; the `rule-…` cases each break a business rule of " +
		"`schemas/<procedure>/rules.yaml` and exist for those with `ruleTotal` (`rule-wrong-total`, `rule-wrong-total-json`), " +
		"`ruleWords` (`rule-wrong-words`), `ruleDate` (`rule-wrong-date-json`), `ruleAdvance` (`rule-advance-recovery`) " +
		"and `rulePaidToDate` (`rule-paid-to-date-json`); `attachment-missing` and `attachment-mismatch` only for templates that list attachments.\n")
	return b.String()
}
