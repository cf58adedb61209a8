package postgres

import (
	"context"
	"fmt"
	"time"
)

// runCompaction compacts history every CompactionInterval. Several replicas
// may do it at once: deleting the same rows twice is harmless and the
// compaction point only moves forward.
func (b *Backend) runCompaction() {
	defer b.wg.Done()
	ticker := time.NewTicker(b.opts.CompactionInterval)
	defer ticker.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-ticker.C:
		}
		if err := b.compactExpiredHistory(b.ctx); err != nil && b.ctx.Err() == nil {
			b.logger.Error(err, "compact storage history")
		}
	}
}

// compactExpiredHistory compacts away the history older than HistoryRetention.
func (b *Backend) compactExpiredHistory(ctx context.Context) error {
	var cutoff *int64
	since := time.Duration(b.opts.HistoryRetention).Seconds()
	if err := b.pool.QueryRow(ctx, sqlRetentionCutoff, since).Scan(&cutoff); err != nil {
		return fmt.Errorf("find retention cutoff: %w", err)
	}
	target := int64(0)
	if cutoff != nil {
		target = *cutoff - 1
	} else {
		// No change within the retention: keep reads at the current version only.
		current, _, err := b.revisions(ctx)
		if err != nil {
			return err
		}
		target = current
	}
	if target <= b.compactedRV.Load() {
		return nil
	}
	_, err := b.compactHistory(ctx, target)
	return err
}

// compactHistory deletes history up to rv and makes rv the compaction point:
// lists at, and watches from, an older resourceVersion get 410 Gone.
func (b *Backend) compactHistory(ctx context.Context, rv int64) (int64, error) {
	start := time.Now()
	var revision, deleted int64
	if err := b.pool.QueryRow(ctx, sqlCompactHistory, rv).Scan(&revision, &deleted); err != nil {
		return 0, fmt.Errorf("compact history below %d: %w", rv, err)
	}
	b.noteCompaction(revision)
	if deleted > 0 {
		if _, err := b.pool.Exec(ctx, sqlVacuumHistory); err != nil {
			return revision, fmt.Errorf("vacuum history after compaction below %d: %w", rv, err)
		}
	}
	compactions.Inc()
	compactedRows.Add(float64(deleted))
	compactedRevision.Set(float64(revision))
	var rows int64
	if err := b.pool.QueryRow(ctx, sqlHistoryRows).Scan(&rows); err == nil {
		historyRows.Set(float64(rows))
	}
	b.logger.V(2).Info("compacted storage history", "revision", revision, "deletedRows", deleted, "duration", time.Since(start))
	return revision, nil
}
