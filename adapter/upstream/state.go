package upstream

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// State is an endpoint's circuit breaker state. Its numeric value is the one exported as
// dvc_upstream_breaker_state: 0 closed, 1 half-open, 2 open.
type State int

// The breaker states.
const (
	StateClosed   State = 0 // calls go through
	StateHalfOpen State = 1 // Settings.HalfOpenMax probes go through
	StateOpen     State = 2 // calls are refused with ErrOpen
)

func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half-open"
	case StateOpen:
		return "open"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// stateOf translates gobreaker's state; this package is the only one that sees it.
func stateOf(s gobreaker.State) State {
	switch s {
	case gobreaker.StateHalfOpen:
		return StateHalfOpen
	case gobreaker.StateOpen:
		return StateOpen
	}
	return StateClosed
}

// StateGauge exports the breaker state of endpoints as dvc_upstream_breaker_state{endpoint}
// (0 closed, 1 half-open, 2 open). Pass its Observe to WithStateHook of every Group it should
// show, and register it once: it is a prometheus.Collector. It is safe for concurrent use.
type StateGauge struct {
	states *prometheus.GaugeVec
}

// NewStateGauge returns a gauge with no endpoint yet.
func NewStateGauge() *StateGauge {
	return &StateGauge{states: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dvc_upstream_breaker_state",
		Help: "Circuit breaker state per upstream endpoint: 0 closed, 1 half-open, 2 open.",
	}, []string{"endpoint"})}
}

// Observe records endpoint's state; it is quick and never calls back into an Endpoint, as a
// state hook must be.
func (g *StateGauge) Observe(endpoint string, s State) {
	g.states.WithLabelValues(endpoint).Set(float64(s))
}

// Describe implements prometheus.Collector.
func (g *StateGauge) Describe(ch chan<- *prometheus.Desc) { g.states.Describe(ch) }

// Collect implements prometheus.Collector.
func (g *StateGauge) Collect(ch chan<- prometheus.Metric) { g.states.Collect(ch) }
