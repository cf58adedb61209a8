package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// writeOp is one conditional write (insert if absent, update or delete if the
// stored resourceVersion is the expected one). Its statement reports a
// conflict by returning no row, never by an error, so the ops of many callers
// can share one transaction: that is how group commit works.
type writeOp struct {
	resource  string // table, for metrics
	operation string // create, update or delete, for metrics
	sql       string
	args      []any // args[0] is replaced by the op's resourceVersion
	// auxiliary ops (change marks, read guards) accompany a write and are
	// not counted in the write metrics.
	auxiliary bool
	// event is the history event a write records (ADDED, MODIFIED or
	// DELETED; empty for auxiliary ops, which record none), key its key and
	// object the stored bytes it writes (nil for a delete). Their statements
	// return historyReturning.
	event  string
	key    string
	object []byte

	// Set by commit.
	rv      int64
	applied bool
	change  change // the history row written, when applied and event is set
}

// maxCommitBatch caps how many ops one group-commit transaction carries.
const maxCommitBatch = 512

// commitRequest is one caller's ops waiting for the committer.
type commitRequest struct {
	ops      []*writeOp
	enqueued time.Time
	done     chan error
}

// commit runs ops in one transaction, together with the ops of the other
// callers that are waiting at the same moment (group commit): the committer
// goroutine takes every waiting request, runs all their ops in one
// transaction and commits once, so concurrent writers share the row lock on
// resource_version and the WAL flush instead of queueing for them one by one.
// An op that conflicts is left unapplied; the others are not affected.
//
// If ctx ends (or the Backend closes) before the commit is known, commit
// returns an error and the ops may or may not have been applied (as with a
// timed-out etcd request). If the connection is lost after the COMMIT was
// sent, it returns an *unknownOutcomeError: the ops may have been applied.
func (b *Backend) commit(ctx context.Context, ops ...*writeOp) error {
	req := &commitRequest{ops: ops, enqueued: time.Now(), done: make(chan error, 1)}
	select {
	case b.commitQueue <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.ctx.Done():
		return errStorageClosed
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-b.ctx.Done():
		// Closing: the committer may be gone before it took this request.
		select {
		case err := <-req.done:
			return err
		default:
			return errStorageClosed
		}
	}
}

// runCommitter is the one goroutine that writes: it takes the first waiting
// request, then everything else already waiting (up to maxCommitBatch ops),
// and commits them together. While it commits, new requests queue up and
// form the next batch, so the batch size follows the load by itself.
func (b *Backend) runCommitter() {
	defer b.wg.Done()
	for {
		var batch []*commitRequest
		select {
		case <-b.ctx.Done():
			b.failPendingCommits()
			return
		case req := <-b.commitQueue:
			batch = append(batch, req)
		}
		ops := len(batch[0].ops)
	collect:
		for ops < maxCommitBatch {
			select {
			case req := <-b.commitQueue:
				batch = append(batch, req)
				ops += len(req.ops)
			default:
				break collect
			}
		}
		b.commitBatch(batch)
	}
}

// failPendingCommits answers the requests still queued when the backend closes.
func (b *Backend) failPendingCommits() {
	for {
		select {
		case req := <-b.commitQueue:
			req.done <- errStorageClosed
		default:
			return
		}
	}
}

// commitBatch commits the requests of one batch in one transaction. If an
// op's statement fails (the server refused it, which aborts the whole
// transaction before its COMMIT, so nothing was applied), each request is
// retried in a transaction of its own, so only the request at fault sees the
// error. Any other failure is every request's: a lost connection before the
// COMMIT applied nothing, and after it (*unknownOutcomeError) the batch may
// have been applied, so running its ops again could apply them twice or
// report conflicts with themselves.
func (b *Backend) commitBatch(batch []*commitRequest) {
	var ops []*writeOp
	for _, req := range batch {
		ops = append(ops, req.ops...)
	}
	commitBatchSize.Observe(float64(len(ops)))
	err := b.commitOps(ops)
	var opErr *opFailedError
	if errors.As(err, &opErr) && len(batch) > 1 {
		b.logger.V(2).Info("group commit failed; committing its requests one by one", "requests", len(batch), "err", err)
		for _, req := range batch {
			b.finishCommit(req, b.commitOps(req.ops))
		}
		return
	}
	for _, req := range batch {
		b.finishCommit(req, err)
	}
}

func (b *Backend) finishCommit(req *commitRequest, err error) {
	if err == nil {
		elapsed := time.Since(req.enqueued).Seconds()
		for _, op := range req.ops {
			if op.auxiliary {
				continue
			}
			if op.applied {
				writeDuration.WithLabelValues(op.resource, op.operation).Observe(elapsed)
			} else {
				writeConflicts.WithLabelValues(op.resource, op.operation).Inc()
			}
		}
	}
	req.done <- err
}

// commitOps runs ops in one transaction on the reserved pool. It first takes
// len(ops) resourceVersions from the resource_version row, whose lock orders
// this transaction's commit against every other writer's (of this and of
// other replicas). The ops' statements are sent in one pipeline. An op that
// conflicts is left unapplied and its resourceVersion stays unused (a gap,
// harmless: resourceVersions are only ordered, never dense); when none
// applies, the transaction is rolled back and the resourceVersion does not move.
//
// Errors: *opFailedError when the server refused a statement; an
// *unknownOutcomeError when the COMMIT was sent and its answer lost; any
// other error means nothing was applied.
func (b *Backend) commitOps(ops []*writeOp) error {
	ctx, cancel := context.WithTimeout(b.ctx, databaseCallTimeout)
	defer cancel()
	err := b.runOps(ctx, ops)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = &databaseTimeoutError{err}
	}
	return err
}

func (b *Backend) runOps(ctx context.Context, ops []*writeOp) error {
	for _, op := range ops {
		op.rv, op.applied = 0, false
	}
	tx, err := b.reserved.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin write: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit

	var last int64
	if err := tx.QueryRow(ctx, sqlAllocateResourceVersions, len(ops)).Scan(&last); err != nil {
		return fmt.Errorf("allocate resourceVersion: %w", err)
	}
	first := last - int64(len(ops)) + 1
	pipeline := &pgx.Batch{}
	for i, op := range ops {
		op.args[0] = first + int64(i)
		pipeline.Queue(op.sql, op.args...)
	}
	// Delivered only if the transaction commits.
	pipeline.Queue(sqlNotify, b.opts.NotifyChannel, strconv.FormatInt(last, 10))
	results := tx.SendBatch(ctx, pipeline)
	applied := 0
	for _, op := range ops {
		var (
			got         int64
			prevRV      *int64
			prevObject  []byte
			committedAt time.Time
		)
		dest := []any{&got}
		if op.event != "" {
			dest = append(dest, &prevRV, &prevObject, &committedAt)
		}
		err := results.QueryRow().Scan(dest...)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			_ = results.Close()
			err = fmt.Errorf("%s %s: %w", op.operation, op.resource, err)
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && !isUnavailable(err) {
				return &opFailedError{err}
			}
			return err
		default:
			op.rv, op.applied = got, true
			applied++
			if op.event != "" {
				op.change = change{rv: got, resource: op.resource, key: op.key, event: op.event,
					object: op.object, prevObject: prevObject, committedAt: committedAt}
				if prevRV != nil {
					op.change.prevRV = *prevRV
				}
			}
		}
	}
	if _, err := results.Exec(); err != nil {
		_ = results.Close()
		return fmt.Errorf("notify commit: %w", err)
	}
	if err := results.Close(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if applied == 0 {
		return nil
	}
	// Before the COMMIT, so that its NOTIFY, which may arrive first, is not
	// taken for another writer's (see listenOnce).
	committedBefore := b.localCommitted.Swap(last)
	if err := tx.Commit(ctx); err != nil {
		for _, op := range ops {
			op.rv, op.applied = 0, false
		}
		// The block may go to another writer now, whose NOTIFY must wake
		// the tailer. Whatever committed, the tailer finds it in history.
		b.localCommitted.Store(committedBefore)
		b.nudgeTailer()
		if commitNotApplied(err) {
			return fmt.Errorf("commit write: %w", err)
		}
		return &unknownOutcomeError{fmt.Errorf("commit write: %w", err)}
	}
	b.handOver(first, last, ops)
	return nil
}

// opFailedError is a statement of one op that failed (not a conflict): it
// aborted the transaction before the commit, so nothing of it was applied.
type opFailedError struct{ err error }

func (e *opFailedError) Error() string { return e.err.Error() }

func (e *opFailedError) Unwrap() error { return e.err }
