package schemas

import (
	"testing"

	"github.com/kbnn/dvc/adapter/rules"
)

// Every rule kind the engine has can appear in a 422 business-rule-violation
// body as the OpenAPI describes it: a kind added to adapter/rules and not to
// BrokenRule.kind fails here.
func TestEveryRuleKindIsInTheOpenAPI(t *testing.T) {
	doc := loadOpenAPI(t)
	s := newOpenAPISchemas(t, doc)
	problemSchema := s.at("/components/schemas/Problem")
	for _, k := range rules.Kinds() {
		e := rules.Problem([]rules.Violation{{ID: "tai-lieu-chinh-dau-tien", Kind: k,
			Paths: []string{"/taiLieu/0/mauSo"}, Message: "m", MessageVi: "v"}})
		if err := problemSchema.Validate(asJSON(t, e.Body("5d0c2a7e9b1f4c3a8e6d7f10"))); err != nil {
			t.Errorf("kind %s: %v", k, err)
		}
	}
}
