// Command schemagen writes the XSD of every signed document's definition: schemas/<procedure>/
// dossier.xsd from dossier.schema.json for every procedure folder, and schemas/withdrawal/
// withdrawal.xsd from withdrawal.schema.json (the forms of adapter/schema, each with its root
// element); with -check it reports the XSDs that differ from what would be generated.
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

	"github.com/kbnn/dvc/adapter/schema"
	"github.com/kbnn/dvc/adapter/testkit/xsd"
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
	check := flags.Bool("check", false, "write nothing; exit 1 if a committed XSD is out of date")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		_, _ = fmt.Fprintf(stderr, "schemagen: unexpected argument %q\n", flags.Arg(0))
		return 2
	}

	docs, err := definitions(*dir)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "schemagen: %v\n", err)
		return 2
	}
	stale := 0
	for _, d := range docs {
		src, err := os.ReadFile(filepath.Join(d.dir, d.form.File))
		if err != nil {
			_, _ = fmt.Fprintf(stderr, "schemagen: %v\n", err)
			return 2
		}
		out, err := xsd.GenerateRoot(src, d.form.Root, d.form.File)
		if err != nil {
			_, _ = fmt.Fprintf(stderr, "schemagen: %s: %v\n", filepath.Join(d.dir, d.form.File), err)
			return 2
		}
		target := filepath.Join(d.dir, d.form.XSDFile())
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

// definition is one document definition found under the schemas folder.
type definition struct {
	dir  string
	form schema.Form
}

// definitions returns, folder by folder (sorted) and in the order of schema.Forms, every
// definition the sub-folders of dir hold. At least one dossier.schema.json is required.
func definitions(dir string) ([]definition, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read schemas folder: %w", err)
	}
	var out []definition
	dossiers := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		for _, f := range schema.Forms {
			if _, err := os.Stat(filepath.Join(p, f.File)); err == nil {
				out = append(out, definition{dir: p, form: f})
				if f == schema.Dossier {
					dossiers++
				}
			}
		}
	}
	if dossiers == 0 {
		return nil, fmt.Errorf("no %s under %s", schema.Dossier.File, dir)
	}
	return out, nil
}
