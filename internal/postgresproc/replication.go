package postgresproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/util/wait"
)

// StartStandby makes a streaming-replication standby of primary in opts.Dir
// (pg_basebackup -R, which writes primary_conninfo and standby.signal) and
// starts it. name is its application_name on the primary: what
// RequireSynchronousStandby and synchronous_standby_names refer to. opts.Dir
// must not hold a cluster yet; opts.Database is ignored (the standby has the
// primary's).
func StartStandby(ctx context.Context, primary *Server, name string, opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("postgresproc: Options.Dir is required")
	}
	if !validStandbyName(name) {
		return nil, fmt.Errorf("postgresproc: standby name %q: use lower-case letters, digits and _", name)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("postgresproc: resolve dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
		return nil, fmt.Errorf("postgresproc: %s already holds a cluster", dir)
	}
	cred, err := credentialForPostgres()
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir, cred); err != nil {
		return nil, err
	}
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d user=%s application_name=%s", primary.port, superuser, name)
	cmd := exec.CommandContext(ctx, filepath.Join(BinDir(), "pg_basebackup"),
		"-D", dir, "-d", conninfo, "--wal-method=stream", "--write-recovery-conf", "--checkpoint=fast")
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("postgresproc: pg_basebackup of port %d into %s: %w: %s", primary.port, dir, err, strings.TrimSpace(string(out)))
	}
	// The copy holds the primary's log (it lives in the data folder by default).
	_ = os.Remove(filepath.Join(dir, "postgres.log"))
	opts.Dir = dir
	opts.Database = primary.database
	return Start(ctx, opts)
}

func validStandbyName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// RequireSynchronousStandby makes every commit on s wait until the standby
// called name has flushed it to disk (synchronous_standby_names, with
// synchronous_commit at its default, on), and returns once that standby is
// streaming and synchronous. The setting is kept in postgresql.auto.conf, so
// it survives a restart. Commits hang while the standby is away.
func (s *Server) RequireSynchronousStandby(ctx context.Context, name string) error {
	if !validStandbyName(name) {
		return fmt.Errorf("postgresproc: standby name %q: use lower-case letters, digits and _", name)
	}
	conn, err := pgx.Connect(ctx, s.adminDSN())
	if err != nil {
		return fmt.Errorf("postgresproc: connect to the primary: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "ALTER SYSTEM SET synchronous_standby_names = '"+name+"'"); err != nil {
		return fmt.Errorf("postgresproc: set synchronous_standby_names: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("postgresproc: reload the configuration: %w", err)
	}
	err = wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var state string
		err := conn.QueryRow(ctx, "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'", name).Scan(&state)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return false, fmt.Errorf("postgresproc: read pg_stat_replication: %w", err)
		}
		return err == nil && state == "sync", nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("postgresproc: standby %s did not become synchronous: %w", name, ctx.Err())
	}
	return err
}

// Promote turns a standby into a primary (pg_promote) and returns once it
// accepts writes.
func (s *Server) Promote(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.adminDSN())
	if err != nil {
		return fmt.Errorf("postgresproc: connect to the standby: %w", err)
	}
	defer conn.Close(context.Background())
	var promoted bool
	if err := conn.QueryRow(ctx, "SELECT pg_promote(wait => true, wait_seconds => 60)").Scan(&promoted); err != nil {
		return fmt.Errorf("postgresproc: promote: %w", err)
	}
	if !promoted {
		return errors.New("postgresproc: the standby was not promoted within 60s")
	}
	return nil
}

// MultiHostDSN is a connection string naming every server, in order, that
// connects to the first one accepting writes (target_session_attrs=read-write):
// the primary, and after a failover the promoted standby.
func MultiHostDSN(servers ...*Server) string {
	hosts := make([]string, len(servers))
	for i, s := range servers {
		hosts[i] = fmt.Sprintf("127.0.0.1:%d", s.port)
	}
	database := defaultDatabase
	if len(servers) > 0 {
		database = servers[0].database
	}
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable&target_session_attrs=read-write", superuser, strings.Join(hosts, ","), database)
}
