// Package postgres implements k8s.io/apiserver's storage.Interface over
// PostgreSQL (pgx/v5), for any runtime.Object and codec.
//
// One global resourceVersion orders every write of every resource in commit
// order: each write transaction first increments the single row of the
// resource_version table, which is both the counter and the lock that
// serialises writers, so RV order is commit order across connections and
// apiserver replicas. Every write also appends a row to the history table (new
// and previous object); watches replay history and then follow a tailer that
// reads new history rows in RV order, woken by NOTIFY. See docs/storage.md.
//
// The code is organised by verb: create.go, get.go, list.go, update.go,
// delete.go, watch.go, compact.go; SQL text lives in sql.go; the fan-out of
// changes to watchers is package broadcast.
package postgres
