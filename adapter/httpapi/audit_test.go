package httpapi

import (
	"bytes"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/auditlog"
)

// Whatever a callback body holds, its leaf is one line of JSON that reads
// back as the record it was made from.
func FuzzCallbackLeaf(f *testing.F) {
	f.Add([]byte(`{"eventId":"ev-1","dossierCode":"G09.20-20260609-0000101","procedure":"chi-thuong-xuyen","supplementNo":0,"reference":"KBNN-1"}`))
	f.Add([]byte(`{"eventId":"a\nb","dossierCode":"\u2028","supplementNo":-1}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"supplementNo":1e40}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := auditlog.Record{Time: time.Unix(0, 0), Route: CallbackRoute, BodySHA256: auditlog.BodyHash(body), Status: 202}
		callbackIdentity(&rec, body)
		leaf, err := auditlog.MarshalLeaf(rec)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.IndexByte(leaf, '\n') >= 0 {
			t.Fatalf("leaf holds a line feed: %s", leaf)
		}
		back, err := auditlog.ParseLeaf(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if back.EventID != rec.EventID || back.MaHoSo != rec.MaHoSo || back.SoBoSung != rec.SoBoSung {
			t.Fatalf("read back %+v, wrote %+v", back, rec)
		}
	})
}
