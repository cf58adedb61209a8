package sessionauth

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var (
	decisions = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      "streamspace_bridge",
		Name:           "session_auth_decisions_total",
		Help:           "Answers to session URL forward-auth requests, by result (allowed, forbidden, not_found, error) and whether the decision came from the cache.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result", "cached"})

	registerMetricsOnce sync.Once
)

// RegisterMetrics adds the forward-auth metrics to the legacy registry.
func RegisterMetrics() {
	registerMetricsOnce.Do(func() { legacyregistry.MustRegister(decisions) })
}
