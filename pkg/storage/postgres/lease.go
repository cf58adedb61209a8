package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Connection leases: the liveness of viewers, in connection_leases (see
// migrations/00007_connection_leases.sql and docs/heartbeats.md). A
// heartbeat moves its connection's last_beat in that table only: no
// resourceVersion, no history row, no watch event. Heartbeats that arrive
// together share one statement and one commit. A reap deletes the
// connection through the storage (history, watch event) on the condition,
// checked in the same statement under the lease row's lock, that the last
// beat is older than a cutoff, so a heartbeat and a reap of one connection
// are ordered by that row lock: a heartbeat acknowledged before the reap
// locked the row makes the reap fail, a heartbeat after it finds no row.

// leaseTable is the only table whose rows have leases.
const leaseTable = "connections"

// maxBeatBatch caps how many heartbeats one statement carries.
const maxBeatBatch = 1024

const (
	// sqlBeat sets last_beat of the leases named by ($1 namespaces, $2
	// names, $3 uids) to the transaction's time, keeping the one before in
	// prev_beat, in key order (concurrent statements lock rows in one
	// order), and returns those it found.
	sqlBeat = `
UPDATE connection_leases l SET prev_beat = l.last_beat, last_beat = now()
FROM (SELECT namespace, name, uid FROM unnest($1::text[], $2::text[], $3::text[]) AS b(namespace, name, uid)
      ORDER BY namespace, name) b
WHERE l.namespace = b.namespace AND l.name = b.name AND l.uid = b.uid
RETURNING l.namespace, l.name, l.last_beat`

	// sqlLastBeats reads the last beats of the leases named by ($1
	// namespaces, $2 names).
	sqlLastBeats = `
SELECT l.namespace, l.name, l.uid, l.last_beat
FROM connection_leases l JOIN unnest($1::text[], $2::text[]) AS b(namespace, name)
  ON l.namespace = b.namespace AND l.name = b.name`

	// sqlStaleLeases lists leases silent since before $1 (at most $2), oldest first.
	sqlStaleLeases = `
SELECT namespace, name, uid, last_beat FROM connection_leases
WHERE last_beat < $1 ORDER BY last_beat LIMIT $2`

	// sqlLeaseCounts counts the leases silent since before $1, those
	// silent since before $2, all leases, and those whose last beat, since
	// $1, came more than $3 after the one before.
	sqlLeaseCounts = `
SELECT count(*) FILTER (WHERE last_beat < $1), count(*) FILTER (WHERE last_beat < $2), count(*),
       count(*) FILTER (WHERE last_beat >= $1 AND last_beat - prev_beat > $3)
FROM connection_leases`

	// reapGuard is the condition of a reap: the connection's lease, locked,
	// has not beaten since the cutoff. FOR UPDATE waits for a heartbeat
	// that holds the row and then evaluates last_beat on its new value.
	reapGuard = `SELECT 1 FROM connection_leases WHERE key = $2 AND last_beat < $4 FOR UPDATE`
)

// Lease is a connection's last heartbeat as connection_leases has it.
type Lease struct {
	Namespace, Name, UID string
	LastBeat             time.Time
}

// beatRequest is one heartbeat waiting for the beat batcher.
type beatRequest struct {
	namespace, name, uid string
	done                 chan beatResult
}

type beatResult struct {
	at    time.Time
	found bool
	err   error
}

// Beat records a heartbeat of the connection namespace/name with uid and
// returns the time recorded; found is false when no such connection exists
// (deleted, or another with that name). It returns once the beat is
// committed. Concurrent calls are committed together.
func (b *Backend) Beat(ctx context.Context, namespace, name, uid string) (at time.Time, found bool, err error) {
	req := &beatRequest{namespace: namespace, name: name, uid: uid, done: make(chan beatResult, 1)}
	b.startBeats.Do(func() {
		b.beatQueue = make(chan *beatRequest, maxBeatBatch)
		b.wg.Add(1)
		go b.runBeats()
	})
	select {
	case b.beatQueue <- req:
	case <-ctx.Done():
		return time.Time{}, false, ctx.Err()
	case <-b.ctx.Done():
		return time.Time{}, false, errStorageClosed
	}
	select {
	case r := <-req.done:
		return r.at, r.found, r.err
	case <-ctx.Done():
		return time.Time{}, false, ctx.Err()
	}
}

// runBeats takes every waiting heartbeat and commits them in one statement;
// while it runs, the next batch queues up.
func (b *Backend) runBeats() {
	defer b.wg.Done()
	for {
		var batch []*beatRequest
		select {
		case <-b.ctx.Done():
			for {
				select {
				case req := <-b.beatQueue:
					req.done <- beatResult{err: errStorageClosed}
				default:
					return
				}
			}
		case req := <-b.beatQueue:
			batch = append(batch, req)
		}
	collect:
		for len(batch) < maxBeatBatch {
			select {
			case req := <-b.beatQueue:
				batch = append(batch, req)
			default:
				break collect
			}
		}
		b.beatBatch(batch)
	}
}

func (b *Backend) beatBatch(batch []*beatRequest) {
	start := time.Now()
	namespaces, names, uids := make([]string, len(batch)), make([]string, len(batch)), make([]string, len(batch))
	for i, req := range batch {
		namespaces[i], names[i], uids[i] = req.namespace, req.name, req.uid
	}
	ctx, cancel := context.WithTimeout(b.ctx, databaseCallTimeout)
	defer cancel()
	found := map[[2]string]time.Time{}
	rows, err := b.pool.Query(ctx, sqlBeat, namespaces, names, uids)
	if err == nil {
		for rows.Next() {
			var ns, name string
			var at time.Time
			if err = rows.Scan(&ns, &name, &at); err != nil {
				break
			}
			found[[2]string{ns, name}] = at
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		err = fmt.Errorf("record heartbeats: %w", err)
	}
	beatBatchSize.Observe(float64(len(batch)))
	beatDuration.Observe(time.Since(start).Seconds())
	for _, req := range batch {
		at, ok := found[[2]string{req.namespace, req.name}]
		req.done <- beatResult{at: at, found: ok, err: err}
	}
}

// LastBeats returns the leases of the connections named by keys
// (namespace, name); absent ones are missing from the map.
func (b *Backend) LastBeats(ctx context.Context, keys [][2]string) (map[[2]string]Lease, error) {
	namespaces, names := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		namespaces[i], names[i] = k[0], k[1]
	}
	rows, err := b.pool.Query(ctx, sqlLastBeats, namespaces, names)
	if err != nil {
		return nil, fmt.Errorf("read heartbeats: %w", err)
	}
	leases, err := pgx.CollectRows(rows, scanLease)
	if err != nil {
		return nil, fmt.Errorf("read heartbeats: %w", err)
	}
	out := make(map[[2]string]Lease, len(leases))
	for _, l := range leases {
		out[[2]string{l.Namespace, l.Name}] = l
	}
	return out, nil
}

// StaleLeases returns up to limit leases whose last beat is before cutoff,
// oldest first.
func (b *Backend) StaleLeases(ctx context.Context, cutoff time.Time, limit int) ([]Lease, error) {
	rows, err := b.pool.Query(ctx, sqlStaleLeases, cutoff, limit)
	if err != nil {
		return nil, fmt.Errorf("find silent connections: %w", err)
	}
	leases, err := pgx.CollectRows(rows, scanLease)
	if err != nil {
		return nil, fmt.Errorf("find silent connections: %w", err)
	}
	return leases, nil
}

// LeaseCount is what one count of the leases found.
type LeaseCount struct {
	// Stale leases have their last beat before the stale cutoff.
	Stale int
	// Overdue leases have their last beat before the overdue cutoff, a
	// shorter silence than the stale one: they include the stale.
	Overdue int
	// Total is every lease.
	Total int
	// Late leases beat since the stale cutoff after a silence longer than
	// the late gap: their viewers were alive while they looked silent.
	Late int
}

// LeaseCounts counts the leases whose last beat is before cutoff, those
// whose last beat is before overdue, all of them, and those that beat since
// cutoff more than lateGap after their previous beat, in one statement.
func (b *Backend) LeaseCounts(ctx context.Context, cutoff, overdue time.Time, lateGap time.Duration) (LeaseCount, error) {
	var c LeaseCount
	if err := b.pool.QueryRow(ctx, sqlLeaseCounts, cutoff, overdue, lateGap).Scan(&c.Stale, &c.Overdue, &c.Total, &c.Late); err != nil {
		return LeaseCount{}, fmt.Errorf("count connection leases: %w", err)
	}
	return c, nil
}

func scanLease(row pgx.CollectableRow) (Lease, error) {
	var l Lease
	err := row.Scan(&l.Namespace, &l.Name, &l.UID, &l.LastBeat)
	return l, err
}

// ErrLeaseAlive is the error of a reap whose connection has beaten since
// the cutoff.
var ErrLeaseAlive = errors.New("the connection has sent a heartbeat since the cutoff")

// reapCutoffKey carries the cutoff of a reap in a Delete's context.
type reapCutoffKey struct{}

// WithReapCutoff makes a Delete of a connection in ctx conditional: it
// deletes only if the connection's last heartbeat (its lease) is before
// cutoff, decided in the delete's statement under the lease row's lock. A
// Delete that finds a newer heartbeat fails with a conflict wrapping
// ErrLeaseAlive. Only the connections table has leases.
func WithReapCutoff(ctx context.Context, cutoff time.Time) context.Context {
	return context.WithValue(ctx, reapCutoffKey{}, cutoff)
}

func reapCutoff(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(reapCutoffKey{}).(time.Time)
	return t, ok
}

// guardedDeleteSQL is the delete statement of t that applies only when the
// guard query ($2 key, $4...) returns a row.
func guardedDeleteSQL(table, guard string) string {
	return `
WITH guard AS (` + guard + `), del AS (
    DELETE FROM ` + table + ` WHERE key = $2 AND resource_version = $3 AND EXISTS (SELECT 1 FROM guard)
    RETURNING key, resource_version, object)
INSERT INTO history (rv, resource, key, event, prev_rv, prev_object)
SELECT $1, '` + table + `', key, 'DELETED', resource_version, object FROM del
RETURNING ` + historyReturning
}
