package rules

import (
	"fmt"
	"strings"

	"github.com/kbnn/dvc/adapter/problem"
)

// Problem is the refusal of a dossier that breaks the rules in vs: 422
// business-rule-violation whose "rules" member lists every violation (id, kind, field paths,
// English and Vietnamese message), the same in both languages.
func Problem(vs []Violation) *problem.Error {
	ids := make([]string, len(vs))
	for i, v := range vs {
		ids[i] = v.ID
	}
	list := strings.Join(ids, ", ")
	e := problem.New(problem.BusinessRuleViolation, fmt.Sprintf("%d business rule(s) broken: %s", len(vs), list)).
		VI(fmt.Sprintf("Hồ sơ vi phạm %d quy tắc nghiệp vụ: %s", len(vs), list))
	e.Extra = map[string]any{"rules": vs}
	return e
}
