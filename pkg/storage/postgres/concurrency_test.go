package postgres

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/apimachinery/pkg/api/apitesting"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/storage"
)

// TestConcurrentWritersTwoReplicas runs 32 writers on two Backends (two
// "replicas" on one database) with GuaranteedUpdate contention on a few shared
// counters, and two watchers on each replica: every watcher must see every
// committed write exactly once, in strictly increasing resourceVersion order,
// whichever replica made it, and the counters must add up (no lost update).
func TestConcurrentWritersTwoReplicas(t *testing.T) {
	const (
		replicas           = 2
		writersPerReplica  = 16
		watchersPerReplica = 2
		podsPerWriter      = 10
		counters           = 4
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pool := newTestPool(t)
	codec := apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)
	var stores []storage.Interface
	for range replicas {
		b := newTestBackend(t, newSharedDatabasePool(t, pool), BackendOptions{})
		stores = append(stores, b.NewStore(ObjectsTable, codec, newPod, newPodList, "/pods/", nil))
	}

	list := &example.PodList{}
	if err := stores[0].GetList(ctx, "/pods/", storage.ListOptions{Predicate: storage.Everything, Recursive: true}, list); err != nil {
		t.Fatal(err)
	}
	var watchers []watch.Interface
	for _, s := range stores {
		for range watchersPerReplica {
			w, err := s.Watch(ctx, "/pods/", storage.ListOptions{ResourceVersion: list.ResourceVersion, Predicate: storage.Everything, Recursive: true})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			watchers = append(watchers, w)
		}
	}

	// Each writer creates its pods, updates each one, bumps one of the
	// counter pods that all writers share (conflicts and retries) and deletes
	// every other pod.
	var mu sync.Mutex
	var written []int64
	record := func(obj runtime.Object) {
		rv, err := storage.APIObjectVersioner{}.ObjectResourceVersion(obj)
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		written = append(written, int64(rv))
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for r, s := range stores {
		for w := range writersPerReplica {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range podsPerWriter {
					name := fmt.Sprintf("r%d-w%d-p%d", r, w, i)
					key := "/pods/ns/" + name
					out := &example.Pod{}
					if err := s.Create(ctx, key, &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}, out, 0); err != nil {
						t.Errorf("create %s: %v", key, err)
						return
					}
					record(out)
					out = &example.Pod{}
					if err := s.GuaranteedUpdate(ctx, key, out, false, nil, storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
						obj.(*example.Pod).Labels = map[string]string{"updated": "true"}
						return obj, nil
					}), nil); err != nil {
						t.Errorf("update %s: %v", key, err)
						return
					}
					record(out)
					out = &example.Pod{}
					counter := fmt.Sprintf("counter-%d", (w+i)%counters)
					if err := s.GuaranteedUpdate(ctx, "/pods/ns/"+counter, out, true, nil, storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
						pod := obj.(*example.Pod)
						n, _ := strconv.Atoi(pod.Annotations["n"])
						pod.Name, pod.Namespace = counter, "ns"
						pod.Annotations = map[string]string{"n": strconv.Itoa(n + 1)}
						return pod, nil
					}), nil); err != nil {
						t.Errorf("bump counter: %v", err)
						return
					}
					record(out)
					if i%2 == 0 {
						out = &example.Pod{}
						if err := s.Delete(ctx, key, out, nil, storage.ValidateAllObjectFunc, nil, storage.DeleteOptions{}); err != nil {
							t.Errorf("delete %s: %v", key, err)
							return
						}
						record(out)
					}
				}
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sort.Slice(written, func(i, j int) bool { return written[i] < written[j] })
	for i := 1; i < len(written); i++ {
		if written[i] == written[i-1] {
			t.Fatalf("two writes got resourceVersion %d", written[i])
		}
	}

	// The counters add up to the number of bumps: no update was lost to a conflict.
	total := 0
	for c := range counters {
		counter := &example.Pod{}
		if err := stores[1].Get(ctx, fmt.Sprintf("/pods/ns/counter-%d", c), storage.GetOptions{}, counter); err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(counter.Annotations["n"])
		if err != nil {
			t.Fatalf("counter-%d: %v", c, err)
		}
		total += n
	}
	if want := replicas * writersPerReplica * podsPerWriter; total != want {
		t.Errorf("counters add up to %d, want %d", total, want)
	}

	for i, w := range watchers {
		var seen []int64
		timeout := time.After(time.Minute)
		for len(seen) < len(written) {
			select {
			case e, ok := <-w.ResultChan():
				if !ok {
					t.Fatalf("watcher %d closed after %d of %d events", i, len(seen), len(written))
				}
				if e.Type == watch.Error {
					t.Fatalf("watcher %d: error event %v", i, e.Object)
				}
				rv, err := storage.APIObjectVersioner{}.ObjectResourceVersion(e.Object)
				if err != nil {
					t.Fatal(err)
				}
				if n := len(seen); n > 0 && int64(rv) <= seen[n-1] {
					t.Fatalf("watcher %d: resourceVersion %d after %d", i, rv, seen[n-1])
				}
				seen = append(seen, int64(rv))
			case <-timeout:
				t.Fatalf("watcher %d saw %d of %d events", i, len(seen), len(written))
			}
		}
		for j := range written {
			if seen[j] != written[j] {
				t.Fatalf("watcher %d: event %d has resourceVersion %d, the write had %d", i, j, seen[j], written[j])
			}
		}
		select {
		case e := <-w.ResultChan():
			t.Errorf("watcher %d: unexpected extra event %s %v", i, e.Type, e.Object)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestSlowWatcherCatchesUpFromHistory lets a watcher fall far behind the
// tailer: it is dropped from the fan-out and must catch up from the history
// table without losing or repeating an event.
func TestSlowWatcherCatchesUpFromHistory(t *testing.T) {
	ctx, s, _ := testSetup(t)
	list := &example.PodList{}
	if err := s.GetList(ctx, "/pods/", storage.ListOptions{Predicate: storage.Everything, Recursive: true}, list); err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, "/pods/", storage.ListOptions{ResourceVersion: list.ResourceVersion, Predicate: storage.Everything, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	const pods = subscriptionBuffer + resultBuffer + 100
	var last string
	for i := range pods {
		out := &example.Pod{}
		pod := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("p%04d", i)}}
		if err := s.Create(ctx, "/pods/ns/"+pod.Name, pod, out, 0); err != nil {
			t.Fatal(err)
		}
		last = out.ResourceVersion
	}
	var prev uint64
	for i := range pods {
		select {
		case e := <-w.ResultChan():
			pod, ok := e.Object.(*example.Pod)
			if !ok || e.Type != watch.Added || pod.Name != fmt.Sprintf("p%04d", i) {
				t.Fatalf("event %d: %s %v", i, e.Type, e.Object)
			}
			rv, _ := strconv.ParseUint(pod.ResourceVersion, 10, 64)
			if rv <= prev {
				t.Fatalf("event %d: resourceVersion %d after %d", i, rv, prev)
			}
			prev = rv
		case <-time.After(30 * time.Second):
			t.Fatalf("got %d of %d events", i, pods)
		}
	}
	if strconv.FormatUint(prev, 10) != last {
		t.Fatalf("last event at %d, last write at %s", prev, last)
	}
}

// newSharedDatabasePool opens another pool on pool's database, as a second
// apiserver replica would.
func newSharedDatabasePool(t testing.TB, pool *pgxpool.Pool) *pgxpool.Pool {
	t.Helper()
	other, err := NewPool(context.Background(), pool.Config().ConnString(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	return other
}
