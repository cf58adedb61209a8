package postgres

// Writes keep committing while lists and watches hold every connection of the read pool.

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/apitesting"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/storage"
)

// TestCommitsWhileListsHoldTheReadPool keeps many more lists in flight than
// the read pool has connections (each holds its snapshot open at a barrier
// until the end): creates, updates and point reads must still complete, and
// a watch must still hear of them, while every list is still open.
func TestCommitsWhileListsHoldTheReadPool(t *testing.T) {
	const (
		maxConns = 4
		lists    = 40
		creates  = 20
		updates  = 5
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pool, err := NewPool(ctx, databaseDSN(newTestDatabase(t)), maxConns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b := newTestBackend(t, pool, BackendOptions{})
	s := b.newStore(ObjectsTable, apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion), newPod, newPodList, "/pods/", nil)
	slots := readSlotsFor(maxConns)
	if slots >= maxConns {
		t.Fatalf("%d read slots for a pool of %d leave no connection for point reads", slots, maxConns)
	}
	if err := s.Create(ctx, "/pods/ns/counter", pod("counter", nil), &example.Pod{}, 0); err != nil {
		t.Fatal(err)
	}
	start, err := s.GetCurrentResourceVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, "/pods/", storage.ListOptions{ResourceVersion: strconv.FormatUint(start, 10), Predicate: storage.Everything, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// Every list stops inside its transaction, holding its connection, until release.
	var (
		mu             sync.Mutex
		inside, most   int
		release        = make(chan struct{})
		entered        = make(chan struct{}, lists)
		listsReturned  = make(chan error, lists)
		releaseOnce    sync.Once
		releaseBarrier = func() { releaseOnce.Do(func() { close(release) }) }
	)
	defer releaseBarrier()
	s.observeListPage = func(context.Context, string, int64, int64) {
		mu.Lock()
		inside++
		most = max(most, inside)
		mu.Unlock()
		entered <- struct{}{}
		<-release
		mu.Lock()
		inside--
		mu.Unlock()
	}
	for range lists {
		go func() {
			listsReturned <- s.GetList(ctx, "/pods/", storage.ListOptions{Predicate: storage.Everything, Recursive: true}, &example.PodList{})
		}()
	}
	for range slots {
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatal("the lists did not start")
		}
	}

	// Writes and point reads, while every read slot is held.
	writes := make(chan error, creates+updates+1)
	for i := range creates {
		go func() {
			writes <- s.Create(ctx, fmt.Sprintf("/pods/ns/p%d", i), pod(fmt.Sprintf("p%d", i), nil), &example.Pod{}, 0)
		}()
	}
	for i := range updates {
		go func() {
			writes <- s.GuaranteedUpdate(ctx, "/pods/ns/counter", &example.Pod{}, false, nil,
				storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
					p := obj.(*example.Pod)
					p.Labels = map[string]string{fmt.Sprintf("bump-%d", i): "yes"}
					return p, nil
				}), nil)
		}()
	}
	go func() { writes <- s.Get(ctx, "/pods/ns/counter", storage.GetOptions{}, &example.Pod{}) }()
	for range creates + updates + 1 {
		select {
		case err := <-writes:
			if err != nil {
				t.Fatalf("write or point read while the lists hold the read pool: %v", err)
			}
		case err := <-listsReturned:
			t.Fatalf("a list returned before the barrier was released: %v", err)
		case <-ctx.Done():
			t.Fatal("writes did not complete while the lists held the read pool")
		}
	}
	for range creates + updates {
		select {
		case e := <-w.ResultChan():
			if e.Type == watch.Error {
				t.Fatalf("watch error: %v", apierrors.FromObject(e.Object))
			}
		case <-ctx.Done():
			t.Fatal("the watch did not hear of the writes while the lists held the read pool")
		}
	}
	select {
	case err := <-listsReturned:
		t.Fatalf("a list returned before the barrier was released: %v", err)
	default:
	}

	releaseBarrier()
	for range lists {
		select {
		case err := <-listsReturned:
			if err != nil {
				t.Fatalf("list: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("the lists did not finish")
		}
	}
	if most > slots {
		t.Fatalf("%d lists held connections at once, more than the %d read slots", most, slots)
	}
	t.Logf("%d lists on a pool of %d: at most %d in flight, %d writes and a point read committed meanwhile", lists, maxConns, most, creates+updates)
}
