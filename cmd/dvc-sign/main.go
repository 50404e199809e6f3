// Command dvc-sign is the testers' signing tool: it generates the test PKI,
// signs XML and JSON dossier templates with it, and regenerates the fixtures
// under testdata/fixtures and the withdrawal fixtures under
// testdata/withdrawals. TEST ONLY: its keys must never sign real dossiers.
//
//	dvc-sign pki -out testdata/pki [-force]
//	dvc-sign sign -in template.xml -out request.xml -signer chu-tai-khoan -signer ke-toan-truong
//	              [-pki testdata/pki] [-alg rsa-sha256] [-c14n c14n10|exc-c14n] [-headers headers.txt]
//	dvc-sign fixtures [-templates testdata/templates] [-pki testdata/pki] [-out testdata/fixtures]
//	                  [-withdrawals testdata/withdrawals]
//	dvc-sign logkey -name kbnn-dvc-adapter/<instance> -out dir [-force]
//	dvc-sign tlspki -out testdata/tls [-force]
package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kbnn/dvc/adapter/testkit/fixturegen"
	"github.com/kbnn/dvc/adapter/testkit/signing"
	"github.com/kbnn/dvc/adapter/testkit/testpki"
	"github.com/kbnn/dvc/adapter/testkit/tlspki"
	"golang.org/x/mod/sumdb/note"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: dvc-sign <command> [flags]

commands:
  pki       generate the test PKI (TEST ONLY)
  sign      sign one XML or JSON template with signers from the test PKI
  fixtures  regenerate every fixture case (submissions and withdrawals) from testdata/templates
  logkey    generate an evidence log's Ed25519 note key pair (adapter-log.key, adapter-log.vkey)
  tlspki    generate the test PKI for TLS and mutual TLS (TEST ONLY; not the signing PKI)

run "dvc-sign <command> -h" for the flags of a command.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		_, _ = fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "pki":
		err = runPKI(args[1:], stderr)
	case "sign":
		err = runSign(args[1:], stdout, stderr)
	case "fixtures":
		err = runFixtures(args[1:], stdout, stderr)
	case "logkey":
		err = runLogKey(args[1:], stdout, stderr)
	case "tlspki":
		err = runTLSPKI(args[1:], stderr)
	case "-h", "-help", "--help", "help":
		_, _ = fmt.Fprint(stdout, usage)
		return 0
	default:
		_, _ = fmt.Fprintf(stderr, "dvc-sign: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		_, _ = fmt.Fprintf(stderr, "dvc-sign: %v\n", err)
		return 1
	}
}

var errUsage = errors.New("usage")

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		_, _ = fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		return errUsage
	}
	return nil
}

func runPKI(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("pki", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "testdata/pki", "output folder")
	force := fs.Bool("force", false, "replace an existing PKI (then regenerate the fixtures)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return testpki.Generate(*out, *force)
}

func runTLSPKI(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("tlspki", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "testdata/tls", "output folder")
	force := fs.Bool("force", false, "replace an existing TLS PKI")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return tlspki.Generate(*out, *force)
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runSign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var req fixturegen.SignRequest
	var signers stringList
	fs.StringVar(&req.In, "in", "", "template to sign (.xml, or .json for a detached JWS)")
	fs.StringVar(&req.Out, "out", "", "signed output (JSON: the body, unchanged)")
	fs.StringVar(&req.Headers, "headers", "", "also write headers.txt (Content-Type, Authorization, X-JWS-Signature)")
	pki := fs.String("pki", "testdata/pki", "PKI folder holding <signer>.crt and <signer>.key")
	fs.Var(&signers, "signer", "signer name in the PKI folder, repeat in signing order")
	fs.StringVar(&req.Alg, "alg", "", "signature algorithm: "+strings.Join(signing.SignatureMethodNames(), ", ")+
		" (JSON: "+strings.Join(signing.JWSAlgorithms(), ", ")+"); default by key type")
	fs.StringVar(&req.C14N, "c14n", string(signing.C14N10), "XML canonicalization: c14n10, exc-c14n, c14n10-comments, exc-c14n-comments")
	fs.StringVar(&req.Token, "token", fixturegen.DevPortalToken, "bearer token written to -headers")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	req.Signers = signers
	req.PKI = testpki.NewDir(*pki)
	return fixturegen.Sign(req, stdout)
}

func runFixtures(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fixtures", flag.ContinueOnError)
	fs.SetOutput(stderr)
	templates := fs.String("templates", "testdata/templates", "templates folder (<procedure>/dossier.xml, dossier.json, cases.yaml)")
	pki := fs.String("pki", "testdata/pki", "PKI folder")
	out := fs.String("out", "testdata/fixtures", "fixtures folder")
	withdrawals := fs.String("withdrawals", "", "withdrawal fixtures folder (default: \"withdrawals\" beside -out)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	n, err := fixturegen.Generate(*templates, *out, testpki.NewDir(*pki))
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(stdout, "wrote %d fixture cases under %s\n", n, *out)
	if *withdrawals == "" {
		*withdrawals = filepath.Join(filepath.Dir(filepath.Clean(*out)), "withdrawals")
	}
	n, err = fixturegen.GenerateWithdrawals(*templates, *withdrawals, testpki.NewDir(*pki))
	if err != nil {
		return err
	}
	if n > 0 {
		_, _ = fmt.Fprintf(stdout, "wrote %d withdrawal cases under %s\n", n, *withdrawals)
	}
	return nil
}

// runLogKey writes a new signer key (adapter-log.key, the sumdb/note
// "PRIVATE+KEY+…" string) and its verifier key (adapter-log.vkey) for an
// evidence log whose origin is -name.
func runLogKey(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logkey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the log's origin, e.g. kbnn-dvc-adapter/<instance>")
	out := fs.String("out", "", "output folder")
	force := fs.Bool("force", false, "replace existing key files")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" || *out == "" {
		_, _ = fmt.Fprintln(stderr, "logkey: -name and -out are required")
		return errUsage
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, *name)
	if err != nil {
		return err
	}
	keyPath, vkeyPath := filepath.Join(*out, "adapter-log.key"), filepath.Join(*out, "adapter-log.vkey")
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	for _, f := range []struct {
		path, text string
		perm       os.FileMode
	}{{keyPath, skey, 0o600}, {vkeyPath, vkey, 0o644}} {
		h, err := os.OpenFile(f.path, flags, f.perm)
		if err != nil {
			return err
		}
		_, err = h.WriteString(f.text + "\n")
		if cerr := h.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	_, _ = fmt.Fprintf(stdout, "wrote %s and %s (origin %s)\n", keyPath, vkeyPath, *name)
	return nil
}
