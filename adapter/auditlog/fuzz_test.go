package auditlog_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/kbnn/dvc/adapter/auditlog"
)

func FuzzParseLine(f *testing.F) {
	leaf, _ := auditlog.MarshalLeaf(rec(1))
	f.Add([]byte("0 " + hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(leaf)) + " " + string(leaf)))
	f.Add([]byte("01 00 {}"))
	f.Add([]byte("18446744073709551616 x {"))
	f.Fuzz(func(t *testing.T, line []byte) {
		l, err := auditlog.ParseLine(line)
		if err != nil {
			return
		}
		if len(l.LeafHash) != 32 || bytes.IndexByte(l.Leaf, '\n') >= 0 {
			t.Fatalf("accepted %q as %+v", line, l)
		}
	})
}

func FuzzParseLeaf(f *testing.F) {
	leaf, _ := auditlog.MarshalLeaf(rec(1))
	f.Add(leaf)
	f.Add([]byte(`{"time":"x"}`))
	f.Fuzz(func(t *testing.T, leaf []byte) {
		r, err := auditlog.ParseLeaf(leaf)
		if err != nil {
			return
		}
		// A record that parses and has a valid body hash marshals again.
		if len(r.BodySHA256) == 64 && strings.Trim(r.BodySHA256, "0123456789abcdef") == "" {
			if _, err := auditlog.MarshalLeaf(r); err != nil {
				t.Fatalf("%q parsed but does not marshal: %v", leaf, err)
			}
		}
	})
}

func FuzzSplitCheckpoints(f *testing.F) {
	f.Add([]byte("kbnn-dvc-adapter/test\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— kbnn-dvc-adapter/test abcd\n\n"))
	f.Add([]byte("o\n1\n\n"))
	f.Add([]byte("o\n01\nx\n\n— a\n\nrest"))
	f.Fuzz(func(t *testing.T, data []byte) {
		notes, complete, err := auditlog.SplitCheckpoints(data)
		if complete < 0 || complete > len(data) {
			t.Fatalf("complete %d of %d", complete, len(data))
		}
		total := 0
		for _, n := range notes {
			total += len(n) + 1
			if !bytes.Contains(n, []byte("\n\n— ")) {
				t.Fatalf("note without a signature line: %q", n)
			}
		}
		if err == nil && total != complete {
			t.Fatalf("notes cover %d bytes, complete says %d", total, complete)
		}
	})
}

func FuzzParseProof(f *testing.F) {
	h := make([]byte, 32)
	f.Add(auditlog.FormatProof(3, [][]byte{h, h}, []byte("x"), []byte("o\n4\nAA==\n\n— o sig\n")))
	f.Add([]byte("c2sp.org/tlog-proof@v1\nindex 0\n\nx"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := auditlog.ParseProof(data)
		if err != nil {
			return
		}
		again := auditlog.FormatProof(p.Index, p.Hashes, p.Extra, p.Checkpoint)
		if !bytes.Equal(again, data) {
			t.Fatalf("parse/format round trip:\n%q\n%q", data, again)
		}
	})
}
