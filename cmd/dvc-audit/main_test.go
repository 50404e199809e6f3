package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/kbnn/dvc/adapter/auditlog"
)

const vkeyPath = "../../testdata/pki/adapter-log.vkey"

var t0 = time.Date(2026, 6, 9, 8, 30, 0, 0, time.UTC)

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// logSigner is the test log's signer (testdata/pki/adapter-log.key).
func logSigner(t *testing.T) note.Signer {
	t.Helper()
	skey, err := os.ReadFile("../../testdata/pki/adapter-log.key")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// buildLog writes a log of 50 records (dossier D-<i%10>) in small segments,
// with checkpoints at 10, 25 and 50 records and every body archived.
func buildLog(t *testing.T) (string, []auditlog.Receipt) {
	t.Helper()
	signer := logSigner(t)
	dir := t.TempDir()
	l, err := auditlog.Open(auditlog.Options{Dir: dir, Signer: signer, Tick: make(chan time.Time),
		SegmentBytes: 4000, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var rcs []auditlog.Receipt
	for i := range 50 {
		body := fmt.Appendf(nil, `{"maHoSo":"D-%d","n":%d}`, i%10, i)
		rc, err := l.AppendBody(ctx, auditlog.Record{Time: t0.Add(time.Duration(i) * time.Minute), Instance: "test",
			Caller: "portal", Route: "POST /v1/procedures/{procedure}/dossiers", Procedure: "chi-thuong-xuyen",
			MaHoSo: fmt.Sprintf("D-%d", i%10), Status: 202,
			TreasuryReference: fmt.Sprintf("KB-%d", i)}, body)
		if err != nil {
			t.Fatal(err)
		}
		rcs = append(rcs, rc)
		if i == 9 || i == 24 {
			if err := l.PublishCheckpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if len(l.Sealed()) == 0 {
		t.Fatal("no sealed segment: the tampering cases should cover sealed segments too")
	}
	return dir, rcs
}

// tempWriter returns a func that writes a file of a fresh temporary
// directory and returns its path.
func tempWriter(t *testing.T) func(name string, b []byte) string {
	tmp := t.TempDir()
	return func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// editRecords rewrites the record lines of the log in dir (all segments
// joined) with edit, keeping each segment's first index.
func editRecords(t *testing.T, dir string, edit func(lines [][]byte) [][]byte) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "segments", "*.log"))
	var lines [][]byte
	counts := []int{}
	for _, s := range segs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		ls := bytes.SplitAfter(b, []byte("\n"))
		if len(ls[len(ls)-1]) == 0 {
			ls = ls[:len(ls)-1]
		}
		counts = append(counts, len(ls))
		lines = append(lines, ls...)
	}
	lines = edit(lines)
	for i, s := range segs {
		n := counts[i]
		if i == len(segs)-1 {
			n = len(lines)
		}
		n = min(n, len(lines))
		writeFile(t, s, bytes.Join(lines[:n], nil))
		lines = lines[n:]
	}
}

// writeFile replaces a file's contents, sealed (read-only) or not.
func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func editFile(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, edit(bytes.Clone(b)))
}

func TestVerifyNamesTheFirstBadThing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		vkey   string
		want   string // "" when the log is whole
	}{
		{"whole", func(*testing.T, string) {}, "", ""},
		{"one byte of a leaf", func(t *testing.T, dir string) {
			editRecords(t, dir, func(ls [][]byte) [][]byte {
				ls[41] = bytes.Replace(ls[41], []byte(`"KB-41"`), []byte(`"KB-49"`), 1)
				return ls
			})
		}, "", "record 41: leaf hash does not match"},
		{"leaf and its stored hash rewritten", func(t *testing.T, dir string) {
			editRecords(t, dir, func(ls [][]byte) [][]byte {
				leaf, _ := auditlog.ParseLine(bytes.TrimSuffix(ls[12], []byte("\n")))
				forged := bytes.Replace(leaf.Leaf, []byte(`"status":202`), []byte(`"status":422`), 1)
				ls[12] = fmt.Appendf(nil, "12 %x %s\n", auditlog.LeafHash(forged), forged)
				return ls
			})
		}, "", "checkpoint 2 (size 25): root hash does not match the records"},
		{"deleted record", func(t *testing.T, dir string) {
			editRecords(t, dir, func(ls [][]byte) [][]byte { return append(ls[:20:20], ls[21:]...) })
		}, "", "record 20: found record 21 in its place"},
		{"two records reordered", func(t *testing.T, dir string) {
			editRecords(t, dir, func(ls [][]byte) [][]byte { ls[30], ls[31] = ls[31], ls[30]; return ls })
		}, "", "record 30: found record 31 in its place"},
		{"torn last record", func(t *testing.T, dir string) {
			editRecords(t, dir, func(ls [][]byte) [][]byte { ls[49] = ls[49][:40]; return ls })
		}, "", "record 49: incomplete last record"},
		{"one byte of an archived body", func(t *testing.T, dir string) {
			body := fmt.Appendf(nil, `{"maHoSo":"D-%d","n":%d}`, 7, 17)
			loc, ok, err := auditlog.FindBody(dir, auditlog.BodyHash(body))
			if err != nil || !ok {
				t.Fatalf("body not found: %v", err)
			}
			editFile(t, loc.Path, func(b []byte) []byte { b[loc.Offset+3] ^= 1; return b })
		}, "", "body " + auditlog.BodyHash(fmt.Appendf(nil, `{"maHoSo":"D-%d","n":%d}`, 7, 17)) + ": content does not match its SHA-256"},
		{"a body's length", func(t *testing.T, dir string) {
			body := fmt.Appendf(nil, `{"maHoSo":"D-%d","n":%d}`, 2, 32)
			sha := auditlog.BodyHash(body)
			loc, _, _ := auditlog.FindBody(dir, sha)
			editFile(t, loc.Path, func(b []byte) []byte {
				return bytes.Replace(b, fmt.Appendf(nil, "%s %d\n", sha, len(body)), fmt.Appendf(nil, "%s %d\n", sha, len(body)-1), 1)
			})
		}, "", "body of " + auditlog.BodyHash(fmt.Appendf(nil, `{"maHoSo":"D-%d","n":%d}`, 2, 32)) + " does not end where its header says"},
		{"one byte of a checkpoint", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, "checkpoints"), func(b []byte) []byte {
				notes, _, _ := auditlog.SplitCheckpoints(b)
				at := bytes.Index(b, notes[1]) + bytes.Index(notes[1], []byte("\n25\n")) + 2
				b[at] = '4' // size 25 → 24
				return b
			})
		}, "", "checkpoint 2 (size 24): signature does not verify"},
		{"checkpoint rolled back", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, "checkpoints"), func(b []byte) []byte {
				notes, _, _ := auditlog.SplitCheckpoints(b)
				return append(append(b, notes[0]...), '\n') // checkpoint 1 again, after checkpoint 3
			})
		}, "", "checkpoint 4: not consistent with checkpoint 3"},
		{"another log's key", func(*testing.T, string) {}, "other", "checkpoint 1 (size 10): signature does not verify"},
		{"hashes file", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, "hashes"), func(b []byte) []byte { b[100] ^= 1; return b })
		}, "", "hashes file: does not hold the tree of the records"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, _ := buildLog(t)
			tc.tamper(t, dir)
			vk := vkeyPath
			if tc.vkey == "other" {
				_, vkey, _ := note.GenerateKey(nil, "kbnn-dvc-adapter/test")
				vk = filepath.Join(t.TempDir(), "other.vkey")
				if err := os.WriteFile(vk, []byte(vkey+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errOut := runCLI("verify", "-vkey", vk, dir)
			if tc.want == "" {
				if code != 0 || !strings.Contains(out, "whole") {
					t.Fatalf("exit %d: %s%s", code, out, errOut)
				}
				return
			}
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q, want exit 1 naming %q", code, errOut, tc.want)
			}
		})
	}
}

// verify -bodies names the first record whose body is not archived beside
// it: a pack emptied or removed while its segment stayed, which plain
// verify cannot tell from a log that never archived bodies.
func TestVerifyBodies(t *testing.T) {
	t.Parallel()
	dir, _ := buildLog(t)
	if code, out, errOut := runCLI("verify", "-vkey", vkeyPath, "-bodies", dir); code != 0 || !strings.Contains(out, "every record's body archived") {
		t.Fatalf("whole log: exit %d: %s%s", code, out, errOut)
	}
	packs, _ := filepath.Glob(filepath.Join(dir, "bodies", "*.pack"))
	if len(packs) < 2 {
		t.Fatalf("%d packs, want several", len(packs))
	}
	first := strings.TrimSuffix(filepath.Base(packs[1]), ".pack")
	writeFile(t, packs[1], nil) // the second segment's bodies gone
	if code, out, errOut := runCLI("verify", "-vkey", vkeyPath, dir); code != 0 {
		t.Fatalf("without -bodies an emptied pack is not a damaged log: exit %d: %s%s", code, out, errOut)
	}
	code, _, errOut := runCLI("verify", "-vkey", vkeyPath, "-bodies", dir)
	if want := "record " + strings.TrimLeft(first, "0") + ": its body "; code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("emptied pack: exit %d, stderr %q, want exit 1 naming %q", code, errOut, want)
	}
	if err := os.Remove(packs[1]); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI("verify", "-vkey", vkeyPath, "-bodies", dir); code != 1 || !strings.Contains(errOut, "is not archived") {
		t.Fatalf("removed pack: exit %d, stderr %q", code, errOut)
	}
}

func TestShow(t *testing.T) {
	t.Parallel()
	dir, _ := buildLog(t)
	code, out, errOut := runCLI("show", dir, "--dossier", "D-3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, i := range []int{3, 13, 23, 33, 43} {
		body := auditlog.BodyHash(fmt.Appendf(nil, `{"maHoSo":"D-3","n":%d}`, i))
		if !strings.Contains(out, fmt.Sprintf("\n%d {", i)) && !strings.HasPrefix(out, fmt.Sprintf("%d {", i)) {
			t.Errorf("record %d missing:\n%s", i, out)
		}
		if !strings.Contains(out, "(dvc-audit body "+dir+" "+body+")") {
			t.Errorf("body of record %d missing:\n%s", i, out)
		}
		code, got, errOut := runCLI("body", dir, body)
		if want := fmt.Sprintf(`{"maHoSo":"D-3","n":%d}`, i); code != 0 || got != want {
			t.Errorf("dvc-audit body of record %d: exit %d, %q %s, want %q", i, code, got, errOut, want)
		}
	}
	if strings.Count(out, "body: ") != 5 {
		t.Errorf("want 5 records:\n%s", out)
	}
	if code, _, _ := runCLI("body", dir, strings.Repeat("0", 64)); code != 1 {
		t.Errorf("unknown body: exit %d", code)
	}
	if code, _, _ := runCLI("show", dir, "-dossier", "nope"); code != 1 {
		t.Errorf("unknown dossier: exit %d", code)
	}
}

// A record past the latest checkpoint (a copy of a live log, or one added
// to the directory) is shown marked unsigned; the signed ones are not.
func TestShowMarksRecordsNoCheckpointSigns(t *testing.T) {
	t.Parallel()
	dir, _ := buildLog(t)
	editRecords(t, dir, func(ls [][]byte) [][]byte {
		leaf := []byte(`{"time":"2026-06-09T02:00:00Z","instance":"test","caller":"portal","route":"POST /v1/procedures/{procedure}/dossiers","procedure":"chi-thuong-xuyen","maHoSo":"D-3","soBoSung":0,"bodySha256":"` +
			auditlog.BodyHash([]byte("x")) + `","status":202,"code":"","treasuryReference":"KB-FORGED","eventId":""}`)
		return append(ls, fmt.Appendf(nil, "50 %x %s\n", auditlog.LeafHash(leaf), leaf))
	})
	code, out, errOut := runCLI("show", dir, "-dossier", "D-3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, "unsigned: "); n != 1 || !strings.Contains(out, "KB-FORGED\",\"eventId\":\"\"}\n    body: (body not archived)\n    unsigned: past the latest checkpoint (size 50)") {
		t.Fatalf("want record 50 alone marked unsigned (%d marks):\n%s", n, out)
	}
}

func TestProofAndVerifyReceipt(t *testing.T) {
	t.Parallel()
	dir, rcs := buildLog(t)
	write := tempWriter(t)
	code, proofText, errOut := runCLI("proof", dir, "17")
	if code != 0 || !strings.HasPrefix(proofText, "c2sp.org/tlog-proof@v1\nindex 17\n") {
		t.Fatalf("proof: exit %d %s %s", code, proofText, errOut)
	}
	proofPath := write("proof.txt", []byte(proofText))
	body202, _ := json.Marshal(map[string]any{"maHoSo": "D-7", "trangThai": 1, "receipt": rcs[17]})
	receiptPath := write("202.json", body202)

	leaves := map[uint64][]byte{}
	if err := auditlog.Scan(dir, func(ln auditlog.Line) error { leaves[ln.Index] = ln.Leaf; return nil }); err != nil {
		t.Fatal(err)
	}
	entryPath := write("leaf17.json", leaves[17])
	if code, out, errOut := runCLI("verify-receipt", "-receipt", receiptPath, "-proof", proofPath, "-vkey", vkeyPath,
		"-entry", entryPath); code != 0 || !strings.Contains(out, "valid: record included") {
		t.Fatalf("valid receipt with its entry: exit %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runCLI("verify-receipt", "-receipt", receiptPath, "-proof", proofPath, "-vkey", vkeyPath,
		"-entry", entryPath, "-body", write("body17", []byte(`{"maHoSo":"D-7","n":17}`))); code != 0 || !strings.Contains(out, "valid: record of this body included") {
		t.Fatalf("valid receipt with its entry and body: exit %d %s %s", code, out, errOut)
	}

	forged := rcs[17]
	forged.LeafHash = rcs[18].LeafHash
	b, _ := json.Marshal(map[string]any{"receipt": forged})
	otherIndex := rcs[18]
	ob, _ := json.Marshal(otherIndex)
	otherBody := rcs[17]
	otherBody.BodySHA256 = strings.Repeat("ab", 32)
	obb, _ := json.Marshal(map[string]any{"receipt": otherBody})
	_, otherVkey, _ := note.GenerateKey(nil, "kbnn-dvc-adapter/test")
	cases := map[string][]string{
		"leaf hash of another record": {"-receipt", write("forged.json", b), "-proof", proofPath, "-vkey", vkeyPath, "-entry", entryPath},
		"proof of another index":      {"-receipt", write("other.json", ob), "-proof", proofPath, "-vkey", vkeyPath, "-entry", entryPath},
		"entry of another record":     {"-receipt", receiptPath, "-proof", proofPath, "-vkey", vkeyPath, "-entry", write("leaf18.json", leaves[18])},
		"another body's hash":         {"-receipt", write("otherbody.json", obb), "-proof", proofPath, "-vkey", vkeyPath, "-entry", entryPath},
		"another body":                {"-receipt", receiptPath, "-proof", proofPath, "-vkey", vkeyPath, "-entry", entryPath, "-body", write("body18", []byte(`{"maHoSo":"D-8","n":18}`))},
		"another log's key":           {"-receipt", receiptPath, "-proof", proofPath, "-vkey", write("other.vkey", []byte(otherVkey)), "-entry", entryPath},
		"tampered proof": {"-receipt", receiptPath, "-vkey", vkeyPath, "-entry", entryPath, "-proof",
			write("bad-proof.txt", []byte(strings.Replace(proofText, "\nindex 17\n", "\nindex 17\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 1)))},
	}
	// Without the leaf nothing binds bodySha256: a usage error, never "valid".
	if code, out, _ := runCLI("verify-receipt", "-receipt", receiptPath, "-proof", proofPath, "-vkey", vkeyPath); code != 2 || strings.Contains(out, "valid") {
		t.Errorf("without -entry: exit %d %s", code, out)
	}
	v, err := readVerifier(vkeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyReceipt(body202, []byte(proofText), nil, v); err == nil {
		t.Error("verifyReceipt without the entry: accepted")
	}
	for name, args := range cases {
		if code, out, errOut := runCLI(append([]string{"verify-receipt"}, args...)...); code != 1 || !strings.Contains(errOut, "not valid") {
			t.Errorf("%s: exit %d %s %s", name, code, out, errOut)
		}
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"nope"}, {"verify"}, {"proof", "dir"}, {"show", "dir"}, {"verify-receipt"}} {
		if code, _, _ := runCLI(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, errOut := runCLI("verify", t.TempDir()); code != 1 || !strings.Contains(errOut, "-vkey") {
		t.Errorf("verify without -vkey: %d %s", code, errOut)
	}
}

func FuzzVerifyReceipt(f *testing.F) {
	b, _ := os.ReadFile(vkeyPath)
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"receipt":{"logOrigin":"kbnn-dvc-adapter/test","logIndex":0,"leafHash":"00","bodySha256":""}}`),
		[]byte("c2sp.org/tlog-proof@v1\nindex 0\n\nkbnn-dvc-adapter/test\n1\nAA==\n\n— kbnn-dvc-adapter/test x\n"), []byte(`{}`))
	f.Fuzz(func(t *testing.T, receipt, proofText, entry []byte) {
		// Nothing unsigned by the test key can be valid.
		if size, err := verifyReceipt(receipt, proofText, entry, v); err == nil {
			t.Fatalf("accepted a receipt with no real log behind it (size %d)", size)
		}
	})
}

// Without -vkey, verify takes the key the adapter left in the directory,
// says so, and still names a bad record.
func TestVerifyWithTheDirectorysKey(t *testing.T) {
	dir, _ := buildLog(t)
	vkey, err := os.ReadFile(vkeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, auditlog.VerifierFile), vkey, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("verify", dir)
	if code != 0 || !strings.Contains(out, "whole") || !strings.Contains(errOut, auditlog.VerifierFile) {
		t.Fatalf("verify DIR: exit %d, %q, %q", code, out, errOut)
	}
	editRecords(t, dir, func(lines [][]byte) [][]byte {
		lines[3] = bytes.Replace(lines[3], []byte(`"KB-3"`), []byte(`"KB-9"`), 1)
		return lines
	})
	if code, _, errOut := runCLI("verify", dir); code != 1 || !strings.Contains(errOut, "record 3") {
		t.Fatalf("verify DIR after an edit: exit %d, %q", code, errOut)
	}
}

// A log's own files cannot show a rewrite after its checkpoints were
// removed or cut back; a checkpoint held elsewhere (-checkpoint: a bare one
// or a tlog-proof's) can. A log with records and no checkpoint at all is
// not whole: nothing signs them.
func TestVerifyAgainstHeldCheckpoints(t *testing.T) {
	t.Parallel()
	dir, _ := buildLog(t)
	tmp := t.TempDir()
	_, proofText, errOut := runCLI("proof", dir, "40")
	if proofText == "" {
		t.Fatalf("proof: %s", errOut)
	}
	proofPath := filepath.Join(tmp, "proof.txt")
	if err := os.WriteFile(proofPath, []byte(proofText), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := auditlog.ParseProof([]byte(proofText))
	if err != nil {
		t.Fatal(err)
	}
	cpPath := filepath.Join(tmp, "checkpoint")
	if err := os.WriteFile(cpPath, p.Checkpoint, 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI("verify", "-vkey", vkeyPath, "-checkpoint", cpPath, "-checkpoint", proofPath, dir)
	if code != 0 || !strings.Contains(out, "whole") || !strings.Contains(out, "50 records, 50 signed") || !strings.Contains(out, "matches the 2 checkpoints") {
		t.Fatalf("whole log and its own checkpoint: exit %d %s %s", code, out, errOut)
	}

	// Cut the checkpoints back to the first (size 10): the held one still
	// signs every record.
	rewritten := t.TempDir()
	copyDir(t, dir, rewritten)
	editFile(t, filepath.Join(rewritten, "checkpoints"), func(b []byte) []byte {
		notes, _, err := auditlog.SplitCheckpoints(b)
		if err != nil || len(notes) < 2 {
			t.Fatalf("checkpoints: %d %v", len(notes), err)
		}
		return append(bytes.Clone(notes[0]), '\n')
	})
	code, out, errOut = runCLI("verify", "-vkey", vkeyPath, "-checkpoint", cpPath, rewritten)
	if code != 0 || !strings.Contains(out, "50 records, 50 signed") || strings.Contains(out, "signed by no checkpoint") {
		t.Fatalf("checkpoints cut back, against the held checkpoint: exit %d %s %s", code, out, errOut)
	}
	// Then rewrite record 30.
	editRecords(t, rewritten, func(ls [][]byte) [][]byte {
		ls[30] = rehashed(t, 30, bytes.Replace(leafOf(ls[30]), []byte(`"KB-30"`), []byte(`"KB-999"`), 1))
		return ls
	})
	_ = os.Remove(filepath.Join(rewritten, "hashes"))
	code, out, _ = runCLI("verify", "-vkey", vkeyPath, rewritten)
	if code != 0 || !strings.Contains(out, "50 records, 10 signed") || !strings.Contains(out, "records 10 to 49 are signed by no checkpoint") {
		t.Fatalf("rewritten past its only checkpoint, alone: exit %d %s", code, out)
	}
	code, _, errOut = runCLI("verify", "-vkey", vkeyPath, "-checkpoint", cpPath, rewritten)
	if code != 1 || !strings.Contains(errOut, "held checkpoint 1") || !strings.Contains(errOut, "root hash does not match") {
		t.Fatalf("rewritten, against the held checkpoint: exit %d %s", code, errOut)
	}

	// Rolled back: a copy taken at 50 records, checked against a
	// checkpoint the log signed after 10 more.
	older := t.TempDir()
	copyDir(t, dir, older)
	later := reopenAndAppend(t, dir, 10)
	laterPath := filepath.Join(tmp, "later")
	if err := os.WriteFile(laterPath, later, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI("verify", "-vkey", vkeyPath, "-checkpoint", laterPath, dir); code != 0 || !strings.Contains(out, "60 records, 60 signed") {
		t.Fatalf("the log itself, against its later checkpoint: exit %d %s %s", code, out, errOut)
	}
	code, _, errOut = runCLI("verify", "-vkey", vkeyPath, "-checkpoint", laterPath, older)
	if code != 1 || !strings.Contains(errOut, "covers more records than the log holds (50)") {
		t.Fatalf("rolled back, against the later checkpoint: exit %d %s", code, errOut)
	}

	// No checkpoint at all.
	bare := t.TempDir()
	copyDir(t, older, bare)
	if err := os.Remove(filepath.Join(bare, "checkpoints")); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI("verify", "-vkey", vkeyPath, bare); code != 1 || !strings.Contains(errOut, "50 records and no checkpoint") {
		t.Fatalf("no checkpoint: exit %d %s", code, errOut)
	}
}

// copyDir copies the log directory src into dst, modes kept.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if d.Name() == "lock" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// leafOf is the leaf bytes of a record line "<index> <leaf hash> <leaf>\n".
func leafOf(line []byte) []byte {
	parts := bytes.SplitN(bytes.TrimSuffix(line, []byte("\n")), []byte(" "), 3)
	return parts[2]
}

// rehashed is record line i holding leaf, its leaf hash recomputed.
func rehashed(t *testing.T, i int, leaf []byte) []byte {
	t.Helper()
	return []byte(fmt.Sprintf("%d %s %s\n", i, hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(leaf)), leaf))
}

// reopenAndAppend opens the log in dir again, appends n records, closes it
// and returns its latest signed checkpoint.
func reopenAndAppend(t *testing.T, dir string, n int) []byte {
	t.Helper()
	signer := logSigner(t)
	l, err := auditlog.Open(auditlog.Options{Dir: dir, Signer: signer, Tick: make(chan time.Time), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := l.AppendBody(context.Background(), auditlog.Record{Time: t0.Add(time.Hour + time.Duration(i)*time.Minute), Instance: "test",
			Caller: "portal", Route: "POST /v1/procedures/{procedure}/dossiers", Procedure: "chi-thuong-xuyen",
			MaHoSo: "D-later", Status: 202, TreasuryReference: fmt.Sprintf("KB-later-%d", i)}, []byte(fmt.Sprint("later ", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	notes, _, err := auditlog.SplitCheckpoints(b)
	if err != nil || len(notes) == 0 {
		t.Fatalf("checkpoints: %v", err)
	}
	return notes[len(notes)-1]
}
