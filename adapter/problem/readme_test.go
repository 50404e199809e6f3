package problem

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// The README's error table is what integrators read: every kind must stand
// in it under its own status, and it must list no code this package lacks.
func TestREADMEListsEveryCode(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // code -> status column
	for line := range strings.SplitSeq(string(raw), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		status, code := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])
		if len(status) == 3 && strings.HasPrefix(code, "`") && strings.HasSuffix(code, "`") {
			rows[strings.Trim(code, "`")] = status
		}
	}
	known := map[string]bool{}
	for _, k := range Kinds() {
		known[k.Code()] = true
		if got, want := rows[k.Code()], fmt.Sprint(k.Status()); got != want {
			t.Errorf("README error table: %s under %q, want %s", k.Code(), got, want)
		}
	}
	for code := range rows {
		if !known[code] {
			t.Errorf("README error table lists %s, which adapter/problem does not define", code)
		}
	}
}
