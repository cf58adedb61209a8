package postgres

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

const metricsSubsystem = "streamspace_postgres_storage"

var (
	writeDuration = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Subsystem:      metricsSubsystem,
		Name:           "write_duration_seconds",
		Help:           "Duration of committed write transactions, by resource and operation.",
		Buckets:        metrics.ExponentialBuckets(0.0005, 2, 14),
		StabilityLevel: metrics.ALPHA,
	}, []string{"resource", "operation"})
	commitBatchSize = metrics.NewHistogram(&metrics.HistogramOpts{
		Subsystem:      metricsSubsystem,
		Name:           "commit_batch_size",
		Help:           "Writes committed together in one transaction (group commit).",
		Buckets:        metrics.ExponentialBuckets(1, 2, 10),
		StabilityLevel: metrics.ALPHA,
	})
	writeConflicts = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "write_conflicts_total",
		Help:           "Writes not applied because the stored resourceVersion was not the expected one (or the key existed).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"resource", "operation"})
	historyRows = metrics.NewGauge(&metrics.GaugeOpts{
		Subsystem:      metricsSubsystem,
		Name:           "history_rows",
		Help:           "Rows in the history table after the last compaction.",
		StabilityLevel: metrics.ALPHA,
	})
	compactions = metrics.NewCounter(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "compactions_total",
		Help:           "History compactions run by this process.",
		StabilityLevel: metrics.ALPHA,
	})
	compactedRows = metrics.NewCounter(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "compacted_rows_total",
		Help:           "History rows deleted by compaction.",
		StabilityLevel: metrics.ALPHA,
	})
	compactedRevision = metrics.NewGauge(&metrics.GaugeOpts{
		Subsystem:      metricsSubsystem,
		Name:           "compacted_revision",
		Help:           "The resourceVersion below which history has been compacted.",
		StabilityLevel: metrics.ALPHA,
	})
	watchers = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Subsystem:      metricsSubsystem,
		Name:           "watchers",
		Help:           "Open watches served directly by the storage, by resource.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"resource"})
	databaseErrors = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "database_errors_total",
		Help:           "Requests failed by the database, by kind: unavailable (503), unknown_outcome (504, a write whose commit was not answered), internal (500).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"kind"})
	historyFences = metrics.NewCounter(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "history_fences_total",
		Help:           "Times the database was found without history this server had published (a lossy failover or a restore), and every watcher was sent 410.",
		StabilityLevel: metrics.ALPHA,
	})
	beatBatchSize = metrics.NewHistogram(&metrics.HistogramOpts{
		Subsystem:      metricsSubsystem,
		Name:           "heartbeat_batch_size",
		Help:           "Connection heartbeats recorded together in one statement.",
		Buckets:        metrics.ExponentialBuckets(1, 2, 11),
		StabilityLevel: metrics.ALPHA,
	})
	beatDuration = metrics.NewHistogram(&metrics.HistogramOpts{
		Subsystem:      metricsSubsystem,
		Name:           "heartbeat_batch_duration_seconds",
		Help:           "Duration of the statements recording connection heartbeats.",
		Buckets:        metrics.ExponentialBuckets(0.0005, 2, 14),
		StabilityLevel: metrics.ALPHA,
	})
	staleReads = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "stale_reads_total",
		Help:           "Creates refused because the cached read that admitted them was stale (package readguard), by the resource read; each is admitted again from a consistent read.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"resource"})
	readSlotsInUse = metrics.NewGauge(&metrics.GaugeOpts{
		Subsystem:      metricsSubsystem,
		Name:           "read_slots_in_use",
		Help:           "Lists, initial watch states and history replays holding a connection of the read pool.",
		StabilityLevel: metrics.ALPHA,
	})
)

var registerOnce sync.Once

func registerMetrics() {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(writeDuration, commitBatchSize, writeConflicts, historyRows, compactions,
			compactedRows, compactedRevision, watchers, databaseErrors, historyFences, readSlotsInUse,
			beatBatchSize, beatDuration, staleReads)
	})
}
