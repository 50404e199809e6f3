package replay

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/fixture"
)

// FormatAttempt renders one attempt as a console line:
//
//	PASS chi-thuong-xuyen/valid-xml status=202 code=- (expected 202) 12ms
//	FAIL tai-khoan/bad-sig status=202 code=- (expected 400 signature-invalid) 9ms
//
// With repeat > 1 the case name gets "#<round>". An attempt without a
// usable answer ends with ": <error>".
func FormatAttempt(c fixture.Case, a Attempt, repeat int) string {
	var b strings.Builder
	if a.Passed() {
		b.WriteString("PASS ")
	} else {
		b.WriteString("FAIL ")
	}
	b.WriteString(c.String())
	if repeat > 1 {
		fmt.Fprintf(&b, "#%d", a.Round)
	}
	fmt.Fprintf(&b, " status=%s code=%s (expected %s) %dms",
		orDash(a.Status), orDashString(a.Code), expectation(c.Expect), a.Duration.Milliseconds())
	if a.Err != nil {
		fmt.Fprintf(&b, ": %v", a.Err)
	}
	return b.String()
}

// FormatFailure renders a case-level failure (treasury check) as a line.
func FormatFailure(c fixture.Case, failure string) string {
	return "FAIL " + c.String() + " " + failure
}

func expectation(e fixture.Expect) string {
	if e.Code == "" {
		return strconv.Itoa(e.Status)
	}
	return strconv.Itoa(e.Status) + " " + e.Code
}

func orDash(status int) string {
	if status == 0 {
		return "-"
	}
	return strconv.Itoa(status)
}

func orDashString(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Tally counts results.
type Tally struct{ Cases, Passed, Failed int }

func (t *Tally) add(r Result) {
	t.Cases++
	if r.Passed() {
		t.Passed++
	} else {
		t.Failed++
	}
}

// Count tallies results over all procedures.
func Count(results []Result) Tally {
	var t Tally
	for _, r := range results {
		t.add(r)
	}
	return t
}

// WriteSummary writes a table of cases, passed and failed per procedure (in
// the order the procedures first appear) with a total row, then a last line
// "N passed, M failed". A case passes when every attempt and check passed.
func WriteSummary(w io.Writer, results []Result) error {
	var (
		order []string
		per   = map[string]*Tally{}
	)
	for _, r := range results {
		t := per[r.Case.Procedure]
		if t == nil {
			t = &Tally{}
			per[r.Case.Procedure] = t
			order = append(order, r.Case.Procedure)
		}
		t.add(r)
	}
	total := Count(results)
	width := len("procedure")
	for _, p := range order {
		width = max(width, len(p))
	}
	var b strings.Builder
	row := func(name string, cases, passed, failed any) {
		fmt.Fprintf(&b, "%-*s  %5v  %6v  %6v\n", width, name, cases, passed, failed)
	}
	row("procedure", "cases", "passed", "failed")
	for _, p := range order {
		t := per[p]
		row(p, t.Cases, t.Passed, t.Failed)
	}
	row("total", total.Cases, total.Passed, total.Failed)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("replay: summary: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%d passed, %d failed\n", total.Passed, total.Failed); err != nil {
		return fmt.Errorf("replay: summary: %w", err)
	}
	return nil
}

// JUnit report types: one testsuite per procedure, one testcase per case.
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name     string      `xml:"name,attr"`
		Tests    int         `xml:"tests,attr"`
		Failures int         `xml:"failures,attr"`
		Errors   int         `xml:"errors,attr"`
		Time     string      `xml:"time,attr"`
		Cases    []junitCase `xml:"testcase"`
	}
	junitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *junitProblem `xml:"failure,omitempty"`
		Error     *junitProblem `xml:"error,omitempty"`
	}
	junitProblem struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
)

// WriteJUnit writes a JUnit XML report: a case whose attempt got no usable
// answer is an <error>, any other failing case a <failure> whose text lists
// every reason. The name is the report's name (e.g. "dvc-replay").
func WriteJUnit(w io.Writer, name string, results []Result) error {
	report := junitSuites{Name: name}
	var (
		total time.Duration
		spent []time.Duration // per suite
		index = map[string]int{}
	)
	for _, r := range results {
		i, ok := index[r.Case.Procedure]
		if !ok {
			i = len(report.Suites)
			index[r.Case.Procedure] = i
			report.Suites = append(report.Suites, junitSuite{Name: r.Case.Procedure})
			spent = append(spent, 0)
		}
		s := &report.Suites[i]
		tc := junitCase{Name: r.Case.Name, Classname: r.Case.Procedure, Time: seconds(r.Duration())}
		if !r.Passed() {
			p, isError := problemOf(r)
			if isError {
				tc.Error = p
				s.Errors++
				report.Errors++
			} else {
				tc.Failure = p
				s.Failures++
				report.Failures++
			}
		}
		s.Tests++
		report.Tests++
		s.Cases = append(s.Cases, tc)
		spent[i] += r.Duration()
		total += r.Duration()
	}
	for i := range report.Suites {
		report.Suites[i].Time = seconds(spent[i])
	}
	report.Time = seconds(total)

	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("replay: junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(report); err != nil {
		return fmt.Errorf("replay: junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("replay: junit: %w", err)
	}
	return nil
}

// problemOf describes a failing result for JUnit, and whether it is an
// error (no usable answer) rather than a mismatch.
func problemOf(r Result) (*junitProblem, bool) {
	var (
		reasons []string
		isError bool
	)
	if len(r.Attempts) == 0 {
		reasons = append(reasons, "not sent")
		isError = true
	}
	for _, a := range r.Attempts {
		if a.Passed() {
			continue
		}
		isError = isError || a.Err != nil
		reasons = append(reasons, fmt.Sprintf("attempt %d: %s (status=%s code=%s, expected %s)",
			a.Round, a.Failure, orDash(a.Status), orDashString(a.Code), expectation(r.Case.Expect)))
	}
	reasons = append(reasons, r.Failures...)
	kind := "mismatch"
	if isError {
		kind = "error"
	}
	return &junitProblem{Message: reasons[0], Type: kind, Text: strings.Join(reasons, "\n")}, isError
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}
