package postgres

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/storage"

	"github.com/streamspace/controlplane/pkg/storage/readguard"
)

// quotasResource marks its changes in the stores of guardStores.
var quotasResource = schema.GroupResource{Group: "example", Resource: "quotas"}

// guardStores returns two stores of example Pods on a fresh database:
// "quotas", whose changes are marked, and "sessions", whose creates a test
// guards with reads of the quotas.
func guardStores(t *testing.T) (b *Backend, quotas, sessions *store) {
	b = newTestBackend(t, newTestPool(t), BackendOptions{})
	codec := apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)
	quotas = b.newStore(Table{Name: ObjectsTable.Name, MarkChanges: true}, codec, newPod, newPodList, "/quotas/", nil, WithGroupResource(quotasResource))
	sessions = b.newStore(ObjectsTable, codec, newPod, newPodList, "/sessions/", nil, WithGroupResource(schema.GroupResource{Group: "example", Resource: "sessions"}))
	return b, quotas, sessions
}

// A write guarded by a read of a marking resource is stored only if that
// resource has not been created, deleted or changed in its generation
// since the read; status-only updates leave the mark alone.
func TestReadGuardedWrites(t *testing.T) {
	ctx := context.Background()
	b, quotas, sessions := guardStores(t)

	mark := func() int64 {
		t.Helper()
		var rv int64
		err := b.pool.QueryRow(ctx, `SELECT coalesce((SELECT rv FROM change_marks WHERE resource = $1), 0)`, quotasResource.String()).Scan(&rv)
		if err != nil {
			t.Fatal(err)
		}
		return rv
	}
	rvOf := func(obj runtime.Object) int64 {
		t.Helper()
		rv, err := strconv.ParseInt(obj.(*example.Pod).ResourceVersion, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return rv
	}
	guarded := func(seen int64) context.Context {
		g := &readguard.Guard{}
		g.Set(quotasResource, seen)
		return readguard.With(ctx, g)
	}
	create := func(ctx context.Context, name string) error {
		return sessions.Create(ctx, "/sessions/ns/"+name, &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}, &example.Pod{}, 0)
	}

	if got := mark(); got != 0 {
		t.Fatalf("mark before any quota = %d, want 0", got)
	}
	if err := create(guarded(1), "before-any-quota"); err != nil {
		t.Fatalf("guarded create with no quota ever written: %v", err)
	}

	created := &example.Pod{}
	if err := quotas.Create(ctx, "/quotas/ns/q", &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "q", Generation: 1}}, created, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := mark(), rvOf(created); got != want {
		t.Fatalf("mark after the quota's create = %d, want its resourceVersion %d", got, want)
	}
	err := create(guarded(rvOf(created)-1), "stale")
	if !readguard.IsStale(err) {
		t.Fatalf("create guarded by a read from before the quota: %v, want a stale-read error", err)
	}
	if err := sessions.Get(ctx, "/sessions/ns/stale", storage.GetOptions{}, &example.Pod{}); !storage.IsNotFound(err) {
		t.Fatalf("the refused create was stored: %v", err)
	}
	if err := create(guarded(rvOf(created)), "current"); err != nil {
		t.Fatalf("create guarded by a read that saw the quota: %v", err)
	}

	// A status-only update (same generation) does not mark; a spec change
	// (a new generation) and a delete do.
	update := func(generation int64, phase string) *example.Pod {
		t.Helper()
		out := &example.Pod{}
		err := quotas.GuaranteedUpdate(ctx, "/quotas/ns/q", out, false, nil, func(in runtime.Object, _ storage.ResponseMeta) (runtime.Object, *uint64, error) {
			p := in.(*example.Pod).DeepCopy()
			p.Generation, p.Status.Phase = generation, example.PodPhase(phase)
			return p, nil, nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := mark()
	statusOnly := update(1, "Charged")
	if got := mark(); got != before {
		t.Errorf("mark after a status-only update = %d, want %d unchanged", got, before)
	}
	if err := create(guarded(rvOf(created)), "after-status"); err != nil {
		t.Errorf("create guarded by a read from before a status-only update: %v", err)
	}
	specChange := update(2, "Charged")
	if got, want := mark(), rvOf(specChange); got != want {
		t.Errorf("mark after a spec change = %d, want %d", got, want)
	}
	if err := create(guarded(rvOf(statusOnly)), "before-spec"); !readguard.IsStale(err) {
		t.Errorf("create guarded by a read from before a spec change: %v, want stale", err)
	}
	deleted := &example.Pod{}
	if err := quotas.Delete(ctx, "/quotas/ns/q", deleted, nil, storage.ValidateAllObjectFunc, nil, storage.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := mark(); got <= rvOf(specChange) {
		t.Errorf("mark after a delete = %d, want after %d", got, rvOf(specChange))
	}
	if err := create(guarded(rvOf(specChange)), "before-delete"); !readguard.IsStale(err) {
		t.Errorf("create guarded by a read from before the delete: %v, want stale", err)
	}

	// A conflicting write marks nothing.
	before = mark()
	if err := quotas.Create(ctx, "/quotas/ns/r", &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "r"}}, &example.Pod{}, 0); err != nil {
		t.Fatal(err)
	}
	afterCreate := mark()
	if err := quotas.Create(ctx, "/quotas/ns/r", &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "r"}}, &example.Pod{}, 0); !storage.IsExist(err) {
		t.Fatalf("second create of r: %v", err)
	}
	if got := mark(); got != afterCreate || afterCreate <= before {
		t.Errorf("marks: before %d, after the create %d, after the refused create %d", before, afterCreate, got)
	}
}

// A stale guard refuses only its own write, not the others committed in the
// same group commit.
func TestStaleGuardInAGroupCommit(t *testing.T) {
	ctx := context.Background()
	b, quotas, sessions := guardStores(t)
	q := &example.Pod{}
	if err := quotas.Create(ctx, "/quotas/ns/q", &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "q"}}, q, 0); err != nil {
		t.Fatal(err)
	}
	const writers = 64
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			ctx := ctx
			if i%8 == 0 {
				g := &readguard.Guard{}
				g.Set(quotasResource, 1) // from before the quota
				ctx = readguard.With(ctx, g)
			}
			name := "s" + strconv.Itoa(i)
			errs[i] = sessions.Create(ctx, "/sessions/ns/"+name, &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}, &example.Pod{}, 0)
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i%8 == 0 && !readguard.IsStale(err):
			t.Errorf("stale guarded create %d: %v, want a stale-read error", i, err)
		case i%8 != 0 && err != nil:
			t.Errorf("unguarded create %d: %v", i, err)
		}
	}
	var stored int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM objects WHERE key LIKE '/sessions/%'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if want := writers - writers/8; stored != want {
		t.Errorf("%d sessions stored, want %d", stored, want)
	}
}
