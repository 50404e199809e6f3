package replay

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/fixture"
)

func TestFormatAttempt(t *testing.T) {
	t.Parallel()
	sig := fixture.Expect{Status: 400, Code: "signature-invalid"}
	tests := []struct {
		name   string
		exp    fixture.Expect
		a      Attempt
		repeat int
		want   string
	}{
		{
			name: "pass", exp: fixture.Expect{Status: 202}, repeat: 1,
			a:    Attempt{Round: 1, Status: 202, Duration: 12*time.Millisecond + 900*time.Microsecond},
			want: "PASS chi-thuong-xuyen/valid-xml status=202 code=- (expected 202) 12ms",
		},
		{
			name: "mismatch", exp: sig, repeat: 1,
			a:    Attempt{Round: 1, Status: 202, Duration: 9 * time.Millisecond, Failure: "status 202, want 400"},
			want: "FAIL chi-thuong-xuyen/valid-xml status=202 code=- (expected 400 signature-invalid) 9ms",
		},
		{
			name: "repeat shows round", exp: sig, repeat: 3,
			a:    Attempt{Round: 2, Status: 400, Code: "signature-invalid"},
			want: "PASS chi-thuong-xuyen/valid-xml#2 status=400 code=signature-invalid (expected 400 signature-invalid) 0ms",
		},
		{
			name: "no answer", exp: fixture.Expect{Status: 202}, repeat: 1,
			a:    Attempt{Round: 1, Err: errors.New("connection refused"), Failure: "connection refused", Duration: 3 * time.Millisecond},
			want: "FAIL chi-thuong-xuyen/valid-xml status=- code=- (expected 202) 3ms: connection refused",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := fixture.Case{Procedure: "chi-thuong-xuyen", Name: "valid-xml", Expect: tt.exp}
			if got := FormatAttempt(c, tt.a, tt.repeat); got != tt.want {
				t.Errorf("FormatAttempt() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// sampleResults: two procedures, one pass, one mismatch, one error, one
// treasury failure and one case never sent.
func sampleResults() []Result {
	exp := fixture.Expect{Status: 202}
	return []Result{
		{Case: fixture.Case{Procedure: "chi-thuong-xuyen", Name: "ok", Expect: exp},
			Attempts: []Attempt{{Round: 1, Status: 202, Duration: 1500 * time.Millisecond}}},
		{Case: fixture.Case{Procedure: "chi-thuong-xuyen", Name: "bad <sig> & \x01", Expect: exp},
			Attempts: []Attempt{{Round: 1, Status: 400, Code: "signature-invalid", Failure: "status 400, want 202 \x01<&>", Duration: 250 * time.Millisecond}}},
		{Case: fixture.Case{Procedure: "von-dau-tu", Name: "down", Expect: exp},
			Attempts: []Attempt{{Round: 1, Err: errors.New("refused"), Failure: "refused"}}},
		{Case: fixture.Case{Procedure: "von-dau-tu", Name: "dup", Expect: exp},
			Attempts: []Attempt{{Round: 1, Status: 202}}, Failures: []string{"treasury: accepted dossier X has 2 documents, want exactly 1"}},
		{Case: fixture.Case{Procedure: "von-dau-tu", Name: "unsent", Expect: exp}},
	}
}

func TestWriteSummary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		results []Result
		want    string
	}{
		{
			name:    "mixed",
			results: sampleResults(),
			want: "procedure         cases  passed  failed\n" +
				"chi-thuong-xuyen      2       1       1\n" +
				"von-dau-tu            3       0       3\n" +
				"total                 5       1       4\n" +
				"1 passed, 4 failed\n",
		},
		{
			name:    "empty",
			results: nil,
			want:    "procedure  cases  passed  failed\ntotal          0       0       0\n0 passed, 0 failed\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			if err := WriteSummary(&b, tt.results); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("WriteSummary() =\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

// Independent of the writer's types, so a wrong tag fails here.
type (
	readSuites struct {
		XMLName  xml.Name    `xml:"testsuites"`
		Tests    int         `xml:"tests,attr"`
		Failures int         `xml:"failures,attr"`
		Errors   int         `xml:"errors,attr"`
		Suites   []readSuite `xml:"testsuite"`
	}
	readSuite struct {
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Errors   int        `xml:"errors,attr"`
		Time     string     `xml:"time,attr"`
		Cases    []readCase `xml:"testcase"`
	}
	readCase struct {
		Name      string `xml:"name,attr"`
		Classname string `xml:"classname,attr"`
		Time      string `xml:"time,attr"`
		Failure   *struct {
			Message string `xml:"message,attr"`
			Text    string `xml:",chardata"`
		} `xml:"failure"`
		Error *struct {
			Message string `xml:"message,attr"`
		} `xml:"error"`
	}
)

func TestWriteJUnit(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, "dvc-replay", sampleResults()); err != nil {
		t.Fatal(err)
	}
	// Well-formed: every token decodes up to EOF.
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("report not well-formed: %v\n%s", err, buf.String())
		}
	}
	var got readSuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Tests != 5 || got.Failures != 2 || got.Errors != 2 || len(got.Suites) != 2 {
		t.Fatalf("totals = %+v", got)
	}
	tests := []struct {
		suite, index        int
		name, time          string
		failure, errMessage string // substrings; "" = absent
	}{
		{suite: 0, index: 0, name: "ok", time: "1.500"},
		{suite: 0, index: 1, name: "bad <sig> & \ufffd", time: "0.250", failure: "status 400, want 202 \ufffd<&>"},
		{suite: 1, index: 0, name: "down", time: "0.000", errMessage: "refused"},
		{suite: 1, index: 1, name: "dup", time: "0.000", failure: "has 2 documents"},
		{suite: 1, index: 2, name: "unsent", time: "0.000", errMessage: "not sent"},
	}
	for _, tt := range tests {
		s := got.Suites[tt.suite]
		c := s.Cases[tt.index]
		if c.Name != tt.name || c.Classname != s.Name || c.Time != tt.time {
			t.Errorf("case %d/%d = %q %q %q, want %q in %s at %s", tt.suite, tt.index, c.Name, c.Classname, c.Time, tt.name, s.Name, tt.time)
		}
		switch {
		case tt.failure != "":
			if c.Failure == nil || !strings.Contains(c.Failure.Message, tt.failure) || !strings.Contains(c.Failure.Text, tt.failure) || c.Error != nil {
				t.Errorf("%s: failure = %+v, want %q", tt.name, c.Failure, tt.failure)
			}
		case tt.errMessage != "":
			if c.Error == nil || !strings.Contains(c.Error.Message, tt.errMessage) || c.Failure != nil {
				t.Errorf("%s: error = %+v, want %q", tt.name, c.Error, tt.errMessage)
			}
		default:
			if c.Failure != nil || c.Error != nil {
				t.Errorf("%s: unexpected failure %+v / error %+v", tt.name, c.Failure, c.Error)
			}
		}
	}
	if s := got.Suites[0]; s.Name != "chi-thuong-xuyen" || s.Tests != 2 || s.Failures != 1 || s.Errors != 0 || s.Time != "1.750" {
		t.Errorf("suite 0 = %+v", s)
	}
	if s := got.Suites[1]; s.Name != "von-dau-tu" || s.Tests != 3 || s.Failures != 1 || s.Errors != 2 {
		t.Errorf("suite 1 = %+v", s)
	}
}
