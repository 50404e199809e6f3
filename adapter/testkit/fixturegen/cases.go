package fixturegen

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// procedureSpec is testdata/templates/<procedure>/cases.yaml.
type procedureSpec struct {
	Signers         []string   `yaml:"signers"`       // roles required, in signing order
	MissingSigner   []string   `yaml:"missingSigner"` // signers of the missing-role case
	Tamper          valueEdit  `yaml:"tamper"`
	SchemaViolation valueEdit  `yaml:"schemaViolation"`
	Refusal         valueEdit  `yaml:"refusal"`
	LargeLines      *linesEdit `yaml:"largeLines"`
	// UnregisteredSigner, for a procedure that needs registered signers,
	// moves the dossier to a unit the seed (configs/signers.yaml) does not
	// register the test signers for: the unregistered-signer case.
	UnregisteredSigner *valueEdit `yaml:"unregisteredSigner"`
	// The business-rule cases, each optional (a procedure has those its
	// rules in schemas/<procedure>/rules.yaml can break): a total that is not
	// the sum of its parts, an amount in words that is not the amount, a
	// date outside the budget year, an advance recovery above the advances
	// paid, paid to date above the contract value.
	RuleTotal      *valueEdit `yaml:"ruleTotal"`
	RuleWords      *valueEdit `yaml:"ruleWords"`
	RuleDate       *valueEdit `yaml:"ruleDate"`
	RuleAdvance    *valueEdit `yaml:"ruleAdvance"`
	RulePaidToDate *valueEdit `yaml:"rulePaidToDate"`
}

// ruleEdits names the optional business-rule edits of a spec.
func (s procedureSpec) ruleEdits() map[string]*valueEdit {
	return map[string]*valueEdit{"ruleTotal": s.RuleTotal, "ruleWords": s.RuleWords, "ruleDate": s.RuleDate,
		"ruleAdvance": s.RuleAdvance, "rulePaidToDate": s.RulePaidToDate}
}

type valueEdit struct {
	Path  string `yaml:"path"`
	Value string `yaml:"value"`
	// Rules, for a business-rule case, are the ids of the rules the edited
	// dossier breaks, in the order its rule file lists them (expect.json
	// "rules", checked by the replay).
	Rules []string `yaml:"rules"`
}

type linesEdit struct {
	Path  string `yaml:"path"`
	Count int    `yaml:"count"`
}

const maxLargeLines = 1_000_000

func readProcedureSpec(path string) (procedureSpec, error) {
	var s procedureSpec
	data, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("cases: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("cases: %s: %w", path, err)
	}
	if err := s.validate(); err != nil {
		return s, fmt.Errorf("cases: %s: %w", path, err)
	}
	return s, nil
}

func (s procedureSpec) validate() error {
	if len(s.Signers) == 0 {
		return errors.New("signers: empty")
	}
	if len(s.MissingSigner) == 0 {
		return errors.New("missingSigner: empty")
	}
	for name, e := range map[string]valueEdit{"tamper": s.Tamper, "schemaViolation": s.SchemaViolation, "refusal": s.Refusal} {
		if e.Path == "" {
			return fmt.Errorf("%s.path: empty", name)
		}
	}
	if u := s.UnregisteredSigner; u != nil && u.Path == "" {
		return errors.New("unregisteredSigner.path: empty")
	}
	for name, e := range s.ruleEdits() {
		if e != nil && e.Path == "" {
			return fmt.Errorf("%s.path: empty", name)
		}
		if e != nil && len(e.Rules) == 0 {
			return fmt.Errorf("%s.rules: empty (the ids of the rules the case breaks)", name)
		}
	}
	if l := s.LargeLines; l != nil {
		if l.Path == "" {
			return errors.New("largeLines.path: empty")
		}
		if l.Count < 1 || l.Count > maxLargeLines {
			return fmt.Errorf("largeLines.count: %d not in 1..%d", l.Count, maxLargeLines)
		}
	}
	return nil
}

// fixtureCase is one folder under testdata/fixtures/<procedure>/.
type fixtureCase struct {
	name   string
	json   bool
	before func(procedureSpec) *valueEdit // value set before signing
	lines  bool                           // apply largeLines before signing
	// only, when set, limits the case to the procedures it holds for.
	only func(procedureSpec) bool
	// signers returns the signer names; nil means unsigned.
	signers     func(procedureSpec) []string
	alg         string
	after       func(procedureSpec, []byte) ([]byte, error) // body change after signing
	contentType string                                      // "" = by form
	noAuth      bool
	status      int
	code        string
	// files: which listed attachments the case carries, and how.
	files files
	// needsFiles limits the case to templates that list attachments.
	needsFiles bool
}

func required(s procedureSpec) []string { return s.Signers }

func firstReplacedBy(name string) func(procedureSpec) []string {
	return func(s procedureSpec) []string {
		out := append([]string{name}, s.Signers[1:]...)
		return out
	}
}

func tamperXML(s procedureSpec, signed []byte) ([]byte, error) {
	return editXMLPath(signed, s.Tamper)
}

func tamperJSON(s procedureSpec, body []byte) ([]byte, error) {
	n, err := parseJSON(body)
	if err != nil {
		return nil, err
	}
	if err := n.setScalar(s.Tamper.Path, s.Tamper.Value); err != nil {
		return nil, err
	}
	return n.encode()
}

// fixtureCases is every case, in the order that numbers their dossier codes.
// Keep the order stable: appending is fine, inserting renumbers.
var fixtureCases = []fixtureCase{
	{name: "valid-xml", signers: required, status: 202, files: asParts},
	{name: "valid-json", json: true, signers: required, status: 202, files: asUploads},
	{name: "tampered-amount", signers: required, after: tamperXML, status: 400, code: "signature-invalid"},
	{name: "tampered-json", json: true, signers: required, after: tamperJSON, status: 400, code: "signature-invalid"},
	{name: "wrapped-signature", signers: required, after: func(s procedureSpec, b []byte) ([]byte, error) {
		return wrapSignature(b, s.Tamper.Path, s.Tamper.Value)
	}, status: 400, code: "signature-invalid"},
	{name: "unsigned-node", signers: required, after: func(_ procedureSpec, b []byte) ([]byte, error) {
		return addUnsignedNode(b)
	}, status: 400, code: "signature-invalid"},
	{name: "wrong-algorithm", signers: required, alg: "rsa-sha1", status: 400, code: "signature-algorithm-not-allowed"},
	{name: "wrong-algorithm-json", json: true, signers: required, alg: "RS512", status: 400, code: "signature-algorithm-not-allowed"},
	{name: "untrusted-ca", signers: firstReplacedBy("untrusted-signer"), status: 400, code: "certificate-untrusted"},
	{name: "expired", signers: firstReplacedBy("expired"), status: 400, code: "certificate-expired"},
	{name: "revoked", signers: firstReplacedBy("revoked"), status: 400, code: "certificate-revoked"},
	{name: "missing-signer", signers: func(s procedureSpec) []string { return s.MissingSigner }, status: 400, code: "signer-role-missing"},
	{name: "no-signature", status: 400, code: "signature-missing"},
	{name: "no-signature-json", json: true, status: 400, code: "signature-missing"},
	{name: "doctype", signers: required, after: func(_ procedureSpec, b []byte) ([]byte, error) {
		return insertDoctype(b), nil
	}, status: 400, code: "xml-doctype-forbidden"},
	{name: "malformed", signers: required, after: func(_ procedureSpec, b []byte) ([]byte, error) {
		return truncateMiddle(b), nil
	}, status: 400, code: "malformed-body"},
	{name: "schema-violation", before: func(s procedureSpec) *valueEdit { return &s.SchemaViolation }, signers: required, status: 422, code: "schema-violation"},
	{name: "schema-violation-json", json: true, before: func(s procedureSpec) *valueEdit { return &s.SchemaViolation }, signers: required, status: 422, code: "schema-violation"},
	{name: "wrong-content-type", json: true, signers: required, contentType: "text/plain", status: 415, code: "unsupported-media-type"},
	{name: "no-credential", signers: required, noAuth: true, status: 401, code: "unauthorized"},
	{name: "treasury-refusal", before: func(s procedureSpec) *valueEdit { return &s.Refusal }, signers: required, status: 422, code: "treasury-refused", files: asParts},
	{name: "large-payroll", lines: true, signers: required, status: 202, files: asParts},
	{name: "unregistered-signer", before: func(s procedureSpec) *valueEdit { return s.UnregisteredSigner },
		only: func(s procedureSpec) bool { return s.UnregisteredSigner != nil }, signers: required, status: 400, code: "signer-not-registered"},
	ruleCase("rule-wrong-total", false, func(s procedureSpec) *valueEdit { return s.RuleTotal }),
	ruleCase("rule-wrong-total-json", true, func(s procedureSpec) *valueEdit { return s.RuleTotal }),
	ruleCase("rule-wrong-words", false, func(s procedureSpec) *valueEdit { return s.RuleWords }),
	ruleCase("rule-wrong-date-json", true, func(s procedureSpec) *valueEdit { return s.RuleDate }),
	ruleCase("rule-advance-recovery", false, func(s procedureSpec) *valueEdit { return s.RuleAdvance }),
	ruleCase("rule-paid-to-date-json", true, func(s procedureSpec) *valueEdit { return s.RulePaidToDate }),
	// The first listed file is one nobody sends; the others come as parts.
	{name: "attachment-missing", before: missingFirst, signers: required, status: 422, code: "attachment-missing", files: asParts, needsFiles: true},
	// JSON in multipart/related, X-JWS-Signature on the outer request; the
	// first part's bytes are not the listed file's.
	{name: "attachment-mismatch", json: true, signers: required, status: 422, code: "attachment-mismatch", files: partsButFirstAltered, needsFiles: true},
}

// ruleCase is a dossier that breaks a business rule once edit is applied
// before signing: 422 business-rule-violation, for the procedures whose
// cases.yaml has the edit.
func ruleCase(name string, json bool, edit func(procedureSpec) *valueEdit) fixtureCase {
	return fixtureCase{name: name, json: json, before: edit, only: func(s procedureSpec) bool { return edit(s) != nil },
		signers: required, status: 422, code: "business-rule-violation"}
}

// applies reports whether the case exists for this procedure.
func (c fixtureCase) applies(s procedureSpec) bool {
	return (!c.lines || s.LargeLines != nil) && (c.only == nil || c.only(s))
}
