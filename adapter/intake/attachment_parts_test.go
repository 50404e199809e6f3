package intake

import (
	"context"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// Two different files listed under one tenTep, each sent as a part named by
// its file name: the name says neither, so each part is bound by its own
// SHA-256, and both reach the treasury; a part matching neither entry is
// still refused.
func TestSameFileNameTwoFiles(t *testing.T) {
	contract, record := ctxFiles(t)
	x := template(t, "chi-thuong-xuyen", "xml")
	x = replaceOnce(t, x, "<tenTep>bien-ban-nghiem-thu-15-2026.pdf</tenTep>", "<tenTep>hop-dong-15-2026-HDMB.pdf</tenTep>")
	body := signXML(t, x, signing.XMLOptions{}, both...)
	submit := func(key string, parts ...attachment.Part) error {
		svc, _ := newService(t, svcOptions{attachments: attachment.NewMemory(attachment.Limits{Retention: time.Hour}, nil)})
		_, err := svc.Submit(context.Background(), Submission{RequestID: key, Procedure: "chi-thuong-xuyen",
			ContentType: "application/xml", Body: body, Files: parts, Caller: "portal", ReceivedAt: receipt})
		return err
	}
	named := func(data []byte) attachment.Part {
		return attachment.Part{ContentType: "application/pdf", FileName: "hop-dong-15-2026-HDMB.pdf", Data: data}
	}
	if err := submit("both", named(contract), named(record)); err != nil {
		t.Fatalf("each part is exactly a listed file, yet: %v %+v", err, problem.From(err).Fields)
	}
	other := append([]byte(nil), record...)
	other[0] ^= 1
	if err := submit("other", named(contract), named(other)); codeOf(err) != problem.AttachmentMismatch.Code() {
		t.Fatalf("a part that is neither file: %v, want attachment-mismatch", err)
	}
}
