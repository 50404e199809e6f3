// Package portalsim owns the portal simulator: an http.Handler that speaks the National Public
// Service Portal's integration protocol (the one adapter/portal speaks, as OpenCPS's
// DVCQGIntegrationActionImpl uses it) so the adapter's status delivery can be run and tested
// end to end without the real portal.
//
// Two transports, served side by side:
//
//	POST /api                session JSON: {"service":"Login","username","password"} →
//	                         {"error_code":0,"session":"…"}; every other call carries
//	                         {"session","madonvi","service",…}
//	POST /oauth/token        OAuth2 client credentials (HTTP Basic or form client_id and
//	                         client_secret = Username and Password) → {"access_token",
//	                         "token_type":"Bearer","expires_in"}
//	POST /auth               OpenCPS's separate authentication endpoint: {"username","password"}
//	                         → {"error_code":0,"session":"…"}, a session /api accepts
//	POST /api/{service}      the same payloads with "Authorization: Bearer <token>"; an unknown
//	                         or expired token gets HTTP 401
//
// With Options.DstCode set, every protocol request (the logins included) must carry that value
// in its dstcode header, else it is answered HTTP 403 before anything else is read.
//
// Services: TraCuuHoSo {"mahoso"} → {"data":[item]} or {"data":[]}; DongBoHoSoMC
// {"isUpdating":"True"/"False","data":[item…]} stores each item by MaHoSo with its
// TrangThaiHoSo (the full dossier, replaced by each sync); CapNhatTienDoHoSoMC {"data":[item…]}
// moves a synced dossier to its TrangThai and adds the item to the dossier's progress.
// Protocol answers are HTTP 200 with an error_code: Options.SuccessCode on success, else one of
// the Code constants (or an injected or configured one). Statuses are numbers or strings, 1–10.
//
// Routes under /sim/ are for tests and testers and never see faults: GET /sim/received lists
// every authenticated service call in arrival order (one entry per data item), GET
// /sim/dossiers lists the dossiers held and GET /sim/dossiers/{maHoSo} shows one as a
// citizen-facing page would (dossiers.go), and /sim/admin/faults reads, replaces and clears the
// injected faults (faults.go).
package portalsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/kbnn/dvc/adapter/sim/simkit"
)

// Error codes the simulator answers. The real portal's codes are not published; these are the
// simulator's, and the adapter's configuration names the ones it treats specially.
const (
	// CodeSessionExpired: the session is unknown, expired or forcibly expired (log in again).
	CodeSessionExpired = "-1"
	// CodeLoginRefused: wrong username or password.
	CodeLoginRefused = "-2"
	// CodeInvalidRequest: malformed body, unknown service, missing or invalid field.
	CodeInvalidRequest = "-3"
	// CodeUnknownDossier: CapNhatTienDoHoSoMC for a dossier never synced with DongBoHoSoMC.
	CodeUnknownDossier = "-4"
	// DefaultErrorCode is injected when Faults.ErrorRate is set without Faults.ErrorCode.
	DefaultErrorCode = "99"
)

// Options configures a Sim. The zero value is usable.
type Options struct {
	// Username and Password are the only credentials Login accepts, and the client id and
	// secret /oauth/token accepts. Zero: "dvc-adapter" and "dev-portal-secret".
	Username string
	Password string
	// Clock returns the current time: session and token expiry, times of received calls.
	// Zero: time.Now.
	Clock func() time.Time
	// Rand drives Faults.ErrorRate; give a seeded source (rand.NewPCG(seed, seed)) for
	// repeatable runs. The Sim serialises its use. Zero: a randomly seeded source.
	Rand rand.Source
	// SessionTTL is how long a session lives after login. Zero: 30 minutes.
	SessionTTL time.Duration
	// TokenTTL is the lifetime of bearer tokens (expires_in), at least one second.
	// Zero: 5 minutes.
	TokenTTL time.Duration
	// SuccessCode is the error_code of successful answers, as JSON: 0 (a number), "0" or "00"
	// (strings, quotes included). Zero: "00".
	SuccessCode string
	// RejectBackwardCode, when not empty, is answered to a DongBoHoSoMC or CapNhatTienDoHoSoMC
	// that would move a dossier's status backwards (lower than its current one, except 5 → 4
	// and 5 → 2, or away from a final status: 3, 7, 8, 10), and nothing of that call is
	// stored. Empty: such calls are accepted. Either way their /sim/received entries say
	// "backward": true.
	RejectBackwardCode string
	// DstCode, when not empty, is the dstcode header every protocol request must carry; a
	// request without it, or with another value, is answered HTTP 403. Empty: not checked.
	DstCode string
	// MaxBodyBytes bounds request bodies. Zero: 1 MiB.
	MaxBodyBytes int64
	// Logger receives a record for every login, refused call and injected fault.
	// Zero: records are discarded.
	Logger *slog.Logger
}

// Validate reports the first option that makes no sense, naming it.
func (o Options) Validate() error {
	switch o.SuccessCode {
	case "", `0`, `"0"`, `"00"`:
	default:
		return fmt.Errorf("portalsim: SuccessCode %s is not 0, \"0\" or \"00\"", o.SuccessCode)
	}
	if o.SessionTTL < 0 || o.TokenTTL < 0 || o.MaxBodyBytes < 0 {
		return errors.New("portalsim: SessionTTL, TokenTTL and MaxBodyBytes must not be negative")
	}
	if err := checkCode("RejectBackwardCode", o.RejectBackwardCode); err != nil {
		return err
	}
	if strings.TrimSpace(o.DstCode) != o.DstCode || strings.ContainsAny(o.DstCode, "\r\n") {
		return errors.New("portalsim: DstCode must not have spaces around it or line breaks")
	}
	return nil
}

// Sim is the portal simulator. It is safe for concurrent use.
type Sim struct {
	opts     Options
	success  json.RawMessage
	log      *slog.Logger
	sessions *issued
	tokens   *issued
	store    *store
	handler  http.Handler

	faults simkit.Switch[Faults]
	rng    *simkit.Rand
	// sleep waits for d unless ctx ends first (then it returns ctx's error); tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a simulator holding no dossiers. It panics if opts.Validate reports an error.
func New(opts Options) *Sim {
	if err := opts.Validate(); err != nil {
		panic(err.Error())
	}
	if opts.Username == "" {
		opts.Username = "dvc-adapter"
	}
	if opts.Password == "" {
		opts.Password = "dev-portal-secret"
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.SessionTTL == 0 {
		opts.SessionTTL = 30 * time.Minute
	}
	switch {
	case opts.TokenTTL == 0:
		opts.TokenTTL = 5 * time.Minute
	case opts.TokenTTL < time.Second:
		opts.TokenTTL = time.Second
	}
	if opts.SuccessCode == "" {
		opts.SuccessCode = `"00"`
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Sim{opts: opts, success: json.RawMessage(opts.SuccessCode), log: log,
		sessions: newIssued(), tokens: newIssued(), store: newStore(), rng: simkit.NewRand(opts.Rand), sleep: simkit.Sleep}
	s.handler = s.withFaults(s.withDstCode(s.routes()))
	return s
}

func (s *Sim) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api", s.sessionAPI)
	mux.HandleFunc("POST /api/{service}", s.bearerAPI)
	mux.HandleFunc("POST /oauth/token", s.issueToken)
	mux.HandleFunc("POST /auth", s.authAPI)
	mux.HandleFunc("GET /sim/received", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Received())
	})
	mux.HandleFunc("GET /sim/dossiers", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Dossiers())
	})
	mux.HandleFunc("GET /sim/dossiers/{maHoSo}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := s.Dossier(r.PathValue("maHoSo"))
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such dossier"})
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
	s.adminRoutes(mux)
	return mux
}

// ServeHTTP serves the protocol's routes, with the injected faults, and the /sim/ routes.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Received returns every authenticated service call in arrival order (what GET /sim/received
// lists), one entry per data item.
func (s *Sim) Received() []Received { return s.store.list() }

// Status returns a dossier's current status as the simulator holds it, and whether it holds
// that dossier.
func (s *Sim) Status(maHoSo string) (int, bool) { return s.store.status(maHoSo) }

// ExpireSessions forgets every session, as a portal restart would: the next call with an old
// session gets CodeSessionExpired.
func (s *Sim) ExpireSessions() { s.sessions.reset() }

// InvalidateTokens forgets every bearer token: the next call with an old token gets 401.
func (s *Sim) InvalidateTokens() { s.tokens.reset() }

func (s *Sim) now() time.Time { return s.opts.Clock() }

// answer writes a protocol answer: HTTP 200 with error_code (code "" is the success code),
// message and the extra members.
func (s *Sim) answer(w http.ResponseWriter, code, message string, extra map[string]any) {
	body := make(map[string]any, len(extra)+2)
	for k, v := range extra {
		body[k] = v
	}
	body["error_code"] = s.success
	if code != "" {
		body["error_code"] = code
	}
	body["message"] = message
	writeJSON(w, http.StatusOK, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
