package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// defaultMaxConns leaves room for list snapshots, watch replays and writes at
// once (pgxpool's default is max(4, number of CPUs)).
const defaultMaxConns = 20

// NewPool opens a connection pool configured for the storage. It turns JIT
// compilation off: it adds tens of milliseconds to a query whose estimate is
// large and helps only analytical queries. maxConns > 0 sets the pool size;
// otherwise pool_max_conns in dsn, else defaultMaxConns.
func NewPool(ctx context.Context, dsn string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse postgres DSN: %w", err)
	}
	tunePoolConfig(cfg, !strings.Contains(dsn, "pool_max_conns"))
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres pool: %w", err)
	}
	return pool, nil
}

func tunePoolConfig(cfg *pgxpool.Config, setMaxConns bool) {
	cfg.ConnConfig.RuntimeParams["jit"] = "off"
	if setMaxConns {
		cfg.MaxConns = defaultMaxConns
	}
}
