package postgresproc_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamspace/controlplane/internal/postgresproc"
	"github.com/streamspace/controlplane/internal/postgresproc/pgtest"
)

func TestStartForTest(t *testing.T) {
	srv := pgtest.StartForTest(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.DSN())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	if db != "streamspace" {
		t.Errorf("database = %q, want streamspace", db)
	}
}

// TestRestartKeepsState starts a cluster twice in the same folder: the second
// start must skip initdb and see what the first one wrote.
func TestRestartKeepsState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "pg")
	opts := postgresproc.Options{Dir: dir, Database: "keep", Settings: []string{"fsync=off"}}

	srv, err := postgresproc.Start(ctx, opts)
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	exec(ctx, t, srv.DSN(), "CREATE TABLE marker (v int); INSERT INTO marker VALUES (42)")
	if err := srv.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	srv, err = postgresproc.Start(ctx, opts)
	if err != nil {
		t.Fatalf("second start: %v", err)
	}
	defer srv.Stop()
	conn, err := pgx.Connect(ctx, srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM marker").Scan(&v); err != nil || v != 42 {
		t.Fatalf("marker = %d, %v; want 42", v, err)
	}
}

func exec(ctx context.Context, t *testing.T, dsn, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

// TestKillAndRestart kills the postmaster with SIGKILL while a connection is
// open and starts the cluster again: what was committed before is there (the
// cluster runs with its durable defaults), and the old connection is broken.
func TestKillAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := postgresproc.Start(ctx, postgresproc.Options{Dir: filepath.Join(t.TempDir(), "pg")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	exec(ctx, t, srv.DSN(), "CREATE TABLE marker (v int); INSERT INTO marker VALUES (42)")
	conn, err := pgx.Connect(ctx, srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		t.Fatal(err)
	}
	pid := srv.PID()
	if err := srv.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if srv.PID() != 0 {
		t.Fatal("a killed server still has a postmaster")
	}
	for _, p := range []int{pid, backend} {
		if running(p) {
			t.Fatalf("process %d of the cluster still runs after Kill", p)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("a connection to the killed server still works")
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if v := queryInt(ctx, t, srv.DSN(), "SELECT v FROM marker"); v != 42 {
		t.Fatalf("marker = %d after kill and restart, want 42", v)
	}
}

// TestFailoverToSynchronousStandby commits on a primary that waits for its
// synchronous standby, kills the primary and promotes the standby: every
// commit is there, and the multi-host DSN now reaches the promoted standby
// for writes.
func TestFailoverToSynchronousStandby(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	primary, err := postgresproc.Start(ctx, postgresproc.Options{Dir: filepath.Join(dir, "primary")})
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Stop()
	standby, err := postgresproc.StartStandby(ctx, primary, "standby", postgresproc.Options{Dir: filepath.Join(dir, "standby")})
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Stop()
	if err := primary.RequireSynchronousStandby(ctx, "standby"); err != nil {
		t.Fatal(err)
	}
	dsn := postgresproc.MultiHostDSN(primary, standby)
	exec(ctx, t, dsn, "CREATE TABLE marker (v int)")
	for i := range 50 {
		exec(ctx, t, dsn, fmt.Sprintf("INSERT INTO marker VALUES (%d)", i))
	}
	if err := primary.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := standby.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(ctx, t, dsn, "SELECT count(*) FROM marker"); n != 50 {
		t.Fatalf("%d rows after failover, want the 50 committed", n)
	}
	exec(ctx, t, dsn, "INSERT INTO marker VALUES (50)")
}

func queryInt(ctx context.Context, t *testing.T, dsn, sql string) int {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, sql).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// running reports whether pid is a process that has not exited (a zombie has).
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}
