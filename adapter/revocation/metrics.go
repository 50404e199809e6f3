package revocation

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts revocation checks by source (ocsp, crl) and outcome
// (good, revoked, unknown, unavailable, cached). It is a
// prometheus.Collector; register it once.
type Metrics struct {
	checks *prometheus.CounterVec
}

// NewMetrics returns the revocation metrics.
func NewMetrics() *Metrics {
	return &Metrics{checks: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dvc_revocation_checks_total",
		Help: "Revocation status lookups of signer and CA certificates, by source and outcome (cached: answered from the cache).",
	}, []string{"source", "outcome"})}
}

// observe counts one lookup; a nil Metrics counts nothing.
func (m *Metrics) observe(source, outcome string) {
	if m != nil {
		m.checks.WithLabelValues(source, outcome).Inc()
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { m.checks.Describe(ch) }

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) { m.checks.Collect(ch) }
