package intake

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/dossier"
)

// A dossier whose files' listed sizes together fit in InlineFileBytes
// sends them in its document (attachments[].content), uploading nothing:
// files uploaded beforehand and files carried as parts alike. Over the
// bound, or with none, every file is uploaded and the document carries
// none.
func TestSmallFilesTravelInTheDocument(t *testing.T) {
	contract, record := ctxFiles(t)
	total := int64(len(contract) + len(record))
	files := map[string][]byte{attachment.Sum(contract): contract, attachment.Sum(record): record}
	stored := Submission{RequestID: "s", Procedure: "chi-thuong-xuyen", ContentType: "application/xml",
		Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt}
	parts := stored
	parts.Files = []attachment.Part{
		{ContentType: "application/pdf", FileName: "hop-dong-15-2026-HDMB.pdf", Data: contract},
		{ContentType: "application/pdf", FileName: "bien-ban-nghiem-thu-15-2026.pdf", Data: record},
	}
	for _, tc := range []struct {
		name   string
		sub    Submission
		bound  int64
		inline bool
	}{
		{"uploaded beforehand", stored, total, true},
		{"carried as parts", parts, total, true},
		{"over the bound", stored, total - 1, false},
		{"none", parts, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, fs := newService(t, svcOptions{inlineBytes: tc.bound})
			if resp, err := svc.Submit(context.Background(), tc.sub); err != nil || resp.Status != 202 {
				t.Fatalf("refused: %v", err)
			}
			calls := fs.sent()
			if len(calls) != 1 {
				t.Fatalf("%d documents sent", len(calls))
			}
			listed, _ := calls[0].request["attachments"].([]any)
			if len(listed) != 2 {
				t.Fatalf("attachments %v", calls[0].request["attachments"])
			}
			carried := 0
			for _, e := range listed {
				a := e.(map[string]any)
				content, ok := a["content"].(string)
				if !ok {
					continue
				}
				carried++
				data, err := base64.StdEncoding.DecodeString(content)
				sum, _ := a["sha256"].(string)
				if err != nil || string(data) != string(files[sum]) {
					t.Errorf("%s carried as %d bytes (%v), want its %d", sum, len(data), err, len(files[sum]))
				}
			}
			uploads := len(fs.uploaded())
			switch {
			case tc.inline && (carried != 2 || uploads != 0):
				t.Errorf("%d files in the document, %d uploaded: want 2 and none", carried, uploads)
			case !tc.inline && (carried != 0 || uploads != 2):
				t.Errorf("%d files in the document, %d uploaded: want none and 2", carried, uploads)
			}
		})
	}
}

// inline carries nothing, leaving every file to upload, when one of the
// files is named by no entry of the mapped request, or is empty (an empty
// content member reads as none); with each named and none empty, it
// carries them all.
func TestInlineCarriesAllOrNone(t *testing.T) {
	svc, _ := newService(t, svcOptions{inlineBytes: 64 << 10})
	a, b := []byte("hop dong"), []byte("bien ban")
	fileOf := func(data []byte) file {
		return file{ref: dossier.Attachment{SHA256: attachment.Sum(data), KichThuoc: int64(len(data))}, data: data}
	}
	entry := func(data []byte) map[string]any { return map[string]any{"sha256": attachment.Sum(data)} }
	for _, tc := range []struct {
		name    string
		files   []file
		entries []map[string]any
		carried bool
	}{
		{"each named", []file{fileOf(a), fileOf(b)}, []map[string]any{entry(a), entry(b)}, true},
		{"one named by no entry", []file{fileOf(a), fileOf(b)}, []map[string]any{entry(a)}, false},
		{"one empty", []file{fileOf(a), fileOf(nil)}, []map[string]any{entry(a), entry(nil)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listed := make([]any, len(tc.entries))
			for i, e := range tc.entries {
				listed[i] = e
			}
			left := svc.inline(map[string]any{"attachments": listed}, tc.files)
			withContent := 0
			for _, e := range tc.entries {
				if _, ok := e["content"]; ok {
					withContent++
				}
			}
			switch {
			case tc.carried && (left != nil || withContent != len(tc.entries)):
				t.Errorf("%d files left to upload, %d entries with content: want none and all", len(left), withContent)
			case !tc.carried && (len(left) != len(tc.files) || withContent != 0):
				t.Errorf("%d files left to upload, %d entries with content: want all and none", len(left), withContent)
			}
		})
	}
}
