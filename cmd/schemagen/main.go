// Command schemagen writes schemas/<procedure>/dossier.xsd from dossier.schema.json for
// every procedure folder, or with -check reports the folders whose committed XSD differs
// from what would be generated.
//
//	go run ./cmd/schemagen -schemas schemas          # regenerate
//	go run ./cmd/schemagen -schemas schemas -check   # exit 1 if any .xsd is stale
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kbnn/dvc/adapter/testkit/xsd"
)

const (
	schemaFile = "dossier.schema.json"
	xsdFile    = "dossier.xsd"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command and returns its exit status: 0 done (or up to date), 1 stale
// XSDs found by -check, 2 usage or generation error.
func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("schemagen", flag.ContinueOnError)
	flags.SetOutput(stderr)
	dir := flags.String("schemas", "schemas", "folder holding one sub-folder per procedure")
	check := flags.Bool("check", false, "write nothing; exit 1 if a committed "+xsdFile+" is out of date")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		_, _ = fmt.Fprintf(stderr, "schemagen: unexpected argument %q\n", flags.Arg(0))
		return 2
	}

	procedures, err := procedureDirs(*dir)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "schemagen: %v\n", err)
		return 2
	}
	stale := 0
	for _, p := range procedures {
		src, err := os.ReadFile(filepath.Join(p, schemaFile))
		if err != nil {
			_, _ = fmt.Fprintf(stderr, "schemagen: %v\n", err)
			return 2
		}
		out, err := xsd.Generate(src)
		if err != nil {
			_, _ = fmt.Fprintf(stderr, "schemagen: %s: %v\n", filepath.Join(p, schemaFile), err)
			return 2
		}
		target := filepath.Join(p, xsdFile)
		current, err := os.ReadFile(target)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			_, _ = fmt.Fprintf(stderr, "schemagen: %v\n", err)
			return 2
		}
		switch {
		case bytes.Equal(current, out):
		case *check:
			_, _ = fmt.Fprintf(stderr, "schemagen: %s is out of date; run `make schemas`\n", target)
			stale++
		default:
			if err := os.WriteFile(target, out, 0o644); err != nil {
				_, _ = fmt.Fprintf(stderr, "schemagen: %v\n", err)
				return 2
			}
			_, _ = fmt.Fprintf(stdout, "wrote %s\n", target)
		}
	}
	if stale > 0 {
		return 1
	}
	return 0
}

// procedureDirs returns the sub-folders of dir that hold a dossier.schema.json, sorted.
func procedureDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read schemas folder: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(p, schemaFile)); err == nil {
			dirs = append(dirs, p)
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no %s under %s", schemaFile, dir)
	}
	return dirs, nil
}
