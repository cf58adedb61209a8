package postgres

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	"k8s.io/apiserver/pkg/storage"
)

// TestWatchWokenByOtherReplica writes through one Backend and watches through
// another on the same database. With polling effectively off, only the
// NOTIFY of the writer's commit can wake the watching replica's tailer; with
// the notification lost (the replicas listen on different channels), the
// poll must still deliver the change.
func TestWatchWokenByOtherReplica(t *testing.T) {
	cases := []struct {
		name                        string
		writerChannel, watchChannel string
		watcherPoll                 time.Duration
	}{
		{name: "NOTIFY wakes the other replica", writerChannel: "changes", watchChannel: "changes", watcherPoll: time.Hour},
		{name: "polling delivers when NOTIFY is lost", writerChannel: "changes", watchChannel: "elsewhere", watcherPoll: 100 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			pool := newTestPool(t)
			writer := newTestBackend(t, pool, BackendOptions{NotifyChannel: tc.writerChannel, PollInterval: time.Hour, ProgressNotifyInterval: time.Hour})
			watcher := newTestBackend(t, newSharedDatabasePool(t, pool),
				BackendOptions{NotifyChannel: tc.watchChannel, PollInterval: tc.watcherPoll, ProgressNotifyInterval: time.Hour})
			writeStore := writer.NewStore(ObjectsTable, examplev1Codec(), newPod, newPodList, "/pods/", nil)
			watchStore := watcher.NewStore(ObjectsTable, examplev1Codec(), newPod, newPodList, "/pods/", nil)

			w := watchPodsFromNow(ctx, t, watchStore)
			// Let the watcher's tailer go idle (it reads once when LISTEN starts).
			time.Sleep(200 * time.Millisecond)

			for i, name := range []string{"first", "second", "third"} {
				written := &example.Pod{}
				pod := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
				if err := writeStore.Create(ctx, "/pods/ns/"+name, pod, written, 0); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				select {
				case e := <-w.ResultChan():
					got, ok := e.Object.(*example.Pod)
					if e.Type != watch.Added || !ok || got.Name != name || got.ResourceVersion != written.ResourceVersion {
						t.Fatalf("write %d: got %s %#v, want ADDED %s at %s", i, e.Type, e.Object, name, written.ResourceVersion)
					}
					t.Logf("write %d through one replica seen by a watch on the other after %v", i, time.Since(start))
				case <-ctx.Done():
					t.Fatalf("write %d (%s) never reached the watch on the other replica", i, name)
				}
			}
		})
	}
}

// TestOwnCommitsAfterAnotherReplicasAreNotSkipped has a replica's tailer
// publish its own commits without reading them back, while another replica
// writes in between and its NOTIFY never arrives (the replicas listen on
// different channels, polling is off). The watcher on the first replica must
// still see every write once, in resourceVersion order: a commit of its own
// that does not follow what its tailer published makes it read history, which
// holds the other replica's write before its own.
func TestOwnCommitsAfterAnotherReplicasAreNotSkipped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := newTestPool(t)
	quiet := BackendOptions{PollInterval: time.Hour, ProgressNotifyInterval: time.Hour}
	mineOpts, otherOpts := quiet, quiet
	mineOpts.NotifyChannel, otherOpts.NotifyChannel = "mine", "other"
	mine := newTestBackend(t, pool, mineOpts).NewStore(ObjectsTable, examplev1Codec(), newPod, newPodList, "/pods/", nil)
	other := newTestBackend(t, newSharedDatabasePool(t, pool), otherOpts).NewStore(ObjectsTable, examplev1Codec(), newPod, newPodList, "/pods/", nil)

	w := watchPodsFromNow(ctx, t, mine)

	var want []string
	create := func(s storage.Interface, name string) {
		t.Helper()
		written := &example.Pod{}
		if err := s.Create(ctx, "/pods/ns/"+name, &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}, written, 0); err != nil {
			t.Fatal(err)
		}
		want = append(want, name+"@"+written.ResourceVersion)
	}
	create(mine, "mine-1")
	create(other, "other-1")
	create(other, "other-2")
	create(mine, "mine-2")
	create(mine, "mine-3")
	create(other, "other-3")
	create(mine, "mine-4")

	var got []string
	for len(got) < len(want) {
		select {
		case e := <-w.ResultChan():
			pod, ok := e.Object.(*example.Pod)
			if e.Type != watch.Added || !ok {
				t.Fatalf("got %s %#v, want ADDED pods", e.Type, e.Object)
			}
			got = append(got, pod.Name+"@"+pod.ResourceVersion)
		case <-ctx.Done():
			t.Fatalf("the watch saw %v, want %v", got, want)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the watch saw %v, want %v", got, want)
	}
	select {
	case e := <-w.ResultChan():
		t.Fatalf("an event beyond the writes: %s %#v", e.Type, e.Object)
	case <-time.After(200 * time.Millisecond):
	}
}

// watchPodsFromNow watches every pod of s from the database's current
// resourceVersion, until the test ends.
func watchPodsFromNow(ctx context.Context, t *testing.T, s storage.Interface) watch.Interface {
	t.Helper()
	current, err := s.GetCurrentResourceVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, "/pods/", storage.ListOptions{
		ResourceVersion: strconv.FormatUint(current, 10), Predicate: storage.Everything, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}
