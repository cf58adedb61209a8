package apiserver

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streamspace/controlplane/internal/postgresproc/pgtest"
	"github.com/streamspace/controlplane/pkg/storage/postgres"
)

// newTestBackend starts a Postgres of the test's own and returns the
// storage backend on it and its pool, closed when the test ends.
func newTestBackend(ctx context.Context, t *testing.T, opts postgres.BackendOptions) (*postgres.Backend, *pgxpool.Pool) {
	t.Helper()
	pool, err := postgres.NewPool(ctx, pgtest.StartForTest(t).DSN(), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	backend, err := postgres.NewBackend(ctx, pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(backend.Close)
	return backend, pool
}
