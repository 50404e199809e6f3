package treasurysim

import (
	"bytes"
	_ "embed"
	"fmt"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Reason codes of the simulator's refusals.
const (
	ReasonInvalidRequest    = "INVALID_REQUEST"
	ReasonInvalidClient     = "INVALID_CLIENT"
	ReasonInvalidToken      = "INVALID_TOKEN"
	ReasonNotFound          = "NOT_FOUND"
	ReasonUnknownBudgetUnit = "DVQHNS_KHONG_TON_TAI"
	ReasonUnknownOffice     = "KBNN_KHONG_TON_TAI"
	ReasonNoAllotment       = "KHONG_CO_DU_TOAN"
	ReasonOverAllotment     = "VUOT_DU_TOAN"
)

//go:embed allotments.yaml
var allotmentsYAML []byte

// refusal is a treasury refusal: HTTP status, reason code and message.
type refusal struct {
	status     int
	ReasonCode string `json:"reasonCode"`
	Message    string `json:"message,omitempty"`
}

// allotmentKey identifies one allotment of a budget unit.
type allotmentKey struct{ chapter, item string }

// deduction is what one document took from one allotment of its unit.
type deduction struct {
	key    allotmentKey
	amount int64
}

// ledger holds the reference data and what remains of every allotment. It is not safe for
// concurrent use; store serialises access.
type ledger struct {
	offices   map[string]bool
	remaining map[string]map[allotmentKey]int64 // unit → (chapter, item) → VND
	unlimited bool                              // no amount compared, nothing deducted
}

var (
	unitPattern    = regexp.MustCompile(`^[0-9]{7}$`)
	officePattern  = regexp.MustCompile(`^[0-9]{4}$`)
	chapterPattern = regexp.MustCompile(`^[0-9]{3}$`)
	itemPattern    = regexp.MustCompile(`^[0-9]{4}$`)
)

// vnd is an amount in the YAML file. yaml.v3 silently truncates 1.5 into an int64, so amounts
// are parsed from the node's text: plain decimal digits only.
type vnd int64

func (v *vnd) UnmarshalYAML(n *yaml.Node) error {
	i, err := strconv.ParseInt(n.Value, 10, 64)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil {
		return fmt.Errorf("line %d: amount %q is not an integer number of VND", n.Line, n.Value)
	}
	*v = vnd(i)
	return nil
}

// parseLedger reads the reference data strictly: unknown keys, malformed codes and negative
// amounts are errors.
func parseLedger(data []byte) (*ledger, error) {
	var file struct {
		TreasuryOffices []string                             `yaml:"treasuryOffices"`
		BudgetUnits     map[string]map[string]map[string]vnd `yaml:"budgetUnits"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("allotments: %w", err)
	}
	l := &ledger{offices: map[string]bool{}, remaining: map[string]map[allotmentKey]int64{}}
	for _, o := range file.TreasuryOffices {
		if !officePattern.MatchString(o) {
			return nil, fmt.Errorf("allotments: treasuryOffices: %q is not 4 digits", o)
		}
		l.offices[o] = true
	}
	for unit, chapters := range file.BudgetUnits {
		if !unitPattern.MatchString(unit) {
			return nil, fmt.Errorf("allotments: budgetUnits: %q is not 7 digits", unit)
		}
		m := map[allotmentKey]int64{}
		for chapter, items := range chapters {
			if !chapterPattern.MatchString(chapter) {
				return nil, fmt.Errorf("allotments: budgetUnits.%s: chapter %q is not 3 digits", unit, chapter)
			}
			for item, amount := range items {
				if !itemPattern.MatchString(item) {
					return nil, fmt.Errorf("allotments: budgetUnits.%s.%s: item %q is not 4 digits", unit, chapter, item)
				}
				if amount < 0 {
					return nil, fmt.Errorf("allotments: budgetUnits.%s.%s.%s: negative amount", unit, chapter, item)
				}
				m[allotmentKey{chapter, item}] = int64(amount)
			}
		}
		l.remaining[unit] = m
	}
	if len(l.offices) == 0 || len(l.remaining) == 0 {
		return nil, fmt.Errorf("allotments: no treasury offices or no budget units")
	}
	return l, nil
}

// reserve applies the business rules to a document and, when it passes, deducts its lines
// from the allotments and returns what it deducted, per allotment (nothing with unlimited
// allotments). A refused document deducts nothing. Every line is checked for an allotment
// before any amount is compared, so KHONG_CO_DU_TOAN wins over VUOT_DU_TOAN.
func (l *ledger) reserve(req *sendRequest) ([]deduction, *refusal) {
	allot, ok := l.remaining[req.BudgetUnitCode]
	if !ok {
		return nil, refuse422(ReasonUnknownBudgetUnit, "budget-using unit %s is not known", req.BudgetUnitCode)
	}
	if !l.offices[req.TreasuryOfficeCode] {
		return nil, refuse422(ReasonUnknownOffice, "treasury office %s is not known", req.TreasuryOfficeCode)
	}
	var order []allotmentKey
	need := map[allotmentKey]int64{}
	lines := req.booked()
	for _, ln := range lines {
		k := allotmentKey{ln.BudgetLine.Chapter, ln.BudgetLine.Item}
		if _, ok := allot[k]; !ok {
			return nil, refuse422(ReasonNoAllotment, "no allotment for unit %s chapter %s item %s",
				req.BudgetUnitCode, k.chapter, k.item)
		}
		if ln.Amount < 0 {
			return nil, &refusal{status: 400, ReasonCode: ReasonInvalidRequest, Message: "negative amount"}
		}
		if _, seen := need[k]; !seen {
			order = append(order, k)
			need[k] = 0
		}
	}
	if l.unlimited {
		return nil, nil
	}
	for _, ln := range lines {
		k := allotmentKey{ln.BudgetLine.Chapter, ln.BudgetLine.Item}
		// need[k] <= allot[k] holds here, so this comparison cannot overflow.
		if ln.Amount > allot[k]-need[k] {
			return nil, refuse422(ReasonOverAllotment,
				"lines for chapter %s item %s exceed the remaining allotment %d of unit %s",
				k.chapter, k.item, allot[k], req.BudgetUnitCode)
		}
		need[k] += ln.Amount
	}
	taken := make([]deduction, len(order))
	for i, k := range order {
		allot[k] -= need[k]
		taken[i] = deduction{k, need[k]}
	}
	return taken, nil
}

// release gives back to a unit's allotments what reserve deducted for one document.
func (l *ledger) release(unit string, taken []deduction) {
	allot := l.remaining[unit]
	for _, t := range taken {
		if _, ok := allot[t.key]; ok {
			allot[t.key] += t.amount
		}
	}
}

// remainingOf reports what remains of one allotment, and whether it exists.
func (l *ledger) remainingOf(unit, chapter, item string) (int64, bool) {
	v, ok := l.remaining[unit][allotmentKey{chapter, item}]
	return v, ok
}
