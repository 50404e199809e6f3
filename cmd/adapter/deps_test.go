package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductionImportsNoTooling checks what the adapter binary and every
// production package under adapter/ link: neither the simulators
// (adapter/sim) nor the test and tester tooling (adapter/testkit, which holds
// signing keys). The lint rule (depguard in .golangci.yml) says the same for
// direct imports; this test follows every transitive one.
func TestProductionImportsNoTooling(t *testing.T) {
	t.Parallel()
	const mod = "github.com/kbnn/dvc/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`,
		mod+"cmd/adapter", mod+"adapter/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, " ")
		if tooling(pkg) {
			continue
		}
		checked++
		for dep := range strings.FieldsSeq(deps) {
			if tooling(dep) {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d production packages listed; go list output:\n%s", checked, out)
	}
}

func tooling(pkg string) bool {
	const mod = "github.com/kbnn/dvc/adapter/"
	return strings.HasPrefix(pkg, mod+"sim/") || strings.HasPrefix(pkg, mod+"testkit/")
}
