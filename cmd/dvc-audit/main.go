// Command dvc-audit checks an adapter instance's evidence log offline.
//
//	dvc-audit verify -vkey adapter-log.vkey [-checkpoint FILE]... [-bodies] DIR
//	dvc-audit show DIR -dossier MAHOSO
//	dvc-audit proof DIR INDEX
//	dvc-audit body DIR SHA256
//	dvc-audit verify-receipt -receipt 202.json -proof proof.txt -entry leaf.json -vkey adapter-log.vkey [-body original.xml]
//
// verify recomputes every leaf hash and the tree, checks every checkpoint's
// signature, origin and root and the consistency between successive
// checkpoints, and the archived bodies, and that the log holds the records
// of each checkpoint held elsewhere (-checkpoint) as it signed them, and
// with -bodies that every record's body is archived beside it; it
// exits 0 when the log is whole, saying how many records a checkpoint
// (its own or one given) signs, otherwise 1 naming the first bad record,
// checkpoint or body. show lists a
// dossier's records with where their bodies are archived; body writes one
// archived body out, checked against its SHA-256. proof prints the C2SP
// tlog-proof of one record. verify-receipt checks a 202 body's receipt
// against a proof and the log's verifier key, with nothing but those files.
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/kbnn/dvc/adapter/auditlog"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: dvc-audit <command> [flags]

commands:
  verify          [-vkey FILE] [-checkpoint FILE]... [-bodies] DIR: check a whole log directory (against checkpoints held elsewhere; with -bodies, that every body is archived), name the first bad record or checkpoint
                  (without -vkey: DIR/log.vkey, which the adapter leaves there)
  show            DIR -dossier CODE: every record of a dossier, with its archived body's path
  proof           DIR INDEX: print the inclusion proof of a record (C2SP tlog-proof)
  body            DIR SHA256: write an archived body, byte for byte, to standard output
  verify-receipt  -receipt 202.json -proof proof.txt -entry leaf.json -vkey FILE [-body FILE]: check a receipt offline
`

var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		_, _ = fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "verify":
		err = runVerify(args[1:], stdout, stderr)
	case "show":
		err = runShow(args[1:], stdout, stderr)
	case "proof":
		err = runProof(args[1:], stdout, stderr)
	case "body":
		err = runBody(args[1:], stdout, stderr)
	case "verify-receipt":
		err = runVerifyReceipt(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		_, _ = fmt.Fprint(stdout, usage)
		return 0
	default:
		_, _ = fmt.Fprintf(stderr, "dvc-audit: unknown command %q\n\n%s", args[0], usage)
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
		_, _ = fmt.Fprintf(stderr, "dvc-audit: %v\n", err)
		return 1
	}
}

// parse parses flags given before, between or after the positional
// arguments, and wants exactly npos of those.
func parse(fs *flag.FlagSet, args []string, npos int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != npos {
		_, _ = fmt.Fprintf(fs.Output(), "%s: want %d argument(s), got %d\n", fs.Name(), npos, len(pos))
		return nil, errUsage
	}
	return pos, nil
}

func readVerifier(path string) (note.Verifier, error) {
	if path == "" {
		return nil, errors.New("-vkey is required (the log's verifier key file)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

func runVerify(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vkey := fs.String("vkey", "", "the log's verifier key file (adapter-log.vkey); default DIR/"+auditlog.VerifierFile)
	var held []string
	fs.Func("checkpoint", "a signed checkpoint held elsewhere (GET /v1/audit/checkpoint, or a tlog-proof whose checkpoint it is); the log must hold its records as it signed them. Repeatable", func(p string) error {
		held = append(held, p)
		return nil
	})
	bodies := fs.Bool("bodies", false, "also check that every record's body is archived beside it (for a log written with evidence.archiveBodies on since its first record): a body pack emptied or removed while its segment stayed")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *vkey == "" {
		*vkey = filepath.Join(pos[0], auditlog.VerifierFile)
		_, _ = fmt.Fprintf(stderr, "dvc-audit: no -vkey: using %s, the key the log was written with; compare it with the instance's published key\n", *vkey)
	}
	v, err := readVerifier(*vkey)
	if err != nil {
		return err
	}
	var cps [][]byte
	for _, p := range held {
		cp, err := readHeldCheckpoint(p)
		if err != nil {
			return err
		}
		cps = append(cps, cp)
	}
	r, err := auditlog.Check(pos[0], v, cps...)
	if err != nil {
		return err
	}
	if *bodies {
		if err := auditlog.CheckBodies(pos[0]); err != nil {
			return err
		}
	}
	_, _ = fmt.Fprintf(stdout, "%s: whole (log %s): %d records, %d signed by a checkpoint", pos[0], v.Name(), r.Records, r.Signed)
	if r.Records > r.Signed {
		// A copy of a live log has a tail no checkpoint signs yet; only a
		// later checkpoint held elsewhere (-checkpoint) vouches for it.
		_, _ = fmt.Fprintf(stdout, "; records %d to %d are signed by no checkpoint", r.Signed, r.Records-1)
	}
	if len(cps) > 0 {
		_, _ = fmt.Fprintf(stdout, "; matches the %d checkpoints given", len(cps))
	}
	if *bodies {
		_, _ = fmt.Fprint(stdout, "; every record's body archived")
	}
	_, _ = fmt.Fprintln(stdout)
	return nil
}

// readHeldCheckpoint reads a signed checkpoint from path: a bare one, or
// the checkpoint of a tlog-proof.
func readHeldCheckpoint(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if p, err := auditlog.ParseProof(b); err == nil {
		return p.Checkpoint, nil
	}
	return b, nil
}

func runShow(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dossier := fs.String("dossier", "", "the dossier's maHoSo")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *dossier == "" {
		_, _ = fmt.Fprintln(stderr, "show: -dossier is required")
		return errUsage
	}
	bodies, err := auditlog.IndexBodies(pos[0])
	if err != nil {
		return err
	}
	// Records past the latest checkpoint are signed by none yet: said on
	// each, so that a printed record is not taken for proof (verify checks
	// the signatures).
	signed, hasCheckpoint, err := auditlog.LatestCheckpointSize(pos[0])
	if err != nil {
		return err
	}
	found := 0
	err = auditlog.Scan(pos[0], func(ln auditlog.Line) error {
		r, err := auditlog.ParseLeaf(ln.Leaf)
		if err != nil || r.MaHoSo != *dossier {
			return err
		}
		found++
		body := "(body not archived)"
		if loc, ok := bodies[r.BodySHA256]; ok {
			body = loc.String() + " (dvc-audit body " + pos[0] + " " + r.BodySHA256 + ")"
		}
		if _, err = fmt.Fprintf(stdout, "%d %s\n    body: %s\n", ln.Index, ln.Leaf, body); err != nil {
			return err
		}
		if !hasCheckpoint || ln.Index >= signed {
			_, err = fmt.Fprintf(stdout, "    unsigned: past the latest checkpoint (size %d); no checkpoint signs this record yet\n", signed)
		}
		return err
	})
	if err != nil {
		return err
	}
	if found == 0 {
		return fmt.Errorf("no record of dossier %q", *dossier)
	}
	return nil
}

func runProof(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("proof", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pos, err := parse(fs, args, 2)
	if err != nil {
		return err
	}
	i, err := auditlog.ParseIndex(pos[1])
	if err != nil {
		return err
	}
	p, err := auditlog.ReadProof(pos[0], i)
	if err != nil {
		return err
	}
	_, err = stdout.Write(p)
	return err
}

func runBody(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("body", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pos, err := parse(fs, args, 2)
	if err != nil {
		return err
	}
	sha := strings.ToLower(pos[1])
	loc, ok, err := auditlog.FindBody(pos[0], sha)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no archived body %s in %s", sha, pos[0])
	}
	b, err := auditlog.ReadBody(loc, sha)
	if err != nil {
		return err
	}
	_, err = stdout.Write(b)
	return err
}

func runVerifyReceipt(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify-receipt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	receiptPath := fs.String("receipt", "", "the 202 body (or the bare receipt object)")
	proofPath := fs.String("proof", "", "the tlog-proof of the receipt's index")
	vkey := fs.String("vkey", "", "the log's verifier key file")
	entryPath := fs.String("entry", "", "the exact leaf bytes (GET /v1/audit/entries/{index}): they bind the receipt's bodySha256 to the leaf")
	bodyPath := fs.String("body", "", "optional: the request body as sent, whose SHA-256 must be the receipt's bodySha256")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *receiptPath == "" || *proofPath == "" || *entryPath == "" {
		// Without the leaf, the proof shows only that the leaf hash is in
		// the log: nothing ties the receipt's bodySha256 to that leaf.
		_, _ = fmt.Fprintln(stderr, "verify-receipt: -receipt, -proof and -entry are required")
		return errUsage
	}
	v, err := readVerifier(*vkey)
	if err != nil {
		return err
	}
	rb, err := os.ReadFile(*receiptPath)
	if err != nil {
		return err
	}
	pb, err := os.ReadFile(*proofPath)
	if err != nil {
		return err
	}
	entry, err := os.ReadFile(*entryPath)
	if err != nil {
		return err
	}
	var body []byte
	if *bodyPath != "" {
		if body, err = os.ReadFile(*bodyPath); err != nil {
			return err
		}
	}
	size, err := verifyReceipt(rb, pb, entry, v)
	if err == nil && body != nil {
		err = bodyMatches(rb, body)
	}
	if err != nil {
		return fmt.Errorf("receipt not valid: %w", err)
	}
	what := "record"
	if body != nil {
		what = "record of this body"
	}
	_, _ = fmt.Fprintf(stdout, "valid: %s included in log %s of size %d\n", what, v.Name(), size)
	if r, err := parseReceipt(rb); err == nil && r.HeldSHA256 != "" {
		_, _ = fmt.Fprintf(stdout, "note: the treasury's document holds other bytes of the request, SHA-256 %s (heldSha256)\n", r.HeldSHA256)
	}
	return nil
}

// parseReceipt takes a 202 body's "receipt" member, or a bare receipt.
func parseReceipt(b []byte) (auditlog.Receipt, error) {
	var wrapped struct {
		Receipt *auditlog.Receipt `json:"receipt"`
	}
	if err := json.Unmarshal(b, &wrapped); err != nil {
		return auditlog.Receipt{}, fmt.Errorf("receipt: %w", err)
	}
	if wrapped.Receipt != nil {
		return *wrapped.Receipt, nil
	}
	var r auditlog.Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		return auditlog.Receipt{}, fmt.Errorf("receipt: %w", err)
	}
	if r.LogOrigin == "" {
		return auditlog.Receipt{}, errors.New("receipt: no logOrigin (neither a 202 body with a receipt nor a receipt)")
	}
	return r, nil
}

// bodyMatches checks that body's SHA-256 is the receipt's bodySha256.
func bodyMatches(receipt, body []byte) error {
	r, err := parseReceipt(receipt)
	if err != nil {
		return err
	}
	if auditlog.BodyHash(body) != r.BodySHA256 {
		return errors.New("body: its SHA-256 is not the receipt's bodySha256")
	}
	return nil
}

// verifyReceipt checks, offline, that the receipt's leaf is in the log the
// verifier key signs for: the proof's checkpoint is signed (note.Open) and
// of the receipt's origin, the proof is of the receipt's index, and the
// inclusion proof leads from the leaf hash to the checkpoint's root
// (proof.VerifyInclusion); and that entry, the leaf bytes, hash to the
// receipt's leaf hash and carry its body hash. Without entry nothing binds
// the receipt's bodySha256 to the leaf: it is refused. It returns the
// tree size.
func verifyReceipt(receipt, proofText, entry []byte, v note.Verifier) (uint64, error) {
	if entry == nil {
		return 0, errors.New("entry: the leaf bytes are needed to bind the receipt's bodySha256")
	}
	r, err := parseReceipt(receipt)
	if err != nil {
		return 0, err
	}
	leafHash, err := hex.DecodeString(r.LeafHash)
	if err != nil || len(leafHash) != 32 {
		return 0, errors.New("receipt: leafHash is not a hex SHA-256")
	}
	p, err := auditlog.ParseProof(proofText)
	if err != nil {
		return 0, err
	}
	n, err := note.Open(p.Checkpoint, note.VerifierList(v))
	if err != nil {
		return 0, fmt.Errorf("checkpoint signature does not verify with %s: %w", v.Name(), err)
	}
	var c log.Checkpoint
	if rest, err := c.Unmarshal([]byte(n.Text)); err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	} else if len(rest) > 0 {
		return 0, errors.New("checkpoint: unexpected extension lines")
	}
	if c.Origin != r.LogOrigin {
		return 0, fmt.Errorf("the proof's checkpoint is of log %q, the receipt of %q", c.Origin, r.LogOrigin)
	}
	if p.Index != r.LogIndex {
		return 0, fmt.Errorf("the proof is of record %d, the receipt of %d", p.Index, r.LogIndex)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, c.Size, leafHash, p.Hashes, c.Hash); err != nil {
		return 0, fmt.Errorf("inclusion: %w", err)
	}
	entry = bytes.TrimSuffix(entry, []byte("\n"))
	if !bytes.Equal(rfc6962.DefaultHasher.HashLeaf(entry), leafHash) {
		return 0, errors.New("entry: its leaf hash is not the receipt's")
	}
	rec, err := auditlog.ParseLeaf(entry)
	if err != nil {
		return 0, fmt.Errorf("entry: %w", err)
	}
	if rec.BodySHA256 != r.BodySHA256 {
		return 0, errors.New("entry: its bodySha256 is not the receipt's")
	}
	if rec.HeldSHA256 != r.HeldSHA256 {
		return 0, errors.New("entry: its heldSha256 is not the receipt's")
	}
	return c.Size, nil
}
