package signin

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var (
	signInsStarted = metrics.NewCounter(&metrics.CounterOpts{
		Subsystem: "streamspace_bridge", Name: "signins_started_total",
		Help:           "Sign-ins sent to the identity provider.",
		StabilityLevel: metrics.ALPHA,
	})
	signInsCompleted = metrics.NewCounter(&metrics.CounterOpts{
		Subsystem: "streamspace_bridge", Name: "signins_completed_total",
		Help:           "Sign-ins that came back with a verified ID token.",
		StabilityLevel: metrics.ALPHA,
	})
	signInsFailed = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem: "streamspace_bridge", Name: "signins_failed_total",
		Help:           "Sign-ins refused at the callback, by reason (provider, state, exchange).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"reason"})
	signInsEvicted = metrics.NewCounter(&metrics.CounterOpts{
		Subsystem: "streamspace_bridge", Name: "signins_evicted_total",
		Help:           "Sign-ins forgotten because the bridge held its maximum number of them.",
		StabilityLevel: metrics.ALPHA,
	})
	refreshes = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem: "streamspace_bridge", Name: "signin_refreshes_total",
		Help:           "ID token refreshes of sign-ins, by result (ok, refused).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})
	signOuts = metrics.NewCounter(&metrics.CounterOpts{
		Subsystem: "streamspace_bridge", Name: "signouts_total",
		Help:           "Sign-ins ended by their person.",
		StabilityLevel: metrics.ALPHA,
	})

	registerMetricsOnce sync.Once
)

func registerMetrics() {
	registerMetricsOnce.Do(func() {
		legacyregistry.MustRegister(signInsStarted, signInsCompleted, signInsFailed, signInsEvicted, refreshes, signOuts)
	})
}
