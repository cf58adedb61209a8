// Package auditlog is an audit backend of k8s.io/apiserver's audit
// pipeline that writes events to the audit_log table in Postgres. It is
// meant to run behind the library's buffered backend
// (k8s.io/apiserver/plugin/pkg/audit/buffered), which batches events,
// throttles the batches and drops events when its buffer is full, so that a
// slow or unreachable database never holds up an API request; this backend
// bounds each write with a timeout and counts what it wrote and what it
// could not write.
package auditlog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
)

// PluginName names the backend in the apiserver's audit metrics.
const PluginName = "postgres"

var (
	eventsWritten = metrics.NewCounter(&metrics.CounterOpts{
		Subsystem: "streamspace_audit", Name: "events_written_total",
		Help:           "Audit events written to the audit_log table.",
		StabilityLevel: metrics.ALPHA,
	})
	eventsDropped = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem: "streamspace_audit", Name: "events_dropped_total",
		Help:           "Audit events the Postgres backend could not write, by reason (write_failed). Events the buffer had no room for count in apiserver_audit_error_total{plugin=\"buffered\"}.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"reason"})
	registerOnce sync.Once
)

// columns of audit_log the backend writes.
var columns = []string{"audit_id", "timestamp", "user_id", "groups", "action", "api_group", "api_version", "resource_type",
	"subresource", "namespace", "resource_id", "request_uri", "response_code", "ip_address", "user_agent", "stage", "level", "changes"}

// Backend writes audit events to Postgres.
type Backend struct {
	pool    *pgxpool.Pool
	timeout time.Duration
}

var _ audit.Backend = &Backend{}

// New writes through pool, each batch within timeout.
func New(pool *pgxpool.Pool, timeout time.Duration) *Backend {
	registerOnce.Do(func() { legacyregistry.MustRegister(eventsWritten, eventsDropped) })
	return &Backend{pool: pool, timeout: timeout}
}

// Run implements audit.Backend; the backend needs no goroutine of its own.
func (b *Backend) Run(<-chan struct{}) error { return nil }

// Shutdown implements audit.Backend; writes are synchronous.
func (b *Backend) Shutdown() {}

// String implements audit.Backend.
func (b *Backend) String() string { return PluginName }

// ProcessEvents writes one batch with COPY. A batch the database does not
// take within the timeout is dropped and counted: the buffered backend in
// front keeps collecting the next one meanwhile.
func (b *Backend) ProcessEvents(events ...*auditinternal.Event) bool {
	rows := make([][]any, 0, len(events))
	for _, ev := range events {
		rows = append(rows, Row(ev))
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	if _, err := b.pool.CopyFrom(ctx, pgx.Identifier{"audit_log"}, columns, pgx.CopyFromRows(rows)); err != nil {
		eventsDropped.WithLabelValues("write_failed").Add(float64(len(events)))
		audit.HandlePluginError(PluginName, fmt.Errorf("write %d audit events to Postgres: %w", len(events), err), events...)
		klog.Background().V(2).Info("audit events dropped", "count", len(events), "err", err)
		return false
	}
	eventsWritten.Add(float64(len(events)))
	return true
}

// Row is the audit_log row of an event, in the order of columns.
func Row(ev *auditinternal.Event) []any {
	groups, _ := json.Marshal(ev.User.Groups)
	if ev.User.Groups == nil {
		groups = json.RawMessage("[]")
	}
	var group, version, resource, subresource, namespace, name string
	if r := ev.ObjectRef; r != nil {
		group, version, resource, subresource, namespace, name = r.APIGroup, r.APIVersion, r.Resource, r.Subresource, r.Namespace, r.Name
	}
	code := 0
	if ev.ResponseStatus != nil {
		code = int(ev.ResponseStatus.Code)
	}
	ts := ev.StageTimestamp.Time
	if ts.IsZero() {
		ts = ev.RequestReceivedTimestamp.Time
	}
	return []any{
		string(ev.AuditID), ts, ev.User.Username, json.RawMessage(groups), ev.Verb, group, version, resource,
		subresource, namespace, name, ev.RequestURI, code, strings.Join(ev.SourceIPs, ","), ev.UserAgent,
		string(ev.Stage), string(ev.Level), changes(ev),
	}
}

// changes is the request body of a write, as JSON: the object of a create
// or update, the patch of a patch. Reads, and writes the policy records
// only at Metadata level, have none (NULL). A body that is not JSON (a YAML
// apply) is kept as a JSON string.
func changes(ev *auditinternal.Event) any {
	if ev.RequestObject == nil || len(ev.RequestObject.Raw) == 0 {
		return nil
	}
	raw := ev.RequestObject.Raw
	if json.Valid(raw) {
		return json.RawMessage(raw)
	}
	quoted, _ := json.Marshal(string(raw))
	return json.RawMessage(quoted)
}

// DeleteOlderThan removes events older than retention, in slices so that
// no statement holds many rows at once; several replicas may run it.
func DeleteOlderThan(ctx context.Context, pool *pgxpool.Pool, retention time.Duration) (int64, error) {
	var total int64
	for {
		tag, err := pool.Exec(ctx, `DELETE FROM audit_log WHERE id IN (
			SELECT id FROM audit_log WHERE timestamp < now() - make_interval(secs => $1) ORDER BY id LIMIT 10000)`, retention.Seconds())
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < 10000 {
			return total, nil
		}
	}
}
