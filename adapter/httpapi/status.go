package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/problem"
)

// CallbackReceiver takes the treasury's status callbacks. Receive checks the
// sender first (the webhook signature, unless the context says the channel
// authenticated it): an unauthorized problem then, and no other.
type CallbackReceiver interface {
	Receive(ctx context.Context, h http.Header, body []byte) (duplicate bool, err error)
}

// DeadLetters is what operators may do with parked status events.
type DeadLetters = outbox.DeadLetterAdmin

// maxCallbackBytes bounds a status event.
const maxCallbackBytes = 256 << 10

// routesCallbacks serves the treasury's status callbacks (public listener).
func (s *server) routesCallbacks(e *echo.Echo) {
	if s.Callbacks != nil {
		e.POST(callbackRoute, s.callback, s.callbackAuth)
	}
}

// routesDeadLetters serves the dead letters to operators (admin listener).
func (s *server) routesDeadLetters(e *echo.Echo) {
	if s.DeadLetters != nil {
		admin := s.authenticate("dvc-adapter-admin", access{GroupAdmin, s.AdminCallers})
		e.GET("/v1/admin/dead-letters", s.listDead, admin)
		e.GET("/v1/admin/dead-letters/:procedure/:maHoSo/:eventId", s.inspectDead, admin)
		e.POST("/v1/admin/dead-letters/:procedure/:maHoSo/:eventId/replay", s.replayDead, admin)
		e.DELETE("/v1/admin/dead-letters/:procedure/:maHoSo/:eventId", s.discardDead, admin)
		e.POST("/v1/admin/dead-letters/replay", s.replayAllDead, admin)
	}
}

func (s *server) callback(c echo.Context) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, maxCallbackBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return problem.New(problem.BodyTooLarge, "A status event is at most 256 KiB.")
		}
		return problem.Wrap(problem.MalformedBody, err, "The body could not be read.")
	}
	c.Set(ctxBody, body)
	dup, err := s.Callbacks.Receive(c.Request().Context(), c.Request().Header, body)
	// Receive authenticates the sender (webhook signature, or the channel)
	// before anything else: any answer but unauthorized is to the
	// treasury, and only those answers get a leaf.
	if err == nil || problem.From(err).Kind != problem.Unauthorized {
		c.Set(ctxSender, true)
	}
	if err != nil {
		return err
	}
	// 2xx only once the leaf is written: else 503, and the treasury
	// resends (a repeated event is acknowledged, and logged, again).
	status := http.StatusAccepted
	if dup {
		status = http.StatusOK
	}
	if err := s.logOutcome(c, status, "", false, nil); err != nil {
		return err
	}
	if dup {
		return c.JSON(http.StatusOK, map[string]string{"status": "duplicate", "detail": "event already received; not delivered again"})
	}
	return c.JSON(http.StatusAccepted, map[string]string{"status": "accepted"})
}

func deadKey(c echo.Context) (string, string) {
	return c.Param("procedure") + "|" + c.Param("maHoSo"), c.Param("eventId")
}

func adminErr(err error) error {
	switch {
	case errors.Is(err, outbox.ErrNotFound):
		return problem.New(problem.NotFound, "No such dead letter.")
	case errors.Is(err, outbox.ErrInvalid):
		return problem.New(problem.MalformedBody, "Invalid dead-letter reference or cursor.")
	}
	return &problem.Error{Kind: problem.StoreUnavailable, Cause: err, RetryAfter: 5}
}

func (s *server) listDead(c echo.Context) error {
	n, _ := strconv.Atoi(c.QueryParam("limit"))
	if n <= 0 || n > 500 {
		n = 100
	}
	letters, next, err := s.DeadLetters.DeadLetters(c.Request().Context(), c.QueryParam("cursor"), n)
	if err != nil {
		return adminErr(err)
	}
	if letters == nil {
		letters = []outbox.DeadLetter{}
	}
	return c.JSON(http.StatusOK, map[string]any{"deadLetters": letters, "next": next})
}

func (s *server) inspectDead(c echo.Context) error {
	d, id := deadKey(c)
	dl, err := s.DeadLetters.Inspect(c.Request().Context(), d, id)
	if err != nil {
		return adminErr(err)
	}
	return c.JSON(http.StatusOK, dl)
}

func (s *server) replayDead(c echo.Context) error {
	d, id := deadKey(c)
	if err := s.DeadLetters.Replay(c.Request().Context(), d, id); err != nil {
		return adminErr(err)
	}
	s.Log.Info("dead letter replayed", "dossier", d, "eventId", id, "operator", c.Get(ctxCaller))
	return c.JSON(http.StatusAccepted, map[string]any{"replayed": 1})
}

func (s *server) replayAllDead(c echo.Context) error {
	n, err := s.DeadLetters.ReplayAll(c.Request().Context())
	if err != nil {
		return adminErr(err)
	}
	s.Log.Info("dead letters replayed", "count", n, "operator", c.Get(ctxCaller))
	return c.JSON(http.StatusAccepted, map[string]any{"replayed": n})
}

func (s *server) discardDead(c echo.Context) error {
	d, id := deadKey(c)
	if err := s.DeadLetters.Discard(c.Request().Context(), d, id); err != nil {
		return adminErr(err)
	}
	s.Log.Warn("dead letter discarded", "dossier", d, "eventId", id, "operator", c.Get(ctxCaller))
	return c.NoContent(http.StatusNoContent)
}
