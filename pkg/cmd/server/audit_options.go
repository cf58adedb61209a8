package server

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/wait"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/plugin/pkg/audit/buffered"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/auditlog"
)

// AuditLogOptions configure the audit trail in Postgres: the audit_log
// table, written by an audit backend of the apiserver's audit pipeline.
type AuditLogOptions struct {
	// Enabled writes audit events to audit_log.
	Enabled bool
	// Batch is how the buffered backend in front of it batches.
	Batch buffered.BatchConfig
	// WriteTimeout bounds one batch's write.
	WriteTimeout time.Duration
	// Retention: rows older than this are deleted.
	Retention time.Duration
}

// NewAuditLogOptions returns the defaults: on, batches of up to 500 events
// at least every second from a buffer of 10,000, 30 days kept.
func NewAuditLogOptions() *AuditLogOptions {
	return &AuditLogOptions{
		Enabled:      true,
		Batch:        buffered.BatchConfig{BufferSize: 10000, MaxBatchSize: 500, MaxBatchWait: time.Second},
		WriteTimeout: 5 * time.Second,
		Retention:    30 * 24 * time.Hour,
	}
}

// AddFlags registers the flags.
func (o *AuditLogOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Enabled, "audit-postgres", o.Enabled, "Write audit events (by the policy of --audit-policy-file, else the built-in policy: writes to StreamSpace's groups with their bodies, reads as metadata) to the audit_log table.")
	fs.IntVar(&o.Batch.BufferSize, "audit-postgres-buffer-size", o.Batch.BufferSize, "Audit events held while the database is slow or away; beyond it events are dropped (apiserver_audit_error_total{plugin=\"buffered\"}), never requests held up.")
	fs.IntVar(&o.Batch.MaxBatchSize, "audit-postgres-batch-max-size", o.Batch.MaxBatchSize, "Audit events written in one COPY.")
	fs.DurationVar(&o.Batch.MaxBatchWait, "audit-postgres-batch-max-wait", o.Batch.MaxBatchWait, "Longest wait before a batch that is not full is written.")
	fs.DurationVar(&o.WriteTimeout, "audit-postgres-write-timeout", o.WriteTimeout, "Time one batch may take to write; a batch that takes longer is dropped and counted (streamspace_audit_events_dropped_total).")
	fs.DurationVar(&o.Retention, "audit-retention", o.Retention, "Audit events older than this are deleted from audit_log.")
}

// Validate checks the flags.
func (o *AuditLogOptions) Validate() []error {
	if !o.Enabled {
		return nil
	}
	var errs []error
	if o.Batch.BufferSize < 1 || o.Batch.MaxBatchSize < 1 || o.Batch.MaxBatchSize > o.Batch.BufferSize {
		errs = append(errs, fmt.Errorf("--audit-postgres-buffer-size (%d) and --audit-postgres-batch-max-size (%d) must be positive, the batch no larger than the buffer", o.Batch.BufferSize, o.Batch.MaxBatchSize))
	}
	if o.Batch.MaxBatchWait <= 0 || o.WriteTimeout <= 0 || o.Retention <= 0 {
		errs = append(errs, fmt.Errorf("--audit-postgres-batch-max-wait, --audit-postgres-write-timeout and --audit-retention must be positive"))
	}
	return errs
}

// defaultPolicy records what happens to StreamSpace's objects: writes with
// their request bodies (but repositories, whose URL may hold a password,
// as metadata), reads as metadata; nothing of health checks, discovery and
// OpenAPI, nothing of heartbeats, and nothing of the server's own reads.
//
// A heartbeat is a viewer's liveness signal every 30 seconds, as a node's
// lease renewal is a kubelet's (which kube-apiserver's reference policies
// leave out too): 20,000 viewers would add 58 million rows a day and the
// cost of an event to every heartbeat. The facts around it stay recorded:
// a connection's create (connect) and delete (disconnect) are audited writes
// like any other, and a removal for silence is an Event on the session.
var defaultPolicy = &auditinternal.Policy{
	OmitStages: []auditinternal.Stage{auditinternal.StageRequestReceived},
	Rules: []auditinternal.PolicyRule{
		{Level: auditinternal.LevelNone, NonResourceURLs: []string{"/healthz*", "/readyz*", "/livez*", "/metrics", "/openapi*", "/version", "/api", "/api/*", "/apis", "/apis/*"}},
		{Level: auditinternal.LevelNone, Verbs: []string{"create"}, Resources: []auditinternal.GroupResources{{Group: "stream.space", Resources: []string{"connections/heartbeat"}}}},
		// The server's own reads through its loopback client (admission
		// reading quotas, sessions and users to judge a request): part of
		// the request that is audited, not an action of anyone's. Without
		// this every session create added a row for admission's quota list.
		{Level: auditinternal.LevelNone, Users: []string{user.APIServerUser}, Verbs: []string{"get", "list", "watch"}},
		// A repository's URL may carry a password (refused, but the body of
		// the refused request would still be recorded): metadata only.
		{Level: auditinternal.LevelMetadata, Resources: []auditinternal.GroupResources{{Group: "catalog.stream.space", Resources: []string{"templaterepositories"}}}},
		{Level: auditinternal.LevelRequest, Verbs: []string{"create", "update", "patch", "delete", "deletecollection"},
			Resources: []auditinternal.GroupResources{{Group: "stream.space"}, {Group: "catalog.stream.space"}}},
		{Level: auditinternal.LevelMetadata, Resources: []auditinternal.GroupResources{{Group: "stream.space"}, {Group: "catalog.stream.space"}}},
		{Level: auditinternal.LevelNone},
	},
}

// applyTo adds the Postgres backend to the server's audit backends, behind
// the buffered backend, and the built-in policy when none was given. The
// retention loop runs after the server starts.
func (o *AuditLogOptions) applyTo(c *genericapiserver.Config, dsn string) (*pgxpool.Pool, error) {
	if !o.Enabled {
		return nil, nil
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("--postgres-url for the audit log: %w", err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("audit log pool: %w", err)
	}
	backend := buffered.NewBackend(auditlog.New(pool, o.WriteTimeout), o.Batch)
	if c.AuditBackend == nil {
		c.AuditBackend = backend
	} else {
		c.AuditBackend = audit.Union(c.AuditBackend, backend)
	}
	if c.AuditPolicyRuleEvaluator == nil {
		c.AuditPolicyRuleEvaluator = policy.NewPolicyRuleEvaluator(defaultPolicy)
	}
	retention := o.Retention
	c.AddPostStartHookOrDie("streamspace-audit-retention", func(ctx genericapiserver.PostStartHookContext) error {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			n, err := auditlog.DeleteOlderThan(ctx, pool, retention)
			if err != nil {
				klog.FromContext(ctx).Info("audit retention", "err", err)
				return
			}
			if n > 0 {
				klog.FromContext(ctx).V(2).Info("deleted audit events past retention", "count", n, "retention", retention)
			}
		}, 10*time.Minute)
		return nil
	})
	return pool, nil
}
