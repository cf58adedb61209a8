package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// writeOp is one conditional write (insert if absent, update or delete if the
// stored resourceVersion is the expected one). Its statement reports a
// conflict by returning no row, never by an error, so several ops can share
// one transaction: commit takes a slice so that writes can later be batched
// into one transaction (group commit) without changing the ops.
type writeOp struct {
	resource  string // table, for metrics
	operation string // create, update or delete, for metrics
	sql       string
	args      []any // args[0] is replaced by the op's resourceVersion

	// Set by commit.
	rv      int64
	applied bool
}

// commit runs ops in one transaction. It first takes len(ops)
// resourceVersions from the resource_version row, whose lock orders this
// transaction's commit against every other writer's. An op that conflicts is
// left unapplied (its resourceVersion stays unused); when none applies, the
// transaction is rolled back and the resourceVersion does not move.
func (b *Backend) commit(ctx context.Context, ops ...*writeOp) error {
	start := time.Now()
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin write: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit

	var last int64
	if err := tx.QueryRow(ctx, sqlAllocateResourceVersions, len(ops)).Scan(&last); err != nil {
		return fmt.Errorf("allocate resourceVersion: %w", err)
	}
	first := last - int64(len(ops)) + 1
	applied := 0
	for i, op := range ops {
		rv := first + int64(i)
		op.args[0] = rv
		var got int64
		err := tx.QueryRow(ctx, op.sql, op.args...).Scan(&got)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			op.applied = false
		case err != nil:
			return fmt.Errorf("%s %s: %w", op.operation, op.resource, err)
		default:
			op.rv, op.applied = rv, true
			applied++
		}
	}
	if applied == 0 {
		for _, op := range ops {
			writeConflicts.WithLabelValues(op.resource, op.operation).Inc()
		}
		return nil
	}
	if _, err := tx.Exec(ctx, sqlNotify, b.opts.NotifyChannel, strconv.FormatInt(last, 10)); err != nil {
		return fmt.Errorf("notify commit: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit write: %w", err)
	}
	elapsed := time.Since(start).Seconds()
	for _, op := range ops {
		if op.applied {
			writeDuration.WithLabelValues(op.resource, op.operation).Observe(elapsed)
		} else {
			writeConflicts.WithLabelValues(op.resource, op.operation).Inc()
		}
	}
	b.nudgeTailer() // local watchers need not wait for the NOTIFY round trip
	return nil
}
