package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kbnn/dvc/adapter/problem"
)

// Metrics are the HTTP series: dossier submissions and withdrawals by
// procedure and outcome, answers replayed from the idempotency store apart,
// and request latency by route and status. They are a prometheus.Collector:
// register them once, on the registry that /metrics serves.
//
// A replay (Idempotent-Replayed) repeats an outcome already counted when it
// was first answered, so it goes to the replay counters only: the rate of
// dvc_submissions_total{outcome="accepted"} is dossiers the treasury took,
// however often the portal retries.
type Metrics struct {
	submissions       *prometheus.CounterVec
	withdrawals       *prometheus.CounterVec
	submissionReplays *prometheus.CounterVec
	withdrawalReplays *prometheus.CounterVec
	latency           *prometheus.HistogramVec
}

// NewMetrics returns the series, not registered anywhere.
func NewMetrics() *Metrics {
	return &Metrics{
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvc_submissions_total",
			Help: "Dossier submissions by procedure and outcome (accepted or the problem code).",
		}, []string{"procedure", "outcome"}),
		withdrawals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvc_withdrawals_total",
			Help: "Dossier withdrawals by procedure and outcome (accepted or the problem code).",
		}, []string{"procedure", "outcome"}),
		submissionReplays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvc_submission_replays_total",
			Help: "Submission answers replayed from the idempotency store, by procedure and the replayed outcome; not in dvc_submissions_total.",
		}, []string{"procedure", "outcome"}),
		withdrawalReplays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvc_withdrawal_replays_total",
			Help: "Withdrawal answers replayed from the idempotency store, by procedure and the replayed outcome; not in dvc_withdrawals_total.",
		}, []string{"procedure", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dvc_http_request_duration_seconds",
			Help:    "HTTP request latency by route and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "status"}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.submissions.Describe(ch)
	m.withdrawals.Describe(ch)
	m.submissionReplays.Describe(ch)
	m.withdrawalReplays.Describe(ch)
	m.latency.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.submissions.Collect(ch)
	m.withdrawals.Collect(ch)
	m.submissionReplays.Collect(ch)
	m.withdrawalReplays.Collect(ch)
	m.latency.Collect(ch)
}

// observe records every request's latency by route and status.
func (s *server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		status := c.Response().Status
		if err != nil {
			status = problem.From(err).Kind.Status()
			if he, ok := err.(*echo.HTTPError); ok {
				status = he.Code
			}
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.Metrics.latency.WithLabelValues(route, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
		return err
	}
}

// outcome is how a request ended.
type outcome struct {
	code     string // the problem code; empty for a success
	status   int
	replayed bool  // the answer was replayed from the idempotency store
	cause    error // for the log only
}

// The routes of dossier submissions, withdrawals and validations. The colon
// of ":validate" is escaped: unescaped, echo would read it as a parameter.
const (
	submitRoute   = "/v1/procedures/:procedure/dossiers"
	withdrawRoute = "/v1/procedures/:procedure/dossiers/:maHoSo/withdrawal"
	validateRoute = `/v1/procedures/:procedure/dossiers\:validate`
	callbackRoute = "/v1/callbacks/treasury/status"
)

// conclude is the one place where a request's outcome is logged (refusals
// and failures, once each) and where submissions and withdrawals are
// counted, whether the answer is an error handed to handleError or a final
// answer (fresh or replayed) that the intake rendered itself. A replayed
// answer is counted in the replay counters, never again as an outcome.
func (s *server) conclude(c echo.Context, o outcome) {
	if o.code != "" {
		id, _ := c.Get(ctxRequestID).(string)
		procedure := c.Get(ctxProcedure)
		if procedure == nil && c.Param("procedure") != "" {
			procedure = c.Param("procedure")
		}
		attrs := []any{"request_id", id, "code", o.code, "status", o.status,
			"procedure", procedure, "path", c.Request().URL.Path}
		if code, ok := c.Get(ctxCode).(string); ok {
			attrs = append(attrs, "maHoSo", code)
		}
		if o.replayed {
			attrs = append(attrs, "replayed", true)
		}
		if o.cause != nil {
			attrs = append(attrs, "cause", o.cause.Error())
		}
		if o.status >= 500 {
			s.Log.Error("request failed", attrs...)
		} else {
			s.Log.Info("request refused", attrs...)
		}
	}
	if c.Request().Method != http.MethodPost {
		return
	}
	var counter *prometheus.CounterVec
	switch path := c.Path(); {
	case path == submitRoute && o.replayed:
		counter = s.Metrics.submissionReplays
	case path == submitRoute:
		counter = s.Metrics.submissions
	case path == withdrawRoute && o.replayed:
		counter = s.Metrics.withdrawalReplays
	case path == withdrawRoute:
		counter = s.Metrics.withdrawals
	default:
		return
	}
	// Only configured procedures become label values; a request to any
	// other counts under procedure="".
	procedure := c.Param("procedure")
	if s.Intake == nil || s.Intake.Procedure(procedure) == nil {
		procedure = ""
	}
	result := o.code
	if result == "" {
		result = "accepted"
	}
	counter.WithLabelValues(procedure, result).Inc()
}
