package schema

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// patterns are the definitions' patterns and others at the edges of the
// shape runs takes.
var patterns = []string{
	`^[0-9]{7}$`, `^[0-9]{4}$`, `^[a-z][a-z0-9-]{1,63}$`, `^[A-Za-z0-9._-]{1,64}$`, `^[0-9a-f]{64}$`,
	`^[0-9A-Za-z.-]{4,34}$`, `^[A-Za-z0-9.]{1,30}-[0-9]{6,8}-[0-9]{3,8}$`, `^KBNN-[0-9]{4}-[0-9]{4}-[0-9]{6,}$`,
	`^[A-Z][A-Z0-9_]{1,63}$`, `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`, `^[0-9A-Z]{3,11}$`, `^[0-9A-Fa-f]{2,64}$`,
	`^[a-z0-9][a-z0-9.+-]{0,126}/[a-z0-9][a-z0-9.+-]{0,126}$`, `^[0-9a-f]{1,64}$`,
	`^$`, `^a*$`, `^a+b?$`, `^[ab]*[bc]*b$`, `^a{2,}a{1,3}$`, `^\.x\z`, `^[\x00-\x7f]{0,3}$`,
	// not the shape: the regexp engine decides
	`^[0-9]{10}([0-9]{3})?$`, `^[^/\\]+$`, `[0-9]`, `^(?i)ab$`, `^a|b$`, `^.{3}$`, `^é$`, `^a*?$`,
}

// inputs are strings near what the patterns take.
func inputs() []string {
	out := []string{"", "a", "ab", "abb", "b", "bb", "cb", ".x", ".x\n", "aaaa", "aaaaaa", "1234", "12345", "1234567",
		"0123456789", "0123456789012", "tai-khoan", "Tai-khoan", "t", "G09.20-20260609-0000001", "G09.20-2026060-0000001",
		"KBNN-0001-2026-000123", "KBNN-0001-2026-00012", "REASON_CODE", "application/pdf", "a/b", "é", "\xff", "1234\n",
		"ab\x00", strings.Repeat("a", 30) + "-123456-123", strings.Repeat("a", 31) + "-123456-123", strings.Repeat("f", 64),
		strings.Repeat("f", 65), strings.Repeat("a", 255), strings.Repeat("a", 256), strings.Repeat("a", 257), strings.Repeat("a", 400),
		"KBNN-0001-2026-" + strings.Repeat("7", 300)}
	return out
}

func TestRunsMatchAsRegexp(t *testing.T) {
	for _, p := range patterns {
		re := regexp.MustCompile(p)
		rs, ok := runsOf(re)
		for _, s := range inputs() {
			want := re.MatchString(s)
			if !ok {
				continue
			}
			if got, decided := rs.match(s); decided && got != want {
				t.Errorf("%s on %q: %v, regexp says %v", p, s, got, want)
			}
			if rs.greedy() && rs.matchGreedy(s) != want {
				t.Errorf("%s on %q greedily: %v, regexp says %v", p, s, !want, want)
			}
		}
	}
}

// The definitions' patterns have the shape: the engine is not used for them.
func TestDefinitionsPatternsAreRuns(t *testing.T) {
	for _, p := range patterns[:14] {
		if _, ok := runsOf(regexp.MustCompile(p)); !ok {
			t.Errorf("%s: not read as runs", p)
		}
	}
	for _, p := range patterns[21:] {
		if _, ok := runsOf(regexp.MustCompile(p)); ok {
			t.Errorf("%s: read as runs", p)
		}
	}
	for _, p := range patterns[:14] {
		if rs, _ := runsOf(regexp.MustCompile(p)); !rs.greedy() {
			t.Errorf("%s: not greedy", p)
		}
	}
	for _, p := range []string{`^[ab]*[bc]*b$`, `^a{2,}a{1,3}$`, `^a*b?a$`} {
		if rs, _ := runsOf(regexp.MustCompile(p)); rs.greedy() {
			t.Errorf("%s: greedy", p)
		}
	}
	// A long string against a pattern with no bound goes to the engine.
	rs, _ := runsOf(regexp.MustCompile(`^KBNN-[0-9]{6,}$`))
	if _, decided := rs.match("KBNN-" + strings.Repeat("1", 300)); decided {
		t.Error("a string past maxRunsInput was decided")
	}
}

func FuzzRunsMatchAsRegexp(f *testing.F) {
	for i, p := range patterns {
		for _, s := range inputs()[:20] {
			f.Add(p, s+strings.Repeat("-", i%3))
		}
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		re, err := regexp.Compile(p)
		if err != nil {
			return
		}
		rs, ok := runsOf(re)
		if !ok {
			return
		}
		want := re.MatchString(s)
		if got, decided := rs.match(s); decided && got != want {
			t.Fatalf("%q on %q: %v, regexp says %v", p, s, got, want)
		}
		if rs.greedy() && rs.matchGreedy(s) != want {
			t.Fatalf("%q on %q greedily: %v, regexp says %v", p, s, !want, want)
		}
	})
}

func BenchmarkPattern(b *testing.B) {
	re := regexp.MustCompile(`^[A-Za-z0-9.]{1,30}-[0-9]{6,8}-[0-9]{3,8}$`)
	rs, _ := runsOf(re)
	s := "G09.20-20260609-0000001"
	b.Run("regexp", func(b *testing.B) {
		for b.Loop() {
			_ = re.MatchString(s)
		}
	})
	b.Run("runs", func(b *testing.B) {
		for b.Loop() {
			_, _ = rs.match(s)
		}
	})
	b.Run("greedy", func(b *testing.B) {
		for b.Loop() {
			_ = rs.matchGreedy(s)
		}
	})
}

// schemaPatterns are the "pattern" values of every JSON Schema under
// schemas/.
func schemaPatterns(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if p, ok := x["pattern"].(string); ok {
				seen[p] = true
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	err := filepath.WalkDir("../../schemas", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil // not a JSON document the tests here read
		}
		walk(v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	return out
}

// Every pattern of the schemas that has the shape of runs matches greedily,
// and as regexp does on the test inputs.
func TestSchemaPatterns(t *testing.T) {
	ps := schemaPatterns(t)
	if len(ps) < 10 {
		t.Fatalf("%d patterns found under schemas/", len(ps))
	}
	runsShaped := 0
	for _, p := range ps {
		re := regexp.MustCompile(p)
		rs, ok := runsOf(re)
		if !ok {
			t.Logf("%s: the regexp engine", p)
			continue
		}
		runsShaped++
		if !rs.greedy() {
			t.Errorf("%s: runs, not greedy", p)
		}
		for _, s := range inputs() {
			if rs.matchGreedy(s) != re.MatchString(s) {
				t.Errorf("%s on %q: %v, regexp says %v", p, s, !re.MatchString(s), re.MatchString(s))
			}
		}
	}
	t.Logf("%d of %d patterns are runs", runsShaped, len(ps))
	if runsShaped < len(ps)/2 {
		t.Errorf("only %d of %d patterns are runs", runsShaped, len(ps))
	}
}
