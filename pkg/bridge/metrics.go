package bridge

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/streamspace/controlplane/pkg/bridge/identity"
	"github.com/streamspace/controlplane/pkg/bridge/limits"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

const metricsSubsystem = "streamspace_bridge"

var (
	httpRequests = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "http_requests_total",
		Help:           "HTTP requests by route pattern and status code (WebSocket handshakes count as 101).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"route", "code"})
	feedClients = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Subsystem:      metricsSubsystem,
		Name:           "feed_clients",
		Help:           "WebSocket clients connected, by feed.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"feed"})
	feedMessages = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "feed_messages_total",
		Help:           "Messages written to WebSocket clients, by feed.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"feed"})
	feedClientsDropped = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "feed_clients_dropped_total",
		Help:           "WebSocket clients disconnected by the bridge, by feed and reason (slow: queue full; unresponsive: no pong).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"feed", "reason"})
	sharedWatches = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Subsystem:      metricsSubsystem,
		Name:           "shared_watches",
		Help:           "Watches open on the API (one per token, resource and namespace, shared by that token's feeds).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"resource"})
	watchErrors = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "watch_errors_total",
		Help:           "Errors of upstream lists and watches (the watch resumes from its last resource version; 410 relists).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"resource"})

	registerMetricsOnce sync.Once
)

func registerMetrics() {
	registerMetricsOnce.Do(func() {
		legacyregistry.MustRegister(httpRequests, feedClients, feedMessages, feedClientsDropped, sharedWatches, watchErrors)
	})
	identity.RegisterMetrics()
	limits.RegisterMetrics()
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
