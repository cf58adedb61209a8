package postgresproc_test

import (
	"context"
	"path/filepath"
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
