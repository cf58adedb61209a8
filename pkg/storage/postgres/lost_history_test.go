package postgres

// History lost under a watcher: the watcher is fenced with 410 Gone, never silently skipped.

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/apitesting"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/storage"
)

// TestLostHistoryFencesWatchers makes the database lose the newest write a
// watcher has seen, as a promoted standby that had not received it would,
// and lets another replica write at the resourceVersion that frees: the
// watcher must get 410 Gone rather than a different change under a
// resourceVersion it has already passed, and later writes and watches must
// not reuse resourceVersions anybody was shown.
func TestLostHistoryFencesWatchers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool := newTestPool(t)
	b := newTestBackend(t, pool, BackendOptions{PollInterval: 50 * time.Millisecond})
	codec := apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)
	s := b.newStore(ObjectsTable, codec, newPod, newPodList, "/pods/", nil)
	other := newTestBackend(t, newSharedDatabasePool(t, pool), BackendOptions{})
	otherStore := other.newStore(ObjectsTable, codec, newPod, newPodList, "/pods/", nil)

	start, err := s.GetCurrentResourceVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, "/pods/", storage.ListOptions{ResourceVersion: strconv.FormatUint(start, 10), Predicate: storage.Everything, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var lostRV string
	for _, name := range []string{"kept", "lost"} {
		out := &example.Pod{}
		if err := s.Create(ctx, "/pods/ns/"+name, pod(name, nil), out, 0); err != nil {
			t.Fatal(err)
		}
		lostRV = out.ResourceVersion
		e := <-w.ResultChan()
		if got := e.Object.(*example.Pod); got.Name != name {
			t.Fatalf("watch got %s, want %s", got.Name, name)
		}
	}

	// The failover: the database forgets the last write, then another
	// replica writes and gets its resourceVersion.
	if _, err := pool.Exec(ctx, fmt.Sprintf(`
DELETE FROM history WHERE rv >= %[1]d;
DELETE FROM objects WHERE key = '/pods/ns/lost';
UPDATE resource_version SET current = %[1]d - 1`, mustParseRV(t, lostRV))); err != nil {
		t.Fatal(err)
	}
	reused := &example.Pod{}
	if err := otherStore.Create(ctx, "/pods/ns/other", pod("other", nil), reused, 0); err != nil {
		t.Fatal(err)
	}

	select {
	case e := <-w.ResultChan():
		if e.Type != watch.Error {
			t.Fatalf("watch got %s %s@%s after losing history, want 410 Gone", e.Type, e.Object.(*example.Pod).Name, e.Object.(*example.Pod).ResourceVersion)
		}
		if st := apierrors.FromObject(e.Object); !apierrors.IsResourceExpired(st) && !apierrors.IsGone(st) {
			t.Fatalf("watch error %v, want 410 Gone", st)
		}
	case <-ctx.Done():
		t.Fatal("the watcher was not told")
	}
	wantGoneEvent(t, ctx, s, lostRV)
	after := &example.Pod{}
	if err := otherStore.Create(ctx, "/pods/ns/after", pod("after", nil), after, 0); err != nil {
		t.Fatal(err)
	}
	if afterRV, seenRV := mustParseRV(t, after.ResourceVersion), mustParseRV(t, lostRV); afterRV <= seenRV {
		t.Fatalf("a write after the fence got resourceVersion %d, not above the %d a watcher was shown", afterRV, seenRV)
	}
}

func mustParseRV(t *testing.T, rv string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantGoneEvent checks that a watch from rv ends with 410, at once or as its first event.
func wantGoneEvent(t *testing.T, ctx context.Context, s *store, rv string) {
	t.Helper()
	w, err := s.Watch(ctx, "/pods/", storage.ListOptions{ResourceVersion: rv, Predicate: storage.Everything, Recursive: true})
	if err != nil {
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Fatalf("watch from %s after the fence: %v, want 410", rv, err)
		}
		return
	}
	defer w.Stop()
	select {
	case e := <-w.ResultChan():
		if e.Type != watch.Error {
			t.Fatalf("watch from %s after the fence got a %s event, want 410", rv, e.Type)
		}
	case <-ctx.Done():
		t.Fatalf("watch from %s after the fence got nothing", rv)
	}
}
