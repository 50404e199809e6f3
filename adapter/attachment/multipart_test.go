package attachment

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// related builds a multipart/related body: the root, then each file.
func related(boundary string, root string, files ...string) []byte {
	var b bytes.Buffer
	b.WriteString("--" + boundary + "\r\nContent-Type: application/json\r\nContent-ID: <dossier>\r\n\r\n" + root + "\r\n")
	for i, f := range files {
		b.WriteString("--" + boundary + "\r\nContent-Type: application/pdf\r\nContent-ID: <" + Sum([]byte(f)) + "@dvc>\r\n")
		b.WriteString("Content-Disposition: attachment; filename=\"tep-" + string(rune('a'+i)) + ".pdf\"\r\n\r\n" + f + "\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes()
}

const relatedType = `multipart/related; boundary=b1; type="application/json"; start="<dossier>"`

func TestReadRelated(t *testing.T) {
	body := related("b1", `{"a":1}`, "hop dong", "bien ban")
	root, files, err := ReadRelated(bytes.NewReader(body), relatedType, PartLimits{MaxParts: 2, MaxRootBytes: 7, MaxFileBytes: 8, MaxTotalBytes: 16})
	if err != nil {
		t.Fatal(err)
	}
	if string(root.Data) != `{"a":1}` || root.ContentType != "application/json" || root.ContentID != "dossier" {
		t.Fatalf("root %+v", root)
	}
	if len(files) != 2 || string(files[1].Data) != "bien ban" || files[0].FileName != "tep-a.pdf" ||
		SumFromContentID(files[0].ContentID) != Sum([]byte("hop dong")) {
		t.Fatalf("files %+v", files)
	}
}

func TestReadRelatedRefuses(t *testing.T) {
	body := related("b1", `{"a":1}`, "hop dong", "bien ban")
	tests := []struct {
		name        string
		body        []byte
		contentType string
		limits      PartLimits
		want        error
	}{
		{"not multipart/related", body, "multipart/mixed; boundary=b1", PartLimits{}, ErrMalformed},
		{"no boundary", body, "multipart/related", PartLimits{}, ErrMalformed},
		{"start names another part", body, `multipart/related; boundary=b1; start="<other>"`, PartLimits{}, ErrMalformed},
		{"no parts", []byte("--b1--\r\n"), relatedType, PartLimits{}, ErrMalformed},
		{"truncated", body[:len(body)-12], relatedType, PartLimits{}, ErrMalformed},
		{"base64 part", []byte("--b1\r\nContent-Transfer-Encoding: base64\r\n\r\neyJ9\r\n--b1--\r\n"), relatedType, PartLimits{}, ErrMalformed},
		{"too many files", body, relatedType, PartLimits{MaxParts: 1}, ErrTooManyParts},
		{"root over its limit", body, relatedType, PartLimits{MaxRootBytes: 6}, ErrRootTooLarge},
		{"a file over the per-file limit", body, relatedType, PartLimits{MaxFileBytes: 7}, ErrTooLarge},
		{"files over the total", body, relatedType, PartLimits{MaxFileBytes: 8, MaxTotalBytes: 15}, ErrTotalTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ReadRelated(bytes.NewReader(tt.body), tt.contentType, tt.limits)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSumFromContentID(t *testing.T) {
	s := Sum([]byte("x"))
	for id, want := range map[string]string{s: s, s + "@dvc.local": s, strings.ToUpper(s): s, "sha256:" + s: s, "hop-dong.pdf": "", "": ""} {
		if got := SumFromContentID(id); got != want {
			t.Errorf("SumFromContentID(%q) = %q, want %q", id, got, want)
		}
	}
}

// FuzzReadRelated: any body either reads within the limits or fails with one
// of the reader's errors; it never panics and never returns more than the
// limits allow.
func FuzzReadRelated(f *testing.F) {
	f.Add(related("b1", `{"a":1}`, "hop dong", "bien ban"), relatedType)
	f.Add([]byte("--b1\r\n\r\n<HoSo/>\r\n--b1--"), "multipart/related; boundary=b1")
	f.Add([]byte("--b1\r\nContent-ID: <"+Sum(nil)+">\r\n\r\n\r\n--b1--\r\n"), relatedType)
	f.Add([]byte("garbage"), "multipart/related; boundary=\"\"")
	l := PartLimits{MaxParts: 3, MaxRootBytes: 64, MaxFileBytes: 32, MaxTotalBytes: 48}
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		root, files, err := ReadRelated(bytes.NewReader(body), contentType, l)
		if err != nil {
			for _, known := range []error{ErrMalformed, ErrTooManyParts, ErrRootTooLarge, ErrTooLarge, ErrTotalTooLarge} {
				if errors.Is(err, known) {
					return
				}
			}
			t.Fatalf("unexpected error %v", err)
		}
		if int64(len(root.Data)) > l.MaxRootBytes || len(files) > l.MaxParts {
			t.Fatalf("root %d bytes, %d files", len(root.Data), len(files))
		}
		var total int64
		for _, p := range files {
			if int64(len(p.Data)) > l.MaxFileBytes {
				t.Fatalf("file of %d bytes", len(p.Data))
			}
			total += int64(len(p.Data))
		}
		if total > l.MaxTotalBytes {
			t.Fatalf("files total %d bytes", total)
		}
	})
}
