package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// defaultMaxConns leaves room for list snapshots, watch replays and point
// reads at once (pgxpool's default is max(4, number of CPUs)).
const defaultMaxConns = 20

// defaultConnectTimeout bounds each host's connection attempt when the DSN
// sets no connect_timeout: with several hosts, a host that is down without
// refusing connections would otherwise hold up the attempt on the next one.
const defaultConnectTimeout = 5 * time.Second

// NewPool opens a connection pool configured for the storage. It turns JIT
// compilation off: it adds tens of milliseconds to a query whose estimate is
// large and helps only analytical queries. maxConns > 0 sets the pool size;
// otherwise pool_max_conns in dsn, else defaultMaxConns.
//
// dsn may name several hosts (postgres://u@h1:5432,h2:5432/db?target_session_attrs=read-write):
// every new connection tries them in order and keeps the first that
// qualifies, so after a standby is promoted, connections lost with the old
// primary are replaced by connections to the new one.
func NewPool(ctx context.Context, dsn string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse postgres DSN: %w", err)
	}
	tunePoolConfig(cfg, !strings.Contains(dsn, "pool_max_conns"))
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
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
