package apiserver

import (
	"context"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	authnuser "k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	testclock "k8s.io/utils/clock/testing"

	"github.com/streamspace/controlplane/internal/postgresproc/pgtest"
	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/apiserver/users"
	"github.com/streamspace/controlplane/pkg/registry/stream/user"
	"github.com/streamspace/controlplane/pkg/storage/postgres"
)

// TestUserRecordersOnTwoReplicas runs two recorders, each with the users
// storage of its own backend on one database (two API server replicas), and
// has both record the same people at once: every write lands (conflicts are
// retried, the first one creates), the users table holds the old backend's
// columns, and the times only move forward.
func TestUserRecordersOnTwoReplicas(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn := pgtest.StartForTest(t).DSN()
	pool, err := postgres.NewPool(ctx, dsn, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	start := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	var recorders []*users.Recorder
	var clocks []*testclock.FakeClock
	var stores []*user.REST
	for range 2 {
		replicaPool, err := postgres.NewPool(ctx, dsn, 8)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(replicaPool.Close)
		backend, err := postgres.NewBackend(ctx, replicaPool, postgres.BackendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(backend.Close)
		optsGetter := restOptionsGetter{decorator: backend.StorageDecorator(storageTables(), false)}
		rest, store, err := user.NewREST(Scheme, optsGetter)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rest.Destroy)
		clk := testclock.NewFakeClock(start)
		r := users.NewRecorder(users.Options{AdminGroup: users.DefaultAdminGroup, Clock: clk})
		go r.Run(ctx, store)
		recorders, clocks, stores = append(recorders, r), append(clocks, clk), append(stores, rest)
	}

	carol := &userInfo{name: "oidc:carol", uid: "carol-sub", groups: []string{"streamspace-users", "system:authenticated"},
		extra: map[string][]string{users.ExtraEmail: {"carol@example.com"}, users.ExtraName: {"Carol"}, users.ExtraLoginTime: {"1714978000"}}}
	dana := &userInfo{name: "oidc:dana", uid: "dana-sub", groups: []string{"streamspace-admins"}}
	var wg sync.WaitGroup
	for i, r := range recorders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clocks[i].Step(time.Duration(i) * time.Second)
			r.Observe(ctx, carol.info())
			r.Observe(ctx, dana.info())
		}()
	}
	wg.Wait()

	readCtx := genericapirequest.WithNamespace(ctx, metav1.NamespaceNone)
	get := func(name string) *stream.User {
		obj, err := stores[0].Get(readCtx, name, &metav1.GetOptions{})
		if err != nil {
			return nil
		}
		return obj.(*stream.User)
	}
	// Both replicas' writes land, in either order: carol's first seen is
	// the earlier replica's time and her last seen the later one's.
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		c, d := get("oidc:carol"), get("oidc:dana")
		return c != nil && d != nil && c.Status.LastSeen.Time.Equal(start.Add(time.Second)) &&
			c.Status.FirstSeen != nil && c.Status.FirstSeen.Time.Equal(start), nil
	})
	if err != nil {
		t.Fatalf("the recorders did not record both people from both replicas: carol %+v", get("oidc:carol"))
	}
	c := get("oidc:carol")
	if c.Status.Email != "carol@example.com" || c.Status.Role != stream.UserRoleUser || !c.Status.FirstSeen.Time.Equal(start) ||
		!c.Status.LastLogin.Time.Equal(time.Unix(1714978000, 0)) || c.UID == "" {
		t.Errorf("carol = %+v", c)
	}
	if d := get("oidc:dana"); d.Status.Role != stream.UserRoleAdmin || d.Status.Email != "" || !d.Status.LastLogin.Time.Equal(d.Status.LastSeen.Time) {
		t.Errorf("dana = %+v", d)
	}

	// psql sees the old backend's columns.
	var id, email, name, role string
	var createdAt, lastLogin time.Time
	err = pool.QueryRow(ctx, `SELECT id, email, name, role, created_at, last_login FROM users WHERE name = 'oidc:carol'`).
		Scan(&id, &email, &name, &role, &createdAt, &lastLogin)
	if err != nil {
		t.Fatal(err)
	}
	if id != "carol-sub" || email != "carol@example.com" || name != "oidc:carol" || role != "user" ||
		!createdAt.Equal(start) || !lastLogin.Equal(time.Unix(1714978000, 0)) {
		t.Errorf("users row: %q %q %q %q %v %v", id, email, name, role, createdAt, lastLogin)
	}

	// A later request of replica 0 (its clock behind the stored last seen
	// would not move it back; a minute on, it moves it forward).
	clocks[0].Step(2 * time.Minute)
	recorders[0].Observe(ctx, carol.info())
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		c := get("oidc:carol")
		return c != nil && c.Status.LastSeen.Time.Equal(start.Add(2*time.Minute)), nil
	})
	if err != nil {
		t.Errorf("a minute later, carol's last seen is %v", get("oidc:carol").Status.LastSeen)
	}
}

type userInfo struct {
	name, uid string
	groups    []string
	extra     map[string][]string
}

func (u *userInfo) info() authnuser.Info {
	return &authnuser.DefaultInfo{Name: u.name, UID: u.uid, Groups: u.groups, Extra: u.extra}
}
