package postgres

import (
	"fmt"
	"sort"
	"strings"
)

// All SQL of the package. Statements shared by every resource are constants;
// those that name a resource table are built once per table by
// newTableStatements, and list queries by listQuery.sql.

const (
	// sqlAllocateResourceVersions increments the global resourceVersion by $1
	// and returns the new value. The row lock it takes is held until commit,
	// so the transactions that write are serialised and RV order is commit order.
	sqlAllocateResourceVersions = `UPDATE resource_version SET current = current + $1 RETURNING current`

	// sqlReadGuard ($1 rv, $2 resource, $3 the resourceVersion a read
	// reflects) aborts the transaction with SQLSTATE SS001 when the resource
	// has a change mark after $3. It runs after the resourceVersion row is
	// locked, so every mark committed before this write is visible to it.
	sqlReadGuard = `SELECT $1::bigint WHERE read_is_current($2, $3)`

	// sqlMarkChange ($1 rv, $2 resource) marks a change of the resource at
	// $1 - 1, the resourceVersion of the write it follows in the same
	// transaction, if that write was applied (it then has a history row).
	// A watcher that has seen that write's event has seen the mark.
	sqlMarkChange = `
INSERT INTO change_marks (resource, rv)
SELECT $2, $1 - 1 WHERE EXISTS (SELECT 1 FROM history WHERE rv = $1 - 1)
ON CONFLICT (resource) DO UPDATE SET rv = greatest(change_marks.rv, excluded.rv)
RETURNING $1::bigint`

	// sqlNotify wakes the tailers of every replica when the transaction commits.
	sqlNotify = `SELECT pg_notify($1, $2)`

	// sqlRevisions reads the current and the compacted resourceVersion in one snapshot.
	sqlRevisions = `SELECT (SELECT current FROM resource_version), (SELECT revision FROM compaction)`

	// sqlTailHistory returns, in one snapshot, the current and compacted
	// resourceVersions, the commit time of the history row $3 if its key is
	// $4 (the newest row the tailer has published: NULL when the database no
	// longer has it), and the next history rows after $1 (at most $2). With no
	// new row it returns a single row whose history columns are NULL.
	sqlTailHistory = `
SELECT (SELECT current FROM resource_version), (SELECT revision FROM compaction),
    (SELECT committed_at FROM history WHERE rv = $3 AND key = $4),
    h.rv, h.resource, h.key, h.event, h.object, h.prev_rv, h.prev_object, h.committed_at
FROM (VALUES (1)) AS one (x)
LEFT JOIN LATERAL (
    SELECT * FROM history WHERE history.rv > $1 ORDER BY history.rv LIMIT $2
) h ON true
ORDER BY h.rv`

	// sqlReplayHistory is sqlTailHistory for one resource and a key range
	// [$4, $5), without the check of a published row.
	sqlReplayHistory = `
SELECT (SELECT current FROM resource_version), (SELECT revision FROM compaction), NULL::timestamptz,
    h.rv, h.resource, h.key, h.event, h.object, h.prev_rv, h.prev_object, h.committed_at
FROM (VALUES (1)) AS one (x)
LEFT JOIN LATERAL (
    SELECT * FROM history
    WHERE history.rv > $1 AND history.resource = $3 AND history.key >= $4 AND history.key < $5
    ORDER BY history.rv LIMIT $2
) h ON true
ORDER BY h.rv`

	// sqlReplayKeyHistory is sqlReplayHistory for a single key $4.
	sqlReplayKeyHistory = `
SELECT (SELECT current FROM resource_version), (SELECT revision FROM compaction), NULL::timestamptz,
    h.rv, h.resource, h.key, h.event, h.object, h.prev_rv, h.prev_object, h.committed_at
FROM (VALUES (1)) AS one (x)
LEFT JOIN LATERAL (
    SELECT * FROM history
    WHERE history.rv > $1 AND history.resource = $3 AND history.key = $4
    ORDER BY history.rv LIMIT $2
) h ON true
ORDER BY h.rv`

	// sqlFenceHistory moves the resourceVersion past $1 (the newest one a
	// tailer published) and compacts all history up to the new value, in one
	// transaction; it returns the new compaction point.
	sqlFenceHistory = `
WITH fence AS (
    UPDATE resource_version SET current = greatest(current, $1) + 1 RETURNING current
), gone AS (
    DELETE FROM history WHERE rv <= (SELECT current FROM fence)
)
UPDATE compaction SET revision = greatest(revision, (SELECT current FROM fence)), compacted_at = now()
RETURNING revision`

	// sqlRetentionCutoff is the first resourceVersion written in the last $1 seconds
	// (NULL when no history row is that recent).
	sqlRetentionCutoff = `SELECT min(rv) FROM history WHERE committed_at >= now() - make_interval(secs => $1)`

	// sqlCompactHistory deletes history up to $1 and records $1 as the
	// compaction point (never moving it backwards): reads at $1 and watches
	// from $1 need only the rows after it.
	sqlCompactHistory = `
WITH gone AS (DELETE FROM history WHERE rv <= $1 RETURNING 1)
UPDATE compaction SET revision = greatest(revision, $1), compacted_at = now()
RETURNING revision, (SELECT count(*) FROM gone)`

	// sqlVacuumHistory makes the space of compacted rows reusable at once:
	// under a sustained write load autovacuum falls behind and the table
	// would keep growing although its live rows stay few. SKIP_LOCKED: when
	// another replica is vacuuming it already, there is nothing to do.
	sqlVacuumHistory = `VACUUM (SKIP_LOCKED) history`

	// sqlHistoryRows counts the history rows, for the metric.
	sqlHistoryRows = `SELECT count(*) FROM history`
)

// historyReturning is what a write statement returns of the history row it
// wrote: the committer hands the change to the tailer with it (see
// localCommit), so the tailer need not read back what this process wrote.
const historyReturning = `rv, prev_rv, prev_object, committed_at`

// tableStatements are the statements that name one resource table. In the
// write statements $1 is always the resourceVersion of the write.
type tableStatements struct {
	table string

	// get: $1 key -> current RV, the object's RV and bytes (NULL when absent).
	get string
	// insert: $1 rv, $2 key, $3 namespace, $4 name, $5 uid, $6 labels, $7 object,
	// $8... columns -> historyReturning, or no row when the key exists.
	insert string
	// update: $1 rv, $2 key, $3 expected RV, $4 namespace, $5 name, $6 uid,
	// $7 labels, $8 object, $9... columns -> historyReturning, or no row on conflict.
	update string
	// delete: $1 rv, $2 key, $3 expected RV -> historyReturning, or no row on conflict.
	delete string
	// stats: $1, $2 key range -> count and total size of the stored objects.
	stats string
}

func newTableStatements(t Table) *tableStatements {
	name := t.Name
	var cols, insertParams, updateSets []string
	for i, c := range t.Columns {
		cols = append(cols, ", "+c.Name)
		insertParams = append(insertParams, ", "+c.valueSQL(fmt.Sprintf("$%d", 8+i)))
		updateSets = append(updateSets, fmt.Sprintf(", %s = %s", c.Name, c.valueSQL(fmt.Sprintf("$%d", 9+i))))
	}
	return &tableStatements{
		table: name,
		get: `SELECT (SELECT current FROM resource_version), t.resource_version, t.object
FROM (VALUES (1)) AS one (x) LEFT JOIN ` + name + ` t ON t.key = $1`,
		insert: `
WITH ins AS (
    INSERT INTO ` + name + ` (key, namespace, name, uid, labels, object, resource_version, created_rv` + strings.Join(cols, "") + `)
    VALUES ($2, $3, $4, $5, $6::jsonb, $7, $1, $1` + strings.Join(insertParams, "") + `)
    ON CONFLICT (key) DO NOTHING
    RETURNING key, object)
INSERT INTO history (rv, resource, key, event, object)
SELECT $1, '` + name + `', key, 'ADDED', object FROM ins
RETURNING ` + historyReturning,
		update: `
WITH old AS (
    SELECT key, resource_version, object FROM ` + name + ` WHERE key = $2 AND resource_version = $3
), upd AS (
    UPDATE ` + name + ` t SET namespace = $4, name = $5, uid = $6, labels = $7::jsonb, object = $8,
        resource_version = $1, updated_at = now()` + strings.Join(updateSets, "") + `
    FROM old WHERE t.key = old.key
    RETURNING t.key, t.object, old.resource_version AS prev_rv, old.object AS prev_object)
INSERT INTO history (rv, resource, key, event, object, prev_rv, prev_object)
SELECT $1, '` + name + `', key, 'MODIFIED', object, prev_rv, prev_object FROM upd
RETURNING ` + historyReturning,
		delete: `
WITH del AS (
    DELETE FROM ` + name + ` WHERE key = $2 AND resource_version = $3
    RETURNING key, resource_version, object)
INSERT INTO history (rv, resource, key, event, prev_rv, prev_object)
SELECT $1, '` + name + `', key, 'DELETED', resource_version, object FROM del
RETURNING ` + historyReturning,
		stats: `SELECT count(*), coalesce(sum(octet_length(object)), 0) FROM ` + name + ` WHERE key >= $1 AND key < $2`,
	}
}

// listQuery builds the SELECT behind a list page: the objects of one table
// under a key prefix (or one key), at the latest state or as of an older
// resourceVersion, optionally narrowed by equality on indexed columns.
type listQuery struct {
	table string

	exactKey   string // one key, instead of a range
	fromKey    string // range start
	fromStrict bool   // key > fromKey instead of >=
	toKey      string // range end (exclusive); "" = unbounded

	// atRV, when non-zero, reads the state as of that resourceVersion: objects
	// unchanged since then from the table, the others from the previous object
	// of their first change after it in history.
	atRV int64

	columnEquals map[string]string // column -> value; applied to the table part only
	limit        int64             // 0 = no limit
	count        bool              // SELECT count(*) instead of rows
}

// rangeStart is where the read starts, as an etcd range would name it.
func (q listQuery) rangeStart() string {
	switch {
	case q.exactKey != "":
		return q.exactKey
	case q.fromStrict:
		return q.fromKey + "\x00"
	default:
		return q.fromKey
	}
}

// sql returns the statement and its arguments. Rows are (key, resource_version, object).
func (q listQuery) sql() (string, []any) {
	var args []any
	param := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	var keyCond []string
	if q.exactKey != "" {
		keyCond = append(keyCond, "key = "+param(q.exactKey))
	} else {
		op := ">="
		if q.fromStrict {
			op = ">"
		}
		keyCond = append(keyCond, "key "+op+" "+param(q.fromKey))
		if q.toKey != "" {
			keyCond = append(keyCond, "key < "+param(q.toKey))
		}
	}
	tableCond := append([]string(nil), keyCond...)
	for _, col := range sortedKeys(q.columnEquals) {
		tableCond = append(tableCond, col+" = "+param(q.columnEquals[col]))
	}

	var from string
	if q.atRV == 0 {
		from = `SELECT key, resource_version AS rv, object FROM ` + q.table + ` WHERE ` + strings.Join(tableCond, " AND ")
	} else {
		rv := param(q.atRV)
		from = `SELECT key, resource_version AS rv, object FROM ` + q.table + `
    WHERE ` + strings.Join(tableCond, " AND ") + ` AND resource_version <= ` + rv + `
UNION ALL
SELECT key, prev_rv, prev_object FROM (
    SELECT DISTINCT ON (key) key, prev_rv, prev_object FROM history
    WHERE resource = ` + param(q.table) + ` AND ` + strings.Join(keyCond, " AND ") + ` AND rv > ` + rv + `
    ORDER BY key, rv
) first_change WHERE prev_rv IS NOT NULL`
	}
	if q.count {
		return `SELECT count(*) FROM (` + from + `) s`, args
	}
	stmt := `SELECT key, rv, object FROM (` + from + `) s ORDER BY key`
	if q.limit > 0 {
		stmt += " LIMIT " + param(q.limit)
	}
	return stmt, args
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
