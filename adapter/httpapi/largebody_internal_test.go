package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// A request holds a slot of the large bodies from the moment its body is
// known to be large: at once with a Content-Length over the threshold, or,
// for a body of unknown length, once the bytes read pass it. fileSlot then
// takes no upload slot for it, even with every upload slot held; a small
// request does wait for one (and is refused when none comes free).
func TestFileSlotInALargeBodySlot(t *testing.T) {
	const threshold = 1024
	s := &server{largeGate: newLargeGate(LargeBodyLimits{Bytes: threshold, Wait: 10 * time.Millisecond}, 2),
		uploadGate: newLargeGate(LargeBodyLimits{Bytes: threshold, Wait: 10 * time.Millisecond}, 1)}
	s.uploadGate.slots <- struct{}{} // every upload slot held
	slotErr := func(c echo.Context) error {
		if _, err := io.ReadAll(c.Request().Body); err != nil {
			return err
		}
		release, err := s.fileSlot(c.Request().Context(), 4*threshold)
		if err == nil {
			release()
		}
		return err
	}
	for _, tc := range []struct {
		name     string
		size     int
		sized    bool
		wantFree bool // fileSlot answered without an upload slot
	}{
		{"large, sized", 2 * threshold, true, true},
		{"large, unknown length", 2 * threshold, false, true},
		{"small, sized", threshold / 2, true, false},
		{"small, unknown length", threshold / 2, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(make([]byte, tc.size))
			if !tc.sized {
				body = io.MultiReader(body) // hides the length
			}
			req := httptest.NewRequest(http.MethodPost, "/", body)
			if !tc.sized {
				req.ContentLength = -1
			}
			e := echo.New()
			c := e.NewContext(req, httptest.NewRecorder())
			err := capBodies(s.largeGate, slotErr)(c)
			if got := err == nil; got != tc.wantFree {
				t.Fatalf("fileSlot: %v; want it free of the upload gate: %v", err, tc.wantFree)
			}
			if n := len(s.largeGate.slots); n != 0 {
				t.Fatalf("%d large-body slots still held after the request", n)
			}
		})
	}
}
