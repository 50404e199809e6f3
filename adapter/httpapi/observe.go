package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kbnn/dvc/adapter/problem"
)

// Metrics are the adapter's Prometheus series.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	breakers *prometheus.GaugeVec
	attempts *prometheus.CounterVec
}

// DeliveryAttempt counts one attempt to deliver a status event to the
// portal, by result (delivered, retried, dead-lettered, lease-lost,
// store-failed).
func (m *Metrics) DeliveryAttempt(result string) {
	m.attempts.WithLabelValues(result).Inc()
}

// QueueDepth exports the outbox's depths (pending, in flight, waiting, dead)
// read by stats at each scrape.
func (m *Metrics) QueueDepth(stats func() (map[string]int64, error)) {
	for _, kind := range []string{"pending", "in_flight", "waiting", "dead"} {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "dvc_outbox_events",
			Help:        "Status events in the outbox by state (pending includes the others but in_flight).",
			ConstLabels: prometheus.Labels{"state": kind},
		}, func() float64 {
			v, err := stats()
			if err != nil {
				return -1
			}
			return float64(v[kind])
		}))
	}
}

// BreakerState records an upstream endpoint's circuit breaker state
// (0 closed, 1 half-open, 2 open).
func (m *Metrics) BreakerState(endpoint string, state int) {
	m.breakers.WithLabelValues(endpoint).Set(float64(state))
}

// NewMetrics registers the series on reg (a new registry when nil).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvc_submissions_total",
			Help: "Dossier submissions by procedure and outcome (accepted or the problem code).",
		}, []string{"procedure", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dvc_http_request_duration_seconds",
			Help:    "HTTP request latency by route and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "status"}),
	}
	m.breakers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dvc_upstream_breaker_state",
		Help: "Circuit breaker state per upstream endpoint: 0 closed, 1 half-open, 2 open.",
	}, []string{"endpoint"})
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dvc_delivery_attempts_total",
		Help: "Attempts to deliver status events to the portal, by result.",
	}, []string{"result"})
	reg.MustRegister(m.requests, m.latency, m.breakers, m.attempts)
	return m
}

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry is where other packages register their series.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

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
		if p, ok := c.Get(ctxProcedure).(string); ok && c.Request().Method == http.MethodPost && s.Intake.Procedure(p) != nil {
			outcome := "accepted"
			if err != nil {
				outcome = problem.From(err).Kind.Code()
			}
			s.Metrics.requests.WithLabelValues(p, outcome).Inc()
		}
		return err
	}
}

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }
