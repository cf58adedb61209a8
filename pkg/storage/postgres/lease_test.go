package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/util/wait"
)

// leaseFixture inserts the connection ns/name with uid (its trigger
// creates the lease) and sets its last beat an hour back. It returns the
// connection's key and a reap cutoff half an hour back, both in the
// database's clock.
func leaseFixture(t *testing.T, b *Backend, ns, name, uid string) (string, time.Time) {
	t.Helper()
	ctx := context.Background()
	key := "/connections/" + ns + "/" + name
	if _, err := b.pool.Exec(ctx, `INSERT INTO connections (key, namespace, name, uid, resource_version, created_rv, object, session, user_name, state)
VALUES ($1, $2, $3, $4, 1, 1, '\x00', 's', 'u', 'active')`, key, ns, name, uid); err != nil {
		t.Fatalf("insert connection: %v", err)
	}
	var cutoff time.Time
	if err := b.pool.QueryRow(ctx, `UPDATE connection_leases SET last_beat = now() - interval '1 hour' WHERE key = $1
RETURNING now() - interval '30 minutes'`, key).Scan(&cutoff); err != nil {
		t.Fatalf("age the lease: %v", err)
	}
	return key, cutoff
}

// waitForLockWaiter polls until some backend waits for a row lock.
func waitForLockWaiter(t *testing.T, b *Backend) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var n int
		err := b.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		return n > 0, err
	})
	if err != nil {
		t.Fatalf("no backend came to wait for the lease's row lock: %v", err)
	}
}

func connectionExists(t *testing.T, b *Backend, key string) bool {
	t.Helper()
	var n int
	if err := b.pool.QueryRow(context.Background(), `SELECT count(*) FROM connections WHERE key = $1`, key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// A heartbeat that holds the lease when a reap comes wins: the reap waits
// for the row lock, sees the new last beat and deletes nothing.
func TestLeaseHeartbeatBeforeReap(t *testing.T) {
	ctx := context.Background()
	b := newTestBackend(t, newTestPool(t), BackendOptions{})
	key, cutoff := leaseFixture(t, b, "ns", "c1", "uid-1")

	beat, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = beat.Rollback(ctx) }()
	tag, err := beat.Exec(ctx, sqlBeat, []string{"ns"}, []string{"c1"}, []string{"uid-1"})
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("beat: %v (rows %d)", err, tag.RowsAffected())
	}

	reaped := make(chan error, 1)
	go func() {
		_, err := scanWrite(b.pool.QueryRow(ctx, guardedDeleteSQL(leaseTable, reapGuard), int64(1<<40), key, int64(1), cutoff))
		reaped <- err
	}()
	waitForLockWaiter(t, b)
	if err := beat.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-reaped; !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("reap after a committed heartbeat: got %v, want no row deleted", err)
	}
	if !connectionExists(t, b, key) {
		t.Fatal("the connection was reaped although it beat before the reap decided")
	}
}

// A reap that holds the lease when a heartbeat comes wins: the heartbeat
// waits for the row lock and then finds the connection gone.
func TestLeaseReapBeforeHeartbeat(t *testing.T) {
	ctx := context.Background()
	b := newTestBackend(t, newTestPool(t), BackendOptions{})
	key, cutoff := leaseFixture(t, b, "ns", "c1", "uid-1")

	reap, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reap.Rollback(ctx) }()
	if _, err := scanWrite(reap.QueryRow(ctx, guardedDeleteSQL(leaseTable, reapGuard), int64(1<<40), key, int64(1), cutoff)); err != nil {
		t.Fatalf("reap a silent connection: %v", err)
	}

	type result struct {
		found bool
		err   error
	}
	beaten := make(chan result, 1)
	go func() {
		_, found, err := b.Beat(ctx, "ns", "c1", "uid-1")
		beaten <- result{found, err}
	}()
	waitForLockWaiter(t, b)
	if err := reap.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-beaten
	if r.err != nil || r.found {
		t.Fatalf("heartbeat after a committed reap: found=%v err=%v, want not found", r.found, r.err)
	}
	if connectionExists(t, b, key) {
		t.Fatal("the reaped connection still exists")
	}
}

// LeaseCounts counts silent leases against all of them.
func TestLeaseCounts(t *testing.T) {
	ctx := context.Background()
	b := newTestBackend(t, newTestPool(t), BackendOptions{})
	_, cutoff := leaseFixture(t, b, "ns", "old", "uid-1")
	if _, err := b.pool.Exec(ctx, `INSERT INTO connections (key, namespace, name, uid, resource_version, created_rv, object, session, user_name, state)
VALUES ('/connections/ns/new', 'ns', 'new', 'uid-2', 2, 2, '\x00', 's', 'u', 'active')`); err != nil {
		t.Fatal(err)
	}
	got, err := b.LeaseCounts(ctx, cutoff, time.Now().Add(time.Hour), 45*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := (LeaseCount{Stale: 1, Overdue: 2, Total: 2}); got != want {
		t.Fatalf("LeaseCounts = %+v, want %+v", got, want)
	}

	// Both beat now: new a moment after its creation, old an hour after its
	// last beat, so only old's beat is late.
	for _, name := range []string{"new", "old"} {
		uid := map[string]string{"new": "uid-2", "old": "uid-1"}[name]
		if _, found, err := b.Beat(ctx, "ns", name, uid); err != nil || !found {
			t.Fatalf("beat %s: found=%v err=%v", name, found, err)
		}
	}
	got, err = b.LeaseCounts(ctx, cutoff, cutoff, 45*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := (LeaseCount{Stale: 0, Overdue: 0, Total: 2, Late: 1}); got != want {
		t.Fatalf("LeaseCounts after the beats = %+v, want %+v (old's beat came an hour after its previous one)", got, want)
	}
	// A late beat counts only while it is the last beat and within the
	// window: beating old again on time makes it an ordinary beat.
	if _, _, err := b.Beat(ctx, "ns", "old", "uid-1"); err != nil {
		t.Fatal(err)
	}
	if got, err = b.LeaseCounts(ctx, cutoff, cutoff, 45*time.Second); err != nil || got.Late != 0 {
		t.Fatalf("LeaseCounts after an on-time beat = %+v (%v), want no late lease", got, err)
	}
}

// scanWrite reads the row of a write statement (historyReturning) and
// returns its resourceVersion.
func scanWrite(row pgx.Row) (rv int64, err error) {
	var (
		prevRV      *int64
		prevObject  []byte
		committedAt time.Time
	)
	err = row.Scan(&rv, &prevRV, &prevObject, &committedAt)
	return rv, err
}
