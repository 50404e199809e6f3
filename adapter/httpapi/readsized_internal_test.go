package httpapi

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// readSized reads what io.ReadAll reads, whatever the length the body
// claims and however the reader splits it, and keeps a read error with
// the bytes before it.
func TestReadSized(t *testing.T) {
	body := bytes.Repeat([]byte("<ChungTu>0123456789</ChungTu>\n"), 400) // 12 KB
	big := bytes.Repeat([]byte{'x'}, presize+1000)
	for _, c := range []struct {
		name string
		data []byte
		n    int64
	}{
		{"length known", body, int64(len(body))},
		{"length unknown", body, -1},
		{"claims less", body, 100},
		{"claims more", body, int64(len(body)) * 3},
		{"empty", nil, 0},
		{"empty, length unknown", nil, -1},
		{"past presize", big, int64(len(big))},
	} {
		for _, r := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{
			{"whole", func(r io.Reader) io.Reader { return r }},
			{"a byte at a time", iotest.OneByteReader},
			{"half at a time", iotest.HalfReader},
			{"EOF with the data", iotest.DataErrReader},
		} {
			got, err := readSized(r.wrap(bytes.NewReader(c.data)), c.n)
			if err != nil || !bytes.Equal(got, c.data) {
				t.Errorf("%s, %s: %d bytes, %v; want the %d bytes", c.name, r.name, len(got), err, len(c.data))
			}
		}
	}
	boom := errors.New("connection reset")
	got, err := readSized(io.MultiReader(bytes.NewReader(body[:5000]), iotest.ErrReader(boom)), int64(len(body)))
	if !errors.Is(err, boom) || !bytes.Equal(got, body[:5000]) {
		t.Errorf("a failing read: %d bytes, %v; want the 5000 before it and its error", len(got), err)
	}
}

// A body whose length is known is read into one buffer.
func TestReadSizedAllocatesOnce(t *testing.T) {
	body := bytes.Repeat([]byte("<DongChungTu/>"), 700) // 9.8 KB, a two-line dossier's size
	r := bytes.NewReader(body)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(body)
		if b, err := readSized(r, int64(len(body))); err != nil || len(b) != len(body) {
			t.Fatalf("%d bytes, %v", len(b), err)
		}
	})
	if allocs != 1 {
		t.Errorf("%v allocations, want 1", allocs)
	}
}

// BenchmarkReadBody reads a 9.8 KB dossier as the adapter reads a request
// body: readSized with its Content-Length, against io.ReadAll.
func BenchmarkReadBody(b *testing.B) {
	body := bytes.Repeat([]byte("<DongChungTu/>"), 700)
	r := bytes.NewReader(body)
	b.Run("readSized", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(body)
			_, _ = readSized(r, int64(len(body)))
		}
	})
	b.Run("io.ReadAll", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(body)
			_, _ = io.ReadAll(r)
		}
	})
}
