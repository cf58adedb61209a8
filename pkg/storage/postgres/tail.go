package postgres

// The tailer: one goroutine publishes every history row to the broadcaster in
// resourceVersion order. The rows this process wrote it has from the committer
// (handOver); the others it reads from the history table, woken by
// LISTEN/NOTIFY and by a poll when a notification is lost.

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// change is one history row as the tailer hands it to watchers, or a marker.
type change struct {
	rv          int64
	resource    string // table name
	key         string
	event       string // ADDED, MODIFIED or DELETED
	object      []byte
	prevRV      int64
	prevObject  []byte
	committedAt time.Time

	progress bool // a progress notification: every change up to rv has been delivered
	resync   bool // the tailer skipped compacted history: watchers must catch up from the database
}

// tailHistory reads history in resourceVersion order and publishes it. As RV
// order is commit order, a row can never appear behind one already read.
func (b *Backend) tailHistory(last int64) {
	defer b.wg.Done()
	poll := time.NewTicker(b.opts.PollInterval)
	defer poll.Stop()
	progress := time.NewTicker(b.opts.ProgressNotifyInterval)
	defer progress.Stop()
	read := true
	for {
		var err error
		if read {
			last, err = b.readNewHistory(last)
			if err != nil && b.ctx.Err() == nil {
				b.logger.Error(err, "read storage history")
			}
		}
		read = true
		select {
		case <-b.ctx.Done():
			return
		case <-b.wake:
		case <-b.localWake:
			last, read = b.publishLocal(last)
		case <-poll.C:
		case <-progress.C:
			b.changes.Publish(last, change{rv: last, progress: true})
		case <-b.progressRequest:
			if last, err = b.readNewHistory(last); err == nil {
				b.changes.Publish(last, change{rv: last, progress: true})
			}
		}
	}
}

// localCommit is one committed transaction of this process: its block of
// resourceVersions [first, last] and the history rows it wrote, in order.
type localCommit struct {
	first, last int64
	changes     []change
}

// maxHandedOver bounds the commits waiting for the tailer in memory.
const maxHandedOver = 1024

// handOver gives the tailer the history rows of a transaction this process
// has just committed, with the block of resourceVersions it took.
//
// The block is the transaction's alone: the resource_version row lock that
// allocated it was held until the commit, so every transaction with a lower
// resourceVersion committed before it and none can commit inside it. A tailer
// that has published everything up to first-1 can therefore publish these
// rows and move to last without reading them back, as etcd hands a write's
// events to its synced watchers. Otherwise (another replica wrote in between
// and its NOTIFY has not been read yet) the tailer reads history, which has
// this commit too.
func (b *Backend) handOver(first, last int64, ops []*writeOp) {
	c := localCommit{first: first, last: last}
	for _, op := range ops {
		if op.applied && op.event != "" {
			c.changes = append(c.changes, op.change)
		}
	}
	b.localMu.Lock()
	if len(b.local) < maxHandedOver {
		b.local = append(b.local, c)
	} else {
		// The tailer is behind (a slow read): it reads history instead of
		// this process holding every row until it gets there.
		b.local, b.localDropped = nil, true
	}
	b.localMu.Unlock()
	select {
	case b.localWake <- struct{}{}:
	default:
	}
}

// publishLocal publishes the commits handed over since the last call that
// continue the tailer's position last, and returns the new position and
// whether history must be read: a commit starts beyond last+1, so rows of
// another writer come before it. Commits at or below last were read from
// history already.
func (b *Backend) publishLocal(last int64) (int64, bool) {
	b.localMu.Lock()
	commits, dropped := b.local, b.localDropped
	b.local, b.localDropped = nil, false
	b.localMu.Unlock()
	if dropped {
		return last, true
	}
	for _, c := range commits {
		switch {
		case c.last <= last:
			continue
		case c.first != last+1:
			// The read covers this commit and the later ones: they were
			// all committed before it starts.
			return last, true
		}
		last = c.last
		b.notePublished(c.changes)
		b.changes.Publish(last, c.changes...)
	}
	return last, false
}

// notePublished records the newest of changes, about to be published, as
// the row every read of history checks the database still has.
func (b *Backend) notePublished(changes []change) {
	if n := len(changes); n > 0 {
		newest := changes[n-1]
		b.lastPublished = publishedRow{rv: newest.rv, key: newest.key, committedAt: newest.committedAt}
	}
}

// publishedRow identifies a history row the tailer has published.
type publishedRow struct {
	rv          int64
	key         string
	committedAt time.Time
}

// readNewHistory publishes every history row after last and returns the new
// position. Before anything else it checks that the database has not lost
// history already published (see fenceLostHistory).
func (b *Backend) readNewHistory(last int64) (int64, error) {
	for {
		seen := b.lastPublished
		current, compacted, seenAt, changes, err := b.queryTail(last, seen)
		if err != nil {
			return last, err
		}
		b.lastPollUnix.Store(time.Now().Unix())
		b.noteCompaction(compacted)
		lost := current < last
		if seen.rv > compacted && (seenAt == nil || !seenAt.Equal(seen.committedAt)) {
			lost = true
		}
		if lost {
			return b.fenceLostHistory(last, current)
		}
		if last < compacted {
			// History we have not read is gone (this process was cut off from
			// the database for longer than the retention): watchers must catch
			// up from the database themselves, which answers them with 410.
			b.logger.Info("storage history was compacted past the tailer; resynchronising watchers",
				"position", last, "compactedRevision", compacted)
			last = compacted
			b.changes.Publish(last, change{rv: last, resync: true})
			continue
		}
		if len(changes) == 0 {
			if current > last {
				last = current
				b.changes.Publish(last)
			}
			return last, nil
		}
		b.notePublished(changes)
		last = changes[len(changes)-1].rv
		if len(changes) < tailBatch && current > last {
			last = current
		}
		b.changes.Publish(last, changes...)
		if len(changes) < tailBatch {
			return last, nil
		}
	}
}

// fenceLostHistory handles a database that no longer has history this
// process has published: its resourceVersion is below the tailer's position,
// or the newest published row is gone or is another write. That happens when
// a standby that had not received the latest commits is promoted (with
// synchronous replication only commits nobody was told about, which the old
// primary showed for an instant as it died) or a backup is restored. Watchers
// may then hold resourceVersions that new writes would reuse for other
// changes, so the resourceVersion moves past everything published and
// history is compacted up to it: every watch and list from an older
// resourceVersion gets 410 Gone and starts again from the database.
func (b *Backend) fenceLostHistory(last, current int64) (int64, error) {
	ctx, cancel := context.WithTimeout(b.ctx, databaseCallTimeout)
	defer cancel()
	var fence int64
	if err := b.reserved.QueryRow(ctx, sqlFenceHistory, last).Scan(&fence); err != nil {
		return last, fmt.Errorf("fence lost storage history: %w", err)
	}
	b.logger.Info("the database lost storage history this server had published; every watcher starts again",
		"published", last, "lastPublishedRow", b.lastPublished.rv, "databaseResourceVersion", current, "fence", fence)
	historyFences.Inc()
	b.noteCompaction(fence)
	b.lastPublished = publishedRow{}
	b.changes.Publish(fence, change{rv: fence, resync: true})
	return fence, nil
}

// queryTail reads the history after last with sqlTailHistory on the
// reserved pool, and the commit time of the published row seen (nil when the
// database has no such row).
func (b *Backend) queryTail(last int64, seen publishedRow) (current, compacted int64, seenAt *time.Time, changes []change, err error) {
	ctx, cancel := context.WithTimeout(b.ctx, databaseCallTimeout)
	defer cancel()
	rows, err := b.reserved.Query(ctx, sqlTailHistory, last, tailBatch, seen.rv, seen.key)
	if err != nil {
		return 0, 0, nil, nil, err
	}
	current, compacted, seenAt, changes, err = scanHistory(rows)
	return current, compacted, seenAt, changes, err
}

// queryHistory runs one of the replay statements on the read pool, in a read
// slot, and returns the current and compacted revisions with the rows.
func (b *Backend) queryHistory(ctx context.Context, sql string, args ...any) (current, compacted int64, changes []change, err error) {
	release, err := b.acquireReadSlot(ctx)
	if err != nil {
		return 0, 0, nil, err
	}
	defer release()
	rows, err := b.pool.Query(ctx, sql, args...)
	if err != nil {
		return 0, 0, nil, err
	}
	current, compacted, _, changes, err = scanHistory(rows)
	return current, compacted, changes, err
}

// scanHistory reads the rows of a history statement: current and compacted
// revision, the commit time of a row asked about, then one history row per
// row (all NULL when there is none).
func scanHistory(rows pgx.Rows) (current, compacted int64, seenAt *time.Time, changes []change, err error) {
	defer rows.Close()
	for rows.Next() {
		var (
			rv, prevRV           *int64
			resource, key, event *string
			object, prevObject   []byte
			committedAt          *time.Time
		)
		if err := rows.Scan(&current, &compacted, &seenAt, &rv, &resource, &key, &event, &object, &prevRV, &prevObject, &committedAt); err != nil {
			return 0, 0, nil, nil, err
		}
		if rv == nil {
			continue
		}
		c := change{rv: *rv, resource: *resource, key: *key, event: *event, object: object, prevObject: prevObject}
		if prevRV != nil {
			c.prevRV = *prevRV
		}
		if committedAt != nil {
			c.committedAt = *committedAt
		}
		changes = append(changes, c)
	}
	return current, compacted, seenAt, changes, rows.Err()
}

// listenForCommits turns NOTIFYs from every replica's commits into wake-ups of
// the tailer. It holds its own connection, outside the pool.
func (b *Backend) listenForCommits() {
	defer b.wg.Done()
	for b.ctx.Err() == nil {
		err := b.listenOnce()
		if b.ctx.Err() != nil {
			return
		}
		b.logger.Error(err, "storage LISTEN connection lost; polling until it is back")
		select {
		case <-b.ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (b *Backend) listenOnce() error {
	conn, err := pgx.ConnectConfig(b.ctx, b.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(b.ctx, "LISTEN "+pgx.Identifier{b.opts.NotifyChannel}.Sanitize()); err != nil {
		return err
	}
	b.nudgeTailer() // anything committed before LISTEN took effect
	for {
		n, err := conn.WaitForNotification(b.ctx)
		if err != nil {
			return err
		}
		// The payload is the last resourceVersion of the commit. This
		// process's own commits reach the tailer from the committer, which
		// notes each before its COMMIT. A commit below one of them committed
		// before it: the tailer has published it when it takes the own
		// commit, or reads history then; and when the own COMMIT fails, the
		// committer wakes the tailer to read.
		if rv, err := strconv.ParseInt(n.Payload, 10, 64); err == nil && rv <= b.localCommitted.Load() {
			continue
		}
		b.nudgeTailer()
	}
}

func (b *Backend) nudgeTailer() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Backend) requestProgress() {
	select {
	case b.progressRequest <- struct{}{}:
	default:
	}
}

func (b *Backend) noteCompaction(rv int64) {
	for {
		old := b.compactedRV.Load()
		if rv <= old || b.compactedRV.CompareAndSwap(old, rv) {
			return
		}
	}
}
