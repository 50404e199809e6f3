package rules

import (
	"fmt"
	"strings"

	"github.com/kbnn/dvc/adapter/problem"
)

// Broken is one failing rule as the problem body lists it under "rules", in the language of
// the request.
type Broken struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Paths   []string `json:"paths"`
	Message string   `json:"message"`
}

// Problem is the refusal of a dossier that breaks the rules in vs: 422
// business-rule-violation. Its "rules" member lists every violation (rule id, kind, JSON
// Pointers of the failing fields, message) and "errors" every failing field with the rule it
// breaks, so that a client reading only field paths finds them too; messages are Vietnamese
// with Accept-Language: vi.
func Problem(vs []Violation) *problem.Error {
	ids := make([]string, 0, len(vs))
	en := make([]Broken, len(vs))
	vi := make([]Broken, len(vs))
	var fields []problem.FieldError
	for i, v := range vs {
		if len(ids) == 0 || ids[len(ids)-1] != v.ID {
			ids = append(ids, v.ID)
		}
		en[i] = Broken{ID: v.ID, Kind: v.Kind, Paths: v.Paths, Message: v.Message}
		vi[i] = Broken{ID: v.ID, Kind: v.Kind, Paths: v.Paths, Message: v.MessageVi}
		for _, p := range v.Paths {
			fields = append(fields, problem.FieldError{Path: p, Message: v.Message, MessageVI: v.MessageVi, Rule: v.ID})
		}
	}
	list := strings.Join(ids, ", ")
	e := problem.New(problem.BusinessRuleViolation, fmt.Sprintf("The dossier breaks %d business rule(s): %s.", len(ids), list)).
		VI(fmt.Sprintf("Hồ sơ vi phạm %d quy tắc nghiệp vụ: %s.", len(ids), list))
	e.Fields = fields
	e.Extra = map[string]any{"rules": en}
	e.ExtraVI = map[string]any{"rules": vi}
	return e
}
