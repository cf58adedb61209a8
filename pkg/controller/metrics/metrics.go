// Package metrics defines the StreamSpace controllers' metrics, registered
// in component-base's legacy registry and served on /metrics.
package metrics

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

const subsystem = "streamspace"

var (
	// Hibernations counts sessions the controller hibernated, by reason.
	Hibernations = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      subsystem,
		Name:           "session_hibernations_total",
		Help:           "Sessions hibernated by the controller, by reason (idle).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"reason"})
	// Wakes counts hibernated sessions that a connection woke.
	Wakes = metrics.NewCounter(&metrics.CounterOpts{
		Subsystem:      subsystem,
		Name:           "session_wakes_total",
		Help:           "Hibernated sessions woken by a connection that reached Running.",
		StabilityLevel: metrics.ALPHA,
	})
	// WakeDuration is the time from a connect on a hibernated session to Running.
	WakeDuration = metrics.NewHistogram(&metrics.HistogramOpts{
		Subsystem:      subsystem,
		Name:           "session_wake_duration_seconds",
		Help:           "Time from a connect on a hibernated session to the session Running.",
		Buckets:        []float64{0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300},
		StabilityLevel: metrics.ALPHA,
	})
	// StartDuration is the control plane's time from a session's creation
	// to Running, by how it started: a workload claimed from a SessionPool
	// (pool) or a new pod of its own Deployment (cold).
	StartDuration = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Subsystem:      subsystem,
		Name:           "session_start_duration_seconds",
		Help:           "Time from the creation of a session to the session Running, by path: pool (a claimed SessionPool workload) or cold.",
		Buckets:        []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300},
		StabilityLevel: metrics.ALPHA,
	}, []string{"path"})
	// StaleConnectionsRemoved counts connections removed for missing heartbeats.
	StaleConnectionsRemoved = metrics.NewCounter(&metrics.CounterOpts{
		Subsystem:      subsystem,
		Name:           "stale_connections_removed_total",
		Help:           "Connections removed because no heartbeat arrived within the stale timeout.",
		StabilityLevel: metrics.ALPHA,
	})
	// MaxDurationTerminations counts sessions terminated by maxSessionDuration.
	MaxDurationTerminations = metrics.NewCounter(&metrics.CounterOpts{
		Subsystem:      subsystem,
		Name:           "session_max_duration_terminations_total",
		Help:           "Sessions terminated because they reached their maxSessionDuration.",
		StabilityLevel: metrics.ALPHA,
	})

	sessionsDesc = metrics.NewDesc(subsystem+"_sessions",
		"Sessions by phase, as the controller's cache sees them.", []string{"phase"}, nil, metrics.ALPHA, "")
	connectionsDesc = metrics.NewDesc(subsystem+"_active_connections",
		"Connections (attached viewers), as the controller's cache sees them.", nil, nil, metrics.ALPHA, "")

	registerOnce sync.Once
)

// Register registers the counters and histograms once per process.
func Register() {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(Hibernations, Wakes, WakeDuration, StartDuration, StaleConnectionsRemoved, MaxDurationTerminations)
	})
}

// SessionCounter counts sessions by phase at scrape time.
type SessionCounter func() (map[string]int, error)

// ConnectionCounter counts active connections at scrape time.
type ConnectionCounter func() (int, error)

// RegisterGauges registers the scrape-time gauges of sessions by phase and
// active connections, computed from the controllers' informer caches.
func RegisterGauges(sessions SessionCounter, connections ConnectionCounter) {
	legacyregistry.CustomMustRegister(&cacheCollector{sessions: sessions, connections: connections})
}

type cacheCollector struct {
	metrics.BaseStableCollector
	sessions    SessionCounter
	connections ConnectionCounter
}

func (c *cacheCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- sessionsDesc
	ch <- connectionsDesc
}

func (c *cacheCollector) CollectWithStability(ch chan<- metrics.Metric) {
	if byPhase, err := c.sessions(); err == nil {
		for _, phase := range []streamv1alpha1.SessionPhase{
			streamv1alpha1.SessionPhasePending, streamv1alpha1.SessionPhaseRunning, streamv1alpha1.SessionPhaseHibernated,
			streamv1alpha1.SessionPhaseFailed, streamv1alpha1.SessionPhaseTerminated,
		} {
			ch <- metrics.NewLazyConstMetric(sessionsDesc, metrics.GaugeValue, float64(byPhase[string(phase)]), string(phase))
		}
	}
	if n, err := c.connections(); err == nil {
		ch <- metrics.NewLazyConstMetric(connectionsDesc, metrics.GaugeValue, float64(n))
	}
}
