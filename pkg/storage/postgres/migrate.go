package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"k8s.io/klog/v2"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the embedded schema migrations that the database lacks.
// Replicas starting together are serialised by a Postgres advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := newMigrationProvider(db)
	if err != nil {
		return fmt.Errorf("migrate storage schema: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate storage schema: %w", err)
	}
	for _, r := range results {
		klog.FromContext(ctx).Info("applied storage migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// newMigrationProvider returns the goose provider of the embedded
// migrations on db, versions kept in storage_schema_version.
func newMigrationProvider(db *sql.DB) (*goose.Provider, error) {
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, migrations,
		goose.WithSessionLocker(locker),
		goose.WithTableName(migrationVersionTable),
		goose.WithDisableGlobalRegistry(true))
}

// migrationVersionTable records which migrations a database has.
const migrationVersionTable = "storage_schema_version"
