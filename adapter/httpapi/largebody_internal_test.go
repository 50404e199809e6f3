package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/iotest"
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
	if !s.uploadGate.Take(t.Context()) { // every upload slot held
		t.Fatal("the upload slot was not free")
	}
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
			if n := s.largeGate.Taken(); n != 0 {
				t.Fatalf("%d large-body slots still held after the request", n)
			}
		})
	}
}

// A body of unknown length whose last read passes the threshold and ends
// with io.EOF at once (as net/http's chunked reader may answer) still
// needs a slot: with none free it is busy, not read whole. At or under the
// threshold it needs none.
func TestGatedReaderTakesTheSlotInTheReadThatPassesIt(t *testing.T) {
	const threshold = 1024
	for _, tc := range []struct {
		size     int
		wantBusy bool
	}{{threshold + 10, true}, {threshold + 1, true}, {threshold, false}, {10, false}} {
		g := newLargeGate(LargeBodyLimits{Bytes: threshold}, 1)
		if !g.Take(t.Context()) { // the one slot held
			t.Fatal("the slot was not free")
		}
		r := &gatedReader{r: io.NopCloser(iotest.DataErrReader(bytes.NewReader(make([]byte, tc.size)))), gate: g,
			ctx: t.Context(), left: threshold}
		_, err := io.ReadAll(r)
		if busy := errors.Is(err, errBusy); busy != tc.wantBusy {
			t.Errorf("%d bytes with no slot free: err %v, want busy %v", tc.size, err, tc.wantBusy)
		}
		g.Give()
		r = &gatedReader{r: io.NopCloser(iotest.DataErrReader(bytes.NewReader(make([]byte, tc.size)))), gate: g,
			ctx: t.Context(), left: threshold}
		b, err := io.ReadAll(r)
		if err != nil || len(b) != tc.size || r.held != tc.wantBusy {
			t.Errorf("%d bytes with a slot free: %d read, %v, slot held %v", tc.size, len(b), err, r.held)
		}
		r.done()
	}
}
