package intake

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/testkit/signing"
)

// ctxFiles are the chi-thuong-xuyen template's two listed files, in order.
func ctxFiles(t *testing.T) (contract, record []byte) {
	t.Helper()
	dir := filepath.Join(repo, "testdata/attachments/chi-thuong-xuyen")
	return readFile(t, filepath.Join(dir, "hop-dong-15-2026-HDMB.pdf")), readFile(t, filepath.Join(dir, "bien-ban-nghiem-thu-15-2026.pdf"))
}

// readCounting counts the reads of whole files from its store.
type readCounting struct {
	attachment.Store
	reads atomic.Int32
}

func (r *readCounting) Get(ctx context.Context, sum string) ([]byte, error) {
	r.reads.Add(1)
	return r.Store.Get(ctx, sum)
}

func (r *readCounting) GetCapped(ctx context.Context, want map[string]int64) (map[string][]byte, error) {
	r.reads.Add(1)
	return r.Store.GetCapped(ctx, want)
}

func altered(b []byte) []byte {
	out := append([]byte(nil), b...)
	out[len(out)/2] ^= 0x20
	return out
}

// Every listed file is found in the request's parts (however the part names
// it) or in the upload store, and is uploaded to the treasury before the
// document; a file missing, altered, of another size, or a part the dossier
// does not list is refused with nothing uploaded and nothing sent.
func TestAttachmentsOfASubmission(t *testing.T) {
	contract, record := ctxFiles(t)
	cs, rs := attachment.Sum(contract), attachment.Sum(record)
	body := xmlFixture(t, "chi-thuong-xuyen")
	wrongSize := signXML(t, replaceOnce(t, template(t, "chi-thuong-xuyen", "xml"), "<kichThuoc>799</kichThuoc>", "<kichThuoc>800</kichThuoc>"),
		signing.XMLOptions{}, both...)
	part := func(id, name string, data []byte) attachment.Part {
		return attachment.Part{ContentType: "application/pdf", ContentID: id, FileName: name, Data: data}
	}
	tests := []struct {
		name     string
		body     []byte
		uploaded [][]byte
		parts    []attachment.Part
		code     string
		paths    []string
	}{
		{name: "parts named by Content-ID", body: body, parts: []attachment.Part{part(cs, "", contract), part(rs+"@dvc", "", record)}},
		{name: "parts named by file name", body: body, parts: []attachment.Part{
			part("p1", "hop-dong-15-2026-HDMB.pdf", contract), part("bien-ban-nghiem-thu-15-2026.pdf", "", record)}},
		{name: "parts matched by their hash", body: body, parts: []attachment.Part{part("", "", record), part("", "", contract)}},
		{name: "uploaded before", body: body, uploaded: [][]byte{contract, record}},
		{name: "one part, one upload", body: body, uploaded: [][]byte{record}, parts: []attachment.Part{part(cs, "", contract)}},
		{name: "nothing sent", body: body, code: "attachment-missing", paths: []string{"/dinhKem/0", "/dinhKem/1"}},
		{name: "one missing", body: body, parts: []attachment.Part{part(rs, "", record)}, code: "attachment-missing", paths: []string{"/dinhKem/0"}},
		{name: "altered part", body: body, parts: []attachment.Part{part(cs, "", altered(contract)), part(rs, "", record)},
			code: "attachment-mismatch", paths: []string{"/dinhKem/0/sha256"}},
		{name: "altered part under its file name", body: body, uploaded: [][]byte{contract, record},
			parts: []attachment.Part{part("", "hop-dong-15-2026-HDMB.pdf", altered(contract))},
			code:  "attachment-mismatch", paths: []string{"/dinhKem/0/sha256"}},
		{name: "a part the dossier does not list", body: body, uploaded: [][]byte{contract, record},
			parts: []attachment.Part{part("", "", []byte("khong liet ke"))}, code: "attachment-mismatch", paths: []string{"/dinhKem"}},
		{name: "listed size is not the file's", body: wrongSize, parts: []attachment.Part{part(cs, "", contract), part(rs, "", record)},
			code: "attachment-mismatch", paths: []string{"/dinhKem/0/kichThuoc"}},
		{name: "listed size is not the uploaded file's", body: wrongSize, uploaded: [][]byte{contract, record},
			code: "attachment-mismatch", paths: []string{"/dinhKem/0/kichThuoc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &readCounting{Store: attachment.NewMemory(attachment.Limits{Retention: time.Hour}, nil)}
			for _, u := range tt.uploaded {
				if _, err := store.Put(context.Background(), attachment.Sum(u), u); err != nil {
					t.Fatal(err)
				}
			}
			svc, fs := newService(t, svcOptions{attachments: store})
			sub := Submission{RequestID: "att", Procedure: "chi-thuong-xuyen",
				ContentType: "application/xml", Body: tt.body, Files: tt.parts, Caller: "portal", ReceivedAt: receipt}
			// dossiers:validate finds the same reason, and sends nothing.
			rep, err := svc.Validate(context.Background(), sub)
			if err != nil || rep.Valid != (tt.code == "") || (tt.code != "" && (len(rep.Problems) != 1 || rep.Problems[0].Code != tt.code)) {
				t.Fatalf("validate: %v, %+v; want code %q", err, rep, tt.code)
			}
			if len(fs.sent()) != 0 || len(fs.uploaded()) != 0 {
				t.Fatal("validation sent something to the treasury")
			}
			if n := store.reads.Load(); n != 0 {
				t.Fatalf("validation read the uploaded files (%d reads): it needs their sizes only", n)
			}
			resp, err := svc.Submit(context.Background(), sub)
			if tt.code == "" {
				if err != nil || resp.Status != 202 {
					t.Fatalf("refused: %v", err)
				}
				if got := fs.uploaded(); !reflect.DeepEqual(got, []string{cs, rs}) {
					t.Fatalf("uploads %v, want the listed files in order", got)
				}
				req := fs.sent()[0].request
				atts, _ := req["attachments"].([]any)
				if len(atts) != 2 || atts[0].(map[string]any)["sha256"] != cs {
					t.Fatalf("treasury request attachments %v", req["attachments"])
				}
				rec, _, _ := svc.Dossier(context.Background(), "chi-thuong-xuyen", "G09.20-20260609-0000101")
				if len(rec.Attachments) != 2 || rec.Attachments[1].SHA256 != rs || rec.Attachments[1].TenTep != "bien-ban-nghiem-thu-15-2026.pdf" {
					t.Fatalf("dossier record attachments %+v", rec.Attachments)
				}
				return
			}
			pe := problem.From(err)
			if pe.Kind.Code() != tt.code || pe.Kind.Status() != 422 {
				t.Fatalf("err %v, want %s", err, tt.code)
			}
			var paths []string
			for _, f := range pe.Fields {
				paths = append(paths, f.Path)
			}
			if !reflect.DeepEqual(paths, tt.paths) {
				t.Fatalf("paths %v, want %v (%+v)", paths, tt.paths, pe.Fields)
			}
			if len(fs.sent()) != 0 || len(fs.uploaded()) != 0 {
				t.Fatalf("refused, yet %d documents and %d uploads reached the treasury", len(fs.sent()), len(fs.uploaded()))
			}
			if tt.code == "attachment-missing" && !strings.Contains(pe.Detail, "hop-dong-15-2026-HDMB.pdf") {
				t.Fatalf("detail %q does not name the missing file", pe.Detail)
			}
		})
	}
}

// The limits apply to what the signed listing gives, not only to what comes:
// a listed file over attachments.maxFileBytes, or listed files over
// attachments.maxTotalBytes together, is 413 body-too-large before any file
// is read from the store or sent, however the files come.
func TestListedSizesOverTheLimits(t *testing.T) {
	contract, record := ctxFiles(t)
	size := int64(len(contract) + len(record))
	tests := []struct {
		name   string
		limits FileLimits
		paths  []string
	}{
		{"one file over the per-file limit", FileLimits{MaxFileBytes: int64(max(len(contract), len(record))) - 1, MaxTotalBytes: size},
			[]string{map[bool]string{true: "/dinhKem/0/kichThuoc", false: "/dinhKem/1/kichThuoc"}[len(contract) > len(record)]}},
		{"both files over the per-file limit", FileLimits{MaxFileBytes: int64(min(len(contract), len(record))) - 1},
			[]string{"/dinhKem/0/kichThuoc", "/dinhKem/1/kichThuoc"}},
		{"together over the total", FileLimits{MaxFileBytes: size, MaxTotalBytes: size - 1}, []string{"/dinhKem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := attachment.NewMemory(attachment.Limits{Retention: time.Hour}, nil)
			for _, u := range [][]byte{contract, record} {
				if _, err := mem.Put(context.Background(), attachment.Sum(u), u); err != nil {
					t.Fatal(err)
				}
			}
			store := &readCounting{Store: mem}
			svc, fs := newService(t, svcOptions{attachments: store, fileLimits: tt.limits})
			sub := Submission{RequestID: "att", Procedure: "chi-thuong-xuyen",
				ContentType: "application/xml", Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt}
			_, err := svc.Submit(context.Background(), sub)
			pe := problem.From(err)
			if pe.Kind.Code() != "body-too-large" || pe.Kind.Status() != 413 {
				t.Fatalf("err %v, want 413 body-too-large", err)
			}
			var paths []string
			for _, f := range pe.Fields {
				paths = append(paths, f.Path)
			}
			if !reflect.DeepEqual(paths, tt.paths) {
				t.Fatalf("paths %v, want %v (%+v)", paths, tt.paths, pe.Fields)
			}
			if n := store.reads.Load(); n != 0 || len(fs.sent()) != 0 || len(fs.uploaded()) != 0 {
				t.Fatalf("refused, yet %d files read from the store, %d documents and %d uploads sent", n, len(fs.sent()), len(fs.uploaded()))
			}
			if _, err := svc.Validate(context.Background(), sub); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Within the limits, the same dossier goes through.
	svc, _ := newService(t, svcOptions{fileLimits: FileLimits{MaxFileBytes: int64(max(len(contract), len(record))), MaxTotalBytes: size}})
	if resp, err := svc.Submit(context.Background(), Submission{RequestID: "ok", Procedure: "chi-thuong-xuyen",
		ContentType: "application/xml", Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt}); err != nil || resp.Status != 202 {
		t.Fatalf("within the limits: %v", err)
	}
}

// oneAtATime is a store that checks, at each read, that every file read
// before was sent on to the treasury already (a request holds one stored
// file at a time), and can lose a file between its look-up and its read.
type oneAtATime struct {
	attachment.Store
	fs     *fakeSender
	gone   string // read as not found
	mu     sync.Mutex
	read   []string
	bad    []string
	capped []map[string]int // GetCapped calls: the bytes each gave back, by sum
	sizes  int              // Sizes calls
}

func (o *oneAtATime) GetCapped(ctx context.Context, want map[string]int64) (map[string][]byte, error) {
	got, err := o.Store.GetCapped(ctx, want)
	o.mu.Lock()
	defer o.mu.Unlock()
	lens := map[string]int{}
	for sum, b := range got {
		lens[sum] = len(b)
	}
	o.capped = append(o.capped, lens)
	return got, err
}

func (o *oneAtATime) Sizes(ctx context.Context, sums []string) (map[string]int64, error) {
	o.mu.Lock()
	o.sizes++
	o.mu.Unlock()
	return o.Store.Sizes(ctx, sums)
}

func (o *oneAtATime) Get(ctx context.Context, sum string) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if up := o.fs.uploaded(); len(up) < len(o.read) {
		o.bad = append(o.bad, fmt.Sprintf("%s read while %d of the %d files read before were not sent on", sum, len(o.read)-len(up), len(o.read)))
	}
	o.read = append(o.read, sum)
	if sum == o.gone {
		return nil, attachment.ErrNotFound
	}
	return o.Store.Get(ctx, sum)
}

// Files uploaded before whose listed sizes fit in FileLimits.BatchBytes
// together are read in one call, no further than their listed sizes allow.
// Larger ones are looked up by size, then read from the store one at a
// time, each just before it goes to the treasury, after Submission.FileSlot
// let the request hold the largest of them; a FileSlot that refuses is the
// answer, with nothing sent and nothing kept (a retry goes through); a file
// whose upload expired between its look-up and its read is
// attachment-missing. Such files are uploaded one at a time even where a
// document may carry small files (Options.InlineFileBytes).
func TestStoredFilesAreReadOneAtATime(t *testing.T) {
	contract, record := ctxFiles(t)
	cs := attachment.Sum(contract)
	largest := int64(max(len(contract), len(record)))
	t.Run("small files, one read", func(t *testing.T) {
		store := &oneAtATime{Store: templateFiles(t)}
		svc, fs := newService(t, svcOptions{attachments: store})
		store.fs = fs
		slot := func(context.Context, int64) (func(), error) {
			t.Error("FileSlot called for files read with the dossier's check")
			return func() {}, nil
		}
		sub := Submission{RequestID: "s", Procedure: "chi-thuong-xuyen", ContentType: "application/xml",
			Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt, FileSlot: slot}
		if resp, err := svc.Submit(context.Background(), sub); err != nil || resp.Status != 202 {
			t.Fatalf("refused: %v", err)
		}
		if len(store.capped) != 1 || len(store.capped[0]) != 2 || len(store.read) != 0 || store.sizes != 0 {
			t.Fatalf("%d capped reads (%v), %d single reads, %d size look-ups; want both files in one read", len(store.capped), store.capped, len(store.read), store.sizes)
		}
		if len(fs.uploaded()) != 2 {
			t.Fatalf("%d uploads", len(fs.uploaded()))
		}
	})
	t.Run("listed smaller than uploaded", func(t *testing.T) {
		store := &oneAtATime{Store: templateFiles(t)}
		svc, fs := newService(t, svcOptions{attachments: store})
		store.fs = fs
		body := signXML(t, replaceOnce(t, template(t, "chi-thuong-xuyen", "xml"), "<kichThuoc>799</kichThuoc>", "<kichThuoc>700</kichThuoc>"),
			signing.XMLOptions{}, both...)
		_, err := svc.Submit(context.Background(), Submission{RequestID: "w", Procedure: "chi-thuong-xuyen", ContentType: "application/xml",
			Body: body, Caller: "portal", ReceivedAt: receipt})
		pe := problem.From(err)
		if pe.Kind != problem.AttachmentMismatch || len(pe.Fields) != 1 || pe.Fields[0].Path != "/dinhKem/0/kichThuoc" ||
			!strings.Contains(pe.Fields[0].Message, "is larger, not the listed 700") {
			t.Fatalf("err %v (%+v), want attachment-mismatch at /dinhKem/0/kichThuoc", err, pe.Fields)
		}
		if len(store.capped) != 1 || store.capped[0][cs] != 701 {
			t.Fatalf("reads %v: the file listed at 700 bytes was read past 701", store.capped)
		}
		if len(fs.sent()) != 0 || len(fs.uploaded()) != 0 {
			t.Fatal("refused, yet something reached the treasury")
		}
	})
	inlineBytes := int64(0) // Options.InlineFileBytes of the services setup builds
	setup := func(t *testing.T) (*Service, *fakeSender, *oneAtATime) {
		mem := attachment.NewMemory(attachment.Limits{Retention: time.Hour}, nil)
		for _, u := range [][]byte{contract, record} {
			if _, err := mem.Put(context.Background(), attachment.Sum(u), u); err != nil {
				t.Fatal(err)
			}
		}
		store := &oneAtATime{Store: mem}
		// A batch smaller than either file: both are read one at a time.
		svc, fs := newService(t, svcOptions{attachments: store, fileLimits: FileLimits{BatchBytes: 100}, inlineBytes: inlineBytes})
		store.fs = fs
		return svc, fs, store
	}
	sub := func(id string, slot func(context.Context, int64) (func(), error)) Submission {
		return Submission{RequestID: id, Procedure: "chi-thuong-xuyen", ContentType: "application/xml",
			Body: xmlFixture(t, "chi-thuong-xuyen"), Caller: "portal", ReceivedAt: receipt, FileSlot: slot}
	}

	t.Run("one at a time, in a slot", func(t *testing.T) {
		svc, fs, store := setup(t)
		var asked []int64
		held := 0
		slot := func(_ context.Context, n int64) (func(), error) {
			asked = append(asked, n)
			held++
			return func() { held-- }, nil
		}
		if resp, err := svc.Submit(context.Background(), sub("a", slot)); err != nil || resp.Status != 202 {
			t.Fatalf("refused: %v", err)
		}
		if len(store.bad) > 0 || len(store.read) != 2 || len(store.capped) != 0 || store.sizes != 1 {
			t.Fatalf("reads %v: %v (%d capped reads, %d size look-ups; want one look-up and two single reads)", store.read, store.bad, len(store.capped), store.sizes)
		}
		if !reflect.DeepEqual(asked, []int64{largest}) || held != 0 {
			t.Fatalf("slot asked for %v (want [%d] once), %d still held", asked, largest, held)
		}
		if len(fs.uploaded()) != 2 || len(fs.sent()) != 1 {
			t.Fatalf("%d uploads, %d documents", len(fs.uploaded()), len(fs.sent()))
		}
	})

	t.Run("no slot", func(t *testing.T) {
		svc, fs, store := setup(t)
		lg := &leafLog{}
		svc.evidence = &Recorder{Log: lg, Instance: "test"}
		busy := &problem.Error{Kind: problem.ServerBusy, RetryAfter: 1}
		_, err := svc.Submit(context.Background(), sub("b", func(context.Context, int64) (func(), error) { return nil, busy }))
		if pe := problem.From(err); pe.Kind != problem.ServerBusy || pe.Kind.Status() != 503 {
			t.Fatalf("err %v, want the slot's server-busy", err)
		}
		if len(lg.leaves) != 0 {
			t.Fatalf("a busy answer wrote %d leaves (%+v): the slot comes before the received leaf", len(lg.leaves), lg.leaves)
		}
		if len(store.read) != 0 || len(fs.uploaded()) != 0 || len(fs.sent()) != 0 {
			t.Fatalf("no slot, yet %d reads, %d uploads, %d documents", len(store.read), len(fs.uploaded()), len(fs.sent()))
		}
		// Nothing was kept: the retry, with a slot, goes through.
		if resp, err := svc.Submit(context.Background(), sub("b2", nil)); err != nil || resp.Status != 202 {
			t.Fatalf("retry: %v", err)
		}
	})

	t.Run("the wait ends with half the treasury deadline left", func(t *testing.T) {
		svc, fs, store := setup(t)
		p := *svc.procedures["chi-thuong-xuyen"] // this service's own copy
		p.Deadline = 300 * time.Millisecond
		svc.procedures["chi-thuong-xuyen"] = &p
		busy := &problem.Error{Kind: problem.ServerBusy, RetryAfter: 1}
		slot := func(ctx context.Context, _ int64) (func(), error) {
			if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > 150*time.Millisecond {
				t.Errorf("the wait may last %v, more than half the deadline", time.Until(dl))
			}
			select {
			case <-ctx.Done():
				return nil, busy
			case <-time.After(10 * time.Second):
				t.Error("the wait for a slot outlived the treasury deadline")
				return nil, busy
			}
		}
		_, err := svc.Submit(context.Background(), sub("d", slot))
		if pe := problem.From(err); pe.Kind != problem.ServerBusy {
			t.Fatalf("err %v, want server-busy", err)
		}
		if len(store.read) != 0 || len(fs.uploaded()) != 0 || len(fs.sent()) != 0 {
			t.Fatal("no slot, yet the files or the document went")
		}
	})

	expired := func(t *testing.T) {
		svc, fs, store := setup(t)
		store.gone = cs
		held := 0
		slot := func(context.Context, int64) (func(), error) { held++; return func() { held-- }, nil }
		_, err := svc.Submit(context.Background(), sub("c", slot))
		if held != 0 {
			t.Fatalf("%d slots still held after the refusal", held)
		}
		pe := problem.From(err)
		if pe.Kind != problem.AttachmentMissing || len(pe.Fields) != 1 || pe.Fields[0].Path != "/dinhKem/0" ||
			!strings.Contains(pe.Detail, "hop-dong-15-2026-HDMB.pdf") {
			t.Fatalf("err %v (%+v), want attachment-missing at /dinhKem/0 naming the file", err, pe.Fields)
		}
		if len(fs.sent()) != 0 {
			t.Fatal("a document went without its file")
		}
		store.gone, store.read = "", nil // the refused attempt's read, not uploaded, does not count
		if resp, err := svc.Submit(context.Background(), sub("c2", nil)); err != nil || resp.Status != 202 {
			t.Fatalf("retry: %v", err)
		}
		if len(store.bad) > 0 || len(fs.uploaded()) != 2 {
			t.Fatalf("%v; %d uploads, want the two files uploaded one at a time", store.bad, len(fs.uploaded()))
		}
	}
	t.Run("expired since the look-up", expired)
	// Files left in the store to be read one at a time are uploaded so,
	// however small the bound of files a document may carry.
	inlineBytes = 64 << 10
	t.Run("expired since the look-up, carried files allowed", expired)
}

// One file listed twice (under two names) and sent once is found for both
// entries, however the part names it; an entry that gives it another size
// is refused at that entry.
func TestAttachmentListedTwice(t *testing.T) {
	contract, _ := ctxFiles(t)
	cs := attachment.Sum(contract)
	twice := func(size string) []byte {
		x := template(t, "chi-thuong-xuyen", "xml")
		x = replaceOnce(t, x, "<tenTep>bien-ban-nghiem-thu-15-2026.pdf</tenTep>", "<tenTep>hop-dong-ban-sao.pdf</tenTep>")
		x = replaceOnce(t, x, "<kichThuoc>755</kichThuoc>", "<kichThuoc>"+size+"</kichThuoc>")
		x = replaceOnce(t, x, "<sha256>d2ef27a82c72985cd75fb690ee5bb497c4c23029d5c4b7f55da0e388cf510614</sha256>", "<sha256>"+cs+"</sha256>")
		return signXML(t, x, signing.XMLOptions{}, both...)
	}
	part := func(id, name string) attachment.Part {
		return attachment.Part{ContentType: "application/pdf", ContentID: id, FileName: name, Data: contract}
	}
	for _, tt := range []struct {
		name  string
		body  []byte
		part  attachment.Part
		paths []string
	}{
		{"by the first entry's file name", twice("799"), part("", "hop-dong-15-2026-HDMB.pdf"), nil},
		{"by the second entry's file name", twice("799"), part("", "hop-dong-ban-sao.pdf"), nil},
		{"by Content-ID", twice("799"), part(cs, ""), nil},
		{"by its hash", twice("799"), part("", ""), nil},
		{"another size at the second entry", twice("800"), part("", "hop-dong-15-2026-HDMB.pdf"), []string{"/dinhKem/1/kichThuoc"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := attachment.NewMemory(attachment.Limits{Retention: time.Hour}, nil)
			svc, fs := newService(t, svcOptions{attachments: store})
			resp, err := svc.Submit(context.Background(), Submission{RequestID: "att", Procedure: "chi-thuong-xuyen",
				ContentType: "application/xml", Body: tt.body, Files: []attachment.Part{tt.part}, Caller: "portal", ReceivedAt: receipt})
			if tt.paths == nil {
				if err != nil || resp.Status != 202 {
					t.Fatalf("refused: %v", err)
				}
				if got := fs.uploaded(); !reflect.DeepEqual(got, []string{cs, cs}) {
					t.Errorf("uploads %v, want the file for each entry", got)
				}
				return
			}
			pe := problem.From(err)
			var paths []string
			for _, f := range pe.Fields {
				paths = append(paths, f.Path)
			}
			if pe.Kind.Code() != "attachment-mismatch" || !reflect.DeepEqual(paths, tt.paths) {
				t.Fatalf("err %v (paths %v), want attachment-mismatch at %v", err, paths, tt.paths)
			}
			if len(fs.sent()) != 0 || len(fs.uploaded()) != 0 {
				t.Fatal("refused, yet something reached the treasury")
			}
		})
	}
	// Carried in the document (Options.InlineFileBytes), the file is in
	// each entry that lists it: an entry without content says the file
	// was uploaded.
	t.Run("carried in the document", func(t *testing.T) {
		svc, fs := newService(t, svcOptions{inlineBytes: 64 << 10})
		resp, err := svc.Submit(context.Background(), Submission{RequestID: "att", Procedure: "chi-thuong-xuyen",
			ContentType: "application/xml", Body: twice("799"), Files: []attachment.Part{part("", "")}, Caller: "portal", ReceivedAt: receipt})
		if err != nil || resp.Status != 202 {
			t.Fatalf("refused: %v", err)
		}
		listed, _ := fs.sent()[0].request["attachments"].([]any)
		want := base64.StdEncoding.EncodeToString(contract)
		for i, e := range listed {
			if got, _ := e.(map[string]any)["content"].(string); got != want {
				t.Errorf("attachments[%d] carries %d base64 bytes, want the file's %d", i, len(got), len(want))
			}
		}
		if len(listed) != 2 || len(fs.uploaded()) != 0 {
			t.Errorf("%d entries, %d uploads: want 2 entries and no upload", len(listed), len(fs.uploaded()))
		}
	})
}
