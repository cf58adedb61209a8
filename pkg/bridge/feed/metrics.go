package feed

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

const metricsSubsystem = "streamspace_bridge"

var (
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

// RegisterMetrics adds the feeds' metrics to the legacy registry.
func RegisterMetrics() {
	registerMetricsOnce.Do(func() {
		legacyregistry.MustRegister(feedClients, feedMessages, feedClientsDropped, sharedWatches, watchErrors)
	})
}
