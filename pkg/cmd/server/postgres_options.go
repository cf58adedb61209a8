package server

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/streamspace/controlplane/pkg/storage/postgres"
)

// PostgresOptions configure the storage, in the shape of the apiserver's
// own option structs (AddFlags, Validate, then use).
type PostgresOptions struct {
	// URL is a libpq connection string or URL. It defaults to the
	// STREAMSPACE_POSTGRES_URL environment variable so that a password
	// from a Secret never appears on a command line.
	URL                string
	MaxConns           int32
	EnableWatchCache   bool
	HistoryRetention   time.Duration
	CompactionInterval time.Duration
	// StorageMediaType encodes the objects in Postgres (apiserver.StorageCodec).
	StorageMediaType string
}

// NewPostgresOptions returns the defaults.
func NewPostgresOptions() *PostgresOptions {
	return &PostgresOptions{
		URL:                os.Getenv("STREAMSPACE_POSTGRES_URL"),
		MaxConns:           20,
		EnableWatchCache:   true,
		HistoryRetention:   10 * time.Minute,
		CompactionInterval: time.Minute,
		StorageMediaType:   runtime.ContentTypeProtobuf,
	}
}

// AddFlags registers the flags.
func (o *PostgresOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.URL, "postgres-url", o.URL, "PostgreSQL connection URL, e.g. postgres://user@host:5432/streamspace (default from $STREAMSPACE_POSTGRES_URL). "+
		"With a synchronous standby, name both hosts: postgres://user@primary:5432,standby:5432/streamspace?target_session_attrs=read-write, and new connections follow a promotion.")
	fs.Int32Var(&o.MaxConns, "postgres-max-conns", o.MaxConns, "Maximum connections of the PostgreSQL read pool; the storage opens 3 more (committer, tailer, LISTEN).")
	fs.BoolVar(&o.EnableWatchCache, "watch-cache", o.EnableWatchCache, "Serve lists and watches from the apiserver's watch cache in front of PostgreSQL.")
	fs.DurationVar(&o.HistoryRetention, "history-retention", o.HistoryRetention, "How long change history is kept; watches may resume that far back, older resource versions get 410 Gone.")
	fs.StringVar(&o.StorageMediaType, "storage-media-type", o.StorageMediaType, "How objects are encoded in PostgreSQL's object columns: "+
		runtime.ContentTypeProtobuf+" or "+runtime.ContentTypeJSON+". Either is read whatever this says, so it can be changed at any time; PlatformConfigurations are always JSON (the configuration view reads them).")
	fs.DurationVar(&o.CompactionInterval, "compaction-interval", o.CompactionInterval, "How often history older than --history-retention is compacted.")
}

// Validate checks the flags.
func (o *PostgresOptions) Validate() []error {
	var errs []error
	if o.URL == "" {
		errs = append(errs, fmt.Errorf("--postgres-url (or $STREAMSPACE_POSTGRES_URL) is required"))
	} else if _, err := pgxpool.ParseConfig(o.URL); err != nil {
		errs = append(errs, fmt.Errorf("--postgres-url: %w", err))
	}
	if o.MaxConns < 2 {
		errs = append(errs, fmt.Errorf("--postgres-max-conns must be at least 2, got %d", o.MaxConns))
	}
	if o.StorageMediaType != runtime.ContentTypeProtobuf && o.StorageMediaType != runtime.ContentTypeJSON {
		errs = append(errs, fmt.Errorf("--storage-media-type must be %s or %s, got %q", runtime.ContentTypeProtobuf, runtime.ContentTypeJSON, o.StorageMediaType))
	}
	if o.HistoryRetention <= 0 {
		errs = append(errs, fmt.Errorf("--history-retention must be positive, got %s", o.HistoryRetention))
	}
	return errs
}

// NewBackend connects, migrates the schema and starts the storage backend.
func (o *PostgresOptions) NewBackend(ctx context.Context) (*postgres.Backend, error) {
	pool, err := postgres.NewPool(ctx, o.URL, o.MaxConns)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	backend, err := postgres.NewBackend(ctx, pool, postgres.BackendOptions{
		HistoryRetention:   o.HistoryRetention,
		CompactionInterval: o.CompactionInterval,
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("start postgres storage: %w", err)
	}
	return backend, nil
}
