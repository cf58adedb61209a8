package identity

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var (
	tokenReviews = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      "streamspace_bridge",
		Name:           "token_reviews_total",
		Help:           "SelfSubjectReviews made to admit a bearer token not in the cache, by result (accepted, refused, error).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})

	registerMetricsOnce sync.Once
)

// RegisterMetrics adds the token cache's metrics to the legacy registry.
func RegisterMetrics() {
	registerMetricsOnce.Do(func() { legacyregistry.MustRegister(tokenReviews) })
}
