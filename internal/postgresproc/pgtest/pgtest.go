// Package pgtest starts a throwaway PostgreSQL for a test and stops it when the
// test ends. It is the one place tests get a database from.
package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamspace/controlplane/internal/postgresproc"
)

// maxDirLen keeps "<dir>/.s.PGSQL.<port>" under the 107-byte limit of a Unix socket path.
const maxDirLen = 80

// testSettings trade durability for speed: the cluster is thrown away after the test.
var testSettings = []string{
	"fsync=off",
	"synchronous_commit=off",
	"full_page_writes=off",
	"max_connections=200",
}

// StartForTest starts postgres in a temporary folder and registers its Stop
// (and the removal of the folder) with t.Cleanup. It fails the test if
// postgres cannot start.
func StartForTest(t testing.TB) *postgresproc.Server {
	t.Helper()
	dir := t.TempDir()
	if len(dir) > maxDirLen {
		short, err := os.MkdirTemp("", "pgtest-")
		if err != nil {
			t.Fatalf("pgtest: temp dir: %v", err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(short) })
		dir = short
	}
	dir = filepath.Join(dir, "pg")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := postgresproc.Start(ctx, postgresproc.Options{Dir: dir, Settings: testSettings})
	if err != nil {
		t.Fatalf("pgtest: start postgres: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("pgtest: stop postgres: %v", err)
		}
	})
	return srv
}

// Start is StartForTest for a TestMain, which has no testing.TB: the caller
// must call the returned stop function (it also removes the folder).
func Start() (srv *postgresproc.Server, stop func(), err error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err = postgresproc.Start(ctx, postgresproc.Options{Dir: filepath.Join(dir, "pg"), Settings: testSettings})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	return srv, func() {
		_ = srv.Stop()
		_ = os.RemoveAll(dir)
	}, nil
}
