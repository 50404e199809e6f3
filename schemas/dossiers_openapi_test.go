package schemas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/httpapi"
)

// fakeDossiers stands in for intake's FindDossiers: an in-memory store
// holding sampleDossiers, the procedures of this directory, and err for
// every call if set.
type fakeDossiers struct {
	once  sync.Once
	store *dossier.Memory
	err   error
}

var sampleAt = time.Date(2026, 6, 9, 8, 30, 2, 0, time.FixedZone("ICT", 7*3600))

func (f *fakeDossiers) FindDossiers(ctx context.Context, q dossier.Query) ([]dossier.Item, string, error) {
	f.once.Do(func() {
		f.store = dossier.NewMemory()
		for i, p := range []string{"chi-thuong-xuyen", "tai-khoan", "von-dau-tu"} {
			code := fmt.Sprintf("G09.20-20260609-%07d", 101+i)
			_ = dossier.Register(ctx, f.store, dossier.Record{Procedure: p, MaHoSo: code, TrangThai: 1, Unit: "1012345",
				TreasuryReference: fmt.Sprintf("KBNN-0011-2026-%06d", 1+i), TreasuryDocumentID: fmt.Sprintf("KB-2026-%06d", 1+i),
				ReceivedAt: sampleAt.Add(time.Duration(i) * time.Minute), UpdatedAt: sampleAt.Add(time.Duration(i) * time.Minute)})
		}
	})
	if f.err != nil {
		return nil, "", f.err
	}
	if q.Procedure != "" {
		if _, err := fs.Stat(os.DirFS("."), q.Procedure+"/dossier.schema.json"); err != nil {
			return nil, "", &dossier.QueryError{Param: "procedure", Reason: fmt.Sprintf("%q is not a configured procedure", q.Procedure)}
		}
	}
	return f.store.List(ctx, q)
}

func dossiersServer(ds *fakeDossiers) *echo.Echo {
	return httpapi.New(httpapi.Options{
		Callers:      []httpapi.Caller{{Name: "portal", Token: portalToken}},
		AdminCallers: []httpapi.Caller{{Name: "operator", Token: adminToken}},
		Dossiers:     ds,
		Log:          slog.New(slog.DiscardHandler),
	})
}

// TestAdapterOpenAPIFindDossiers sends GET /v1/dossiers requests through
// the real handler (with an in-memory store) and checks every answer
// against the document.
func TestAdapterOpenAPIFindDossiers(t *testing.T) {
	doc := loadOpenAPI(t)
	s := newOpenAPISchemas(t, doc)
	portal := http.Header{"Authorization": {"Bearer " + portalToken}}
	admin := http.Header{"Authorization": {"Bearer " + adminToken}}
	// the cursor of a first page of one
	rec := serve(fullServer(nil, nil), "GET", "/v1/dossiers?limit=1", nil, portal)
	var page struct{ Next string }
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || page.Next == "" {
		t.Fatalf("first page: %s %v", rec.Body, err)
	}
	tests := []struct {
		name, target string
		header       http.Header
		ds           *fakeDossiers
		want         int
	}{
		{"everything, portal", "/v1/dossiers", portal, nil, 200},
		{"everything, operator", "/v1/dossiers", admin, nil, 200},
		{"every filter", "/v1/dossiers?unit=1012345&procedure=tai-khoan&status=1,4&from=2026-06-01&to=" + url.QueryEscape("2026-06-30T17:00:00+07:00") + "&limit=5", portal, nil, 200},
		{"next page", "/v1/dossiers?limit=1&cursor=" + page.Next, portal, nil, 200},
		{"nothing found", "/v1/dossiers?status=10", portal, nil, 200},
		{"without credential", "/v1/dossiers", nil, nil, 401},
		{"unknown procedure", "/v1/dossiers?procedure=zz-moi", portal, nil, 400},
		{"bad status", "/v1/dossiers?status=11", portal, nil, 400},
		{"cursor for other filters", "/v1/dossiers?unit=1012345&cursor=" + page.Next, portal, nil, 400},
		{"store unavailable", "/v1/dossiers", admin, &fakeDossiers{err: errors.New("redis: connection refused")}, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h http.Handler = fullServer(nil, nil)
			if tt.ds != nil {
				h = dossiersServer(tt.ds)
			}
			rec := serve(h, "GET", tt.target, nil, tt.header)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			for _, e := range checkResponse(doc, s, "get", "/v1/dossiers", rec) {
				t.Error(e)
			}
		})
	}
	// The item as the code writes it has the members the document describes.
	items, _, err := (&fakeDossiers{}).FindDossiers(context.Background(), dossier.Query{Limit: 1})
	if err != nil || len(items) != 1 {
		t.Fatalf("%v %v", items, err)
	}
	item := asJSON(t, items[0])
	if err := s.at("/components/schemas/DossierItem").Validate(item); err != nil {
		t.Errorf("dossier.Item does not match #/components/schemas/DossierItem: %v", err)
	}
	sameMembers(t, "dossier.Item", item, obj(obj(obj(doc["components"])["schemas"])["DossierItem"]))
}
