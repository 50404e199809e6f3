package main

import (
	"os"
	"testing"

	"go.yaml.in/yaml/v3"
)

// startFleetWith is startFleet with a say in the configuration: each
// instance's file is writeConfig's, then edit changes it (as a YAML map)
// before any process starts. The fleet supervises the instances exactly as
// startFleet's does (restart after every death, stop when t ends).
func startFleetWith(t *testing.T, n int, treasuryURL, keyPrefix string, edit func(cfg map[string]any)) *fleet {
	t.Helper()
	return launchFleet(t, n, treasuryURL, keyPrefix, nil, edit)
}

// editConfig rewrites the YAML file at path through edit.
func editConfig(t testing.TB, path string, edit func(cfg map[string]any)) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	edit(c)
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// section returns c[name] as a map, creating it when missing.
func section(c map[string]any, name string) map[string]any {
	m, ok := c[name].(map[string]any)
	if !ok {
		m = map[string]any{}
		c[name] = m
	}
	return m
}
