package limits

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var (
	rateLimited = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      "streamspace_bridge",
		Name:           "rate_limited_total",
		Help:           "Requests answered 429 by the bridge's own limits, by limit (requests, feeds, user_log_streams, container_log_streams).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"limit"})

	registerMetricsOnce sync.Once
)

// RegisterMetrics adds the limits' metrics to the legacy registry.
func RegisterMetrics() {
	registerMetricsOnce.Do(func() { legacyregistry.MustRegister(rateLimited) })
}
