package upstream

import (
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestStateString(t *testing.T) {
	for st, want := range map[State]string{StateClosed: "closed", StateHalfOpen: "half-open", StateOpen: "open", State(7): "state(7)"} {
		if got := st.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(st), got, want)
		}
	}
}

// gauged gathers the gauge from a registry of its own: endpoint → value.
func gauged(t *testing.T, g *StateGauge) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(g); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "dvc_upstream_breaker_state" {
			t.Fatalf("unexpected series %s", f.GetName())
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "endpoint" {
				t.Fatalf("labels %v, want endpoint only", m.GetLabel())
			}
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}

// The gauge shows each endpoint closed from its creation, then follows its breaker.
func TestStateGaugeFollowsBreaker(t *testing.T) {
	g := NewStateGauge()
	h := newHarness(t, testSettings(), WithStateHook(g.Observe))
	send, status := h.g.Endpoint("send-document"), h.g.Endpoint("document-status")
	if got, want := gauged(t, g), map[string]float64{"treasury/send-document": 0, "treasury/document-status": 0}; !maps.Equal(got, want) {
		t.Fatalf("before: %v, want %v", got, want)
	}
	trip(t, send)
	if got, want := gauged(t, g), map[string]float64{"treasury/send-document": 2, "treasury/document-status": 0}; !maps.Equal(got, want) {
		t.Fatalf("after a trip: %v, want %v", got, want)
	}
	if status.State() != StateClosed {
		t.Fatalf("document-status is %s, want closed", status.State())
	}
}
