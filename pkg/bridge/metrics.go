package bridge

import (
	"net/http"
	"strconv"
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/streamspace/controlplane/pkg/bridge/feed"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
	"github.com/streamspace/controlplane/pkg/bridge/limits"
	"github.com/streamspace/controlplane/pkg/bridge/sessionauth"
)

const metricsSubsystem = "streamspace_bridge"

var (
	httpRequests = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "http_requests_total",
		Help:           "HTTP requests by route pattern and status code (WebSocket handshakes count as 101).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"route", "code"})

	registerMetricsOnce sync.Once
)

func registerMetrics() {
	registerMetricsOnce.Do(func() {
		legacyregistry.MustRegister(httpRequests)
	})
	identity.RegisterMetrics()
	limits.RegisterMetrics()
	feed.RegisterMetrics()
	sessionauth.RegisterMetrics()
}

// statusRecorder remembers the status code written, and passes Hijack
// through for WebSocket upgrades.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func instrument(pattern string, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next(rec, r)
		code := rec.code
		if code == 0 {
			code = http.StatusOK
			if identity.IsWebSocketHandshake(r) {
				code = http.StatusSwitchingProtocols
			}
		}
		httpRequests.WithLabelValues(pattern, strconv.Itoa(code)).Inc()
	})
}
