package postgres

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
)

// Session usage: the intervals during which sessions were Running, recorded
// in session_usage by a trigger on the sessions table in the transaction
// of each session write (migrations/00009_session_usage.sql, docs/usage.md).
// This file only reads them.

// sqlSessionUsage adds up the intervals that overlap the period [$4, $5)
// ($4, $5 NULL: unbounded), clipped to it, per namespace, user and
// template; $1 namespace (empty: every one), $2 users (NULL: everyone),
// $3 template (empty: every one). An interval still open counts up to the
// statement's clock, which is returned. Sums are numeric text: exact, to
// the microsecond.
const sqlSessionUsage = `
WITH clock AS (SELECT clock_timestamp() AS at),
spans AS (
    SELECT u.namespace, u.user_name, u.template, u.uid, u.cpu_millis, u.memory_bytes,
        extract(epoch FROM least(coalesce(u.ended_at, c.at), coalesce($5::timestamptz, 'infinity'))
                         - greatest(u.started_at, coalesce($4::timestamptz, '-infinity'))) AS seconds
    FROM session_usage u, clock c
    WHERE ($1::text = '' OR u.namespace = $1)
      AND ($2::text[] IS NULL OR u.user_name = ANY ($2))
      AND ($3::text = '' OR u.template = $3)
      AND ($5::timestamptz IS NULL OR u.started_at < $5)
      AND ($4::timestamptz IS NULL OR u.ended_at IS NULL OR u.ended_at > $4)
)
SELECT namespace, user_name, template, count(DISTINCT uid),
    sum(seconds)::text, sum(seconds * cpu_millis)::text, sum(seconds * memory_bytes)::text,
    (SELECT at FROM clock)
FROM spans WHERE seconds > 0
GROUP BY namespace, user_name, template
ORDER BY namespace, user_name, template`

// UsageQuery selects the session intervals SessionUsage adds up.
type UsageQuery struct {
	// Namespace of the sessions; empty: every namespace.
	Namespace string
	// Users whose sessions count; nil: everyone's, empty: nobody's.
	Users []string
	// Template of the sessions; empty: every template.
	Template string
	// Start and End bound the period, End excluded; nil: unbounded.
	Start, End *time.Time
}

// UsageRow is what one user's sessions of one template in one namespace
// used within the period, exactly.
type UsageRow struct {
	Namespace, User, Template string
	// Sessions is how many sessions (by uid) ran within the period.
	Sessions int64
	// Seconds is how long they ran within the period.
	Seconds *big.Rat
	// CPUMilliSeconds is their CPU request in millicores times Seconds, and
	// MemoryByteSeconds their memory request in bytes times Seconds.
	CPUMilliSeconds, MemoryByteSeconds *big.Rat
}

// SessionUsage adds up the recorded running time of sessions, and their
// requests over it, per namespace, user and template, for the period of q.
// measuredAt is the database's time up to which open intervals count.
func (b *Backend) SessionUsage(ctx context.Context, q UsageQuery) (rows []UsageRow, measuredAt time.Time, err error) {
	if q.Users != nil && len(q.Users) == 0 {
		return nil, time.Now(), nil
	}
	release, err := b.acquireReadSlot(ctx)
	if err != nil {
		return nil, time.Time{}, apiError(ctx, err, "session usage", "")
	}
	defer release()
	result, err := b.pool.Query(ctx, sqlSessionUsage, q.Namespace, q.Users, q.Template, q.Start, q.End)
	if err != nil {
		return nil, time.Time{}, apiError(ctx, fmt.Errorf("read session usage: %w", err), "session usage", "")
	}
	measuredAt = time.Now()
	rows, err = pgx.CollectRows(result, func(row pgx.CollectableRow) (UsageRow, error) {
		var r UsageRow
		var seconds, cpu, memory string
		if err := row.Scan(&r.Namespace, &r.User, &r.Template, &r.Sessions, &seconds, &cpu, &memory, &measuredAt); err != nil {
			return r, err
		}
		for _, f := range []struct {
			text string
			into **big.Rat
		}{{seconds, &r.Seconds}, {cpu, &r.CPUMilliSeconds}, {memory, &r.MemoryByteSeconds}} {
			v, ok := new(big.Rat).SetString(f.text)
			if !ok {
				return r, fmt.Errorf("session usage: %q is not a number", f.text)
			}
			*f.into = v
		}
		return r, nil
	})
	if err != nil {
		return nil, time.Time{}, apiError(ctx, fmt.Errorf("read session usage: %w", err), "session usage", "")
	}
	return rows, measuredAt, nil
}
