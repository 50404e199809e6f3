package outbox

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StatsReader is what DepthCollector reads; every Store is one.
type StatsReader interface {
	Stats(ctx context.Context) (Stats, error)
}

// DepthCollector exports the outbox's depths as dvc_outbox_events{state}
// (pending, in_flight, waiting, dead). It reads Stats once per scrape and
// emits the four series from that one snapshot. A failed read emits no depth
// for that scrape (a made-up value would be read as a depth) and counts
// dvc_outbox_stats_errors_total instead. Register it once.
type DepthCollector struct {
	stats   StatsReader
	timeout time.Duration
	events  *prometheus.Desc
	errors  prometheus.Counter
}

// NewDepthCollector reads stats with at most timeout per scrape (zero
// means one second).
func NewDepthCollector(stats StatsReader, timeout time.Duration) *DepthCollector {
	if timeout <= 0 {
		timeout = time.Second
	}
	return &DepthCollector{
		stats:   stats,
		timeout: timeout,
		events: prometheus.NewDesc("dvc_outbox_events",
			"The outbox by state: pending, every undelivered event (the leased, waiting and dead-lettered ones included); in_flight, dossiers whose head event is leased; waiting, dossiers waiting for their retry time; dead, dead letters.",
			[]string{"state"}, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dvc_outbox_stats_errors_total",
			Help: "Scrapes at which the outbox depths could not be read (no dvc_outbox_events then).",
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *DepthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.events
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *DepthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := c.stats.Stats(ctx)
	if err != nil {
		c.errors.Inc()
	} else {
		for _, d := range []struct {
			state string
			n     int64
		}{{"pending", st.Pending}, {"in_flight", st.InFlight}, {"waiting", st.Waiting}, {"dead", st.Dead}} {
			ch <- prometheus.MustNewConstMetric(c.events, prometheus.GaugeValue, float64(d.n), d.state)
		}
	}
	c.errors.Collect(ch)
}

// AttemptCounter counts delivery attempts by how the worker settled them,
// as dvc_delivery_attempts_total{result} (Result.String). Call Observe from
// WorkerConfig.OnAttempt and register it once.
type AttemptCounter struct {
	attempts *prometheus.CounterVec
}

// NewAttemptCounter returns a counter with no attempt yet.
func NewAttemptCounter() *AttemptCounter {
	return &AttemptCounter{attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dvc_delivery_attempts_total",
		Help: "Attempts to deliver status events to the portal, by result.",
	}, []string{"result"})}
}

// Observe counts one attempt settled as r.
func (a *AttemptCounter) Observe(r Result) {
	a.attempts.WithLabelValues(r.String()).Inc()
}

// Describe implements prometheus.Collector.
func (a *AttemptCounter) Describe(ch chan<- *prometheus.Desc) { a.attempts.Describe(ch) }

// Collect implements prometheus.Collector.
func (a *AttemptCounter) Collect(ch chan<- prometheus.Metric) { a.attempts.Collect(ch) }
