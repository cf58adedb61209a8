package postgres

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	"k8s.io/apiserver/pkg/storage"
	cacherstorage "k8s.io/apiserver/pkg/storage/cacher"
)

// TestSnapshotsExactWhileWriting is the storage-level check behind "WatchList
// is exact": a reader started while writers are busy, as an
// apiserver restarted under load is, must only ever show states that existed.
// Writers on one Backend create, update and delete pods; a second Backend
// (the restarted replica), with and without the watch cache in front of its
// store, is started in the middle of the writes and, while they go on, is
// asked for consistent, "0", exact and paged lists and for WatchList streams
// (from "" and NotOlderThan an RV seen earlier). When the writers are done,
// every answer is compared with the history table read directly with SQL,
// the commit log: a list or initial-events snapshot at resourceVersion r
// must hold exactly the objects the log has at r; the events after it must
// be every logged change after r, once each, in increasing order; a bookmark
// at r must come after every change up to r (nothing at or below it later).
func TestSnapshotsExactWhileWriting(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cached bool
	}{
		{name: "raw store", cached: false},
		{name: "behind the Cacher", cached: true},
	} {
		t.Run(tc.name, func(t *testing.T) { runSnapshotsExactWhileWriting(t, tc.cached) })
	}
}

const (
	snapshotWriters      = 8
	snapshotKeysPerWrite = 6   // keys each writer owns
	snapshotOpsPerWriter = 250 // writes per writer
	snapshotWatchLists   = 6   // WatchList streams opened during the writes
)

// podVersion is one object as a reader saw it.
type podVersion struct {
	rv  int64
	gen string // the writer's label: which write this content is
}

// snapshotRead is a list or the initial events of a WatchList.
type snapshotRead struct {
	what  string
	rv    int64
	items map[string]podVersion // namespace/name -> version
}

// streamEvent is a watch event or bookmark after the initial events.
type streamEvent struct {
	typ watch.EventType
	key string
	podVersion
}

type watchListRead struct {
	initial snapshotRead
	events  []streamEvent
	err     error
}

func runSnapshotsExactWhileWriting(t *testing.T, cached bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	codec := examplev1Codec()
	pool := newTestPool(t)
	writerBackend := newTestBackend(t, pool, BackendOptions{})
	writer := writerBackend.newStore(ObjectsTable, codec, newPod, newPodList, "/pods/", cachedPodAttrs, WithPathPrefix("/registry"))

	var gens sync.Map // resourceVersion -> the gen label written at it
	var written atomic.Int64
	writersDone := make(chan struct{})
	var writeErr error
	var writeErrOnce sync.Once
	go func() {
		defer close(writersDone)
		var wg sync.WaitGroup
		for w := range snapshotWriters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := writeRandomly(ctx, writer, w, &gens, &written); err != nil {
					writeErrOnce.Do(func() { writeErr = err })
				}
			}()
		}
		wg.Wait()
	}()

	// The reader replica starts once the writers are well under way.
	for written.Load() < snapshotWriters*10 {
		select {
		case <-writersDone:
			t.Fatalf("the writers ended before the reader started: %v", writeErr)
		case <-time.After(5 * time.Millisecond):
		}
	}
	readerBackend := newTestBackend(t, newSharedDatabasePool(t, pool), BackendOptions{ProgressNotifyInterval: 200 * time.Millisecond})
	rawReader := readerBackend.newStore(ObjectsTable, codec, newPod, newPodList, "/pods/", cachedPodAttrs, WithPathPrefix("/registry"))
	var reader storage.Interface = rawReader
	if cached {
		reader = newCacherOver(t, rawReader)
	}

	var finalRV atomic.Int64
	finalRV.Store(math.MaxInt64)
	var (
		mu      sync.Mutex
		reads   []snapshotRead
		streams []*watchListRead
		readErr []error
	)
	var streamsWG sync.WaitGroup
	startStream := func(rv string) {
		stream := &watchListRead{}
		mu.Lock()
		streams = append(streams, stream)
		mu.Unlock()
		streamsWG.Add(1)
		go func() {
			defer streamsWG.Done()
			readWatchList(ctx, reader, rv, &finalRV, stream)
		}()
	}
	startStream("")
	seenRV := int64(0) // an RV an earlier read returned: for exact and NotOlderThan requests
	for round := 0; ; round++ {
		done := false
		select {
		case <-writersDone:
			done = true
		default:
		}
		if done {
			break
		}
		requests := []struct {
			what string
			opts storage.ListOptions
		}{
			{"consistent list", storage.ListOptions{ResourceVersion: ""}},
			{"list at any RV (\"0\")", storage.ListOptions{ResourceVersion: "0"}},
			{"paged consistent list (limit 5)", storage.ListOptions{Predicate: storage.SelectionPredicate{Limit: 5}}},
		}
		if seenRV > 0 {
			rv := strconv.FormatInt(seenRV, 10)
			requests = append(requests,
				struct {
					what string
					opts storage.ListOptions
				}{"exact list at " + rv, storage.ListOptions{ResourceVersion: rv, ResourceVersionMatch: metav1.ResourceVersionMatchExact}},
				struct {
					what string
					opts storage.ListOptions
				}{"list not older than " + rv, storage.ListOptions{ResourceVersion: rv, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan}})
		}
		for _, req := range requests {
			read, err := listPages(ctx, reader, req.what, req.opts)
			mu.Lock()
			if err != nil {
				readErr = append(readErr, err)
			} else {
				reads = append(reads, read)
			}
			mu.Unlock()
			if err == nil && round%3 == 0 {
				seenRV = read.rv
			}
		}
		// WatchList streams start spread over the writes.
		if len(streams) < snapshotWatchLists && written.Load() >= int64(len(streams))*snapshotWriters*snapshotOpsPerWriter/snapshotWatchLists {
			rv := ""
			if len(streams)%2 == 1 && seenRV > 0 {
				rv = strconv.FormatInt(seenRV, 10)
			}
			startStream(rv)
		}
	}
	if writeErr != nil {
		t.Fatalf("write: %v", writeErr)
	}

	log := readCommitLog(ctx, t, writerBackend)
	if len(log) == 0 {
		t.Fatal("nothing was written")
	}
	finalRV.Store(log[len(log)-1].rv)
	streamsWG.Wait()

	for _, err := range readErr {
		t.Errorf("read during the writes: %v", err)
	}
	if len(reads) == 0 {
		t.Fatal("no list was made during the writes")
	}
	for _, read := range reads {
		checkSnapshot(t, read, log, &gens)
	}
	for i, stream := range streams {
		checkStream(t, i, stream, log, &gens)
	}
	t.Logf("%d writes (resourceVersions up to %d); %d lists and %d WatchList streams checked against the commit log",
		len(log), log[len(log)-1].rv, len(reads), len(streams))
}

// writeRandomly makes snapshotOpsPerWriter writes on the writer's own keys:
// a create where the key is absent, otherwise an update or (one in four) a delete.
func writeRandomly(ctx context.Context, s *store, writer int, gens *sync.Map, written *atomic.Int64) error {
	rng := rand.New(rand.NewPCG(uint64(writer), 42))
	exists := make([]bool, snapshotKeysPerWrite)
	for op := range snapshotOpsPerWriter {
		i := rng.IntN(snapshotKeysPerWrite)
		name := fmt.Sprintf("w%d-%d", writer, i)
		key := "/pods/ns/" + name
		gen := fmt.Sprintf("%d/%d", writer, op)
		out := &example.Pod{}
		var err error
		switch {
		case !exists[i]:
			pod := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{"gen": gen}}}
			err = s.Create(ctx, key, pod, out, 0)
			exists[i] = err == nil
		case rng.IntN(4) == 0:
			err = s.Delete(ctx, key, out, nil, storage.ValidateAllObjectFunc, nil, storage.DeleteOptions{})
			exists[i] = err != nil
			gen = ""
		default:
			err = s.GuaranteedUpdate(ctx, key, out, false, nil, func(input runtime.Object, _ storage.ResponseMeta) (runtime.Object, *uint64, error) {
				pod := input.(*example.Pod).DeepCopy()
				pod.Labels = map[string]string{"gen": gen}
				return pod, nil, nil
			}, nil)
		}
		if err != nil {
			return fmt.Errorf("writer %d op %d on %s: %w", writer, op, key, err)
		}
		if gen != "" {
			rv, err := strconv.ParseInt(out.ResourceVersion, 10, 64)
			if err != nil {
				return fmt.Errorf("resourceVersion of %s: %w", key, err)
			}
			gens.Store(rv, gen)
		}
		written.Add(1)
	}
	return nil
}

// newCacherOver puts s behind the apiserver's watch cache the way
// StorageDecorator does, without waiting for it: the first reads race its
// initialisation, as they do in an apiserver that has just started.
func newCacherOver(t *testing.T, s *store) storage.Interface {
	t.Helper()
	announceWatchProgressSupport()
	cacher, err := cacherstorage.NewCacherFromConfig(cacherstorage.Config{
		Storage:             s,
		Versioner:           storage.APIObjectVersioner{},
		GroupResource:       schema.GroupResource{Resource: "pods"},
		EventsHistoryWindow: cacherstorage.DefaultEventFreshDuration,
		ResourcePrefix:      "/pods/",
		KeyFunc:             func(obj runtime.Object) (string, error) { return storage.NamespaceKeyFunc("/pods/", obj) },
		GetAttrsFunc:        cachedPodAttrs,
		NewFunc:             newPod,
		NewListFunc:         newPodList,
		Codec:               s.codec,
	})
	if err != nil {
		t.Fatalf("create cacher: %v", err)
	}
	delegator := cacherstorage.NewCacheDelegator(cacher, s)
	t.Cleanup(func() {
		delegator.Stop()
		cacher.Stop()
	})
	return delegator
}

// logEntry is one row of the history table.
type logEntry struct {
	rv    int64
	key   string // namespace/name
	event watch.EventType
}

// readCommitLog reads the history table with SQL: the order in which the
// writes committed, independent of the watch and list code under test.
func readCommitLog(ctx context.Context, t *testing.T, b *Backend) []logEntry {
	t.Helper()
	rows, err := b.pool.Query(ctx, `SELECT rv, key, event FROM history ORDER BY rv`)
	if err != nil {
		t.Fatalf("read history: %v", err)
	}
	defer rows.Close()
	var log []logEntry
	for rows.Next() {
		var e logEntry
		var key, event string
		if err := rows.Scan(&e.rv, &key, &event); err != nil {
			t.Fatalf("read history: %v", err)
		}
		e.key = strings.TrimPrefix(key, "/registry/pods/")
		e.event = watch.EventType(event)
		log = append(log, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read history: %v", err)
	}
	return log
}

// stateAt replays the log up to rv: the objects that existed at rv.
func stateAt(log []logEntry, rv int64) map[string]int64 {
	state := map[string]int64{}
	for _, e := range log {
		if e.rv > rv {
			break
		}
		if e.event == watch.Deleted {
			delete(state, e.key)
		} else {
			state[e.key] = e.rv
		}
	}
	return state
}

func checkSnapshot(t *testing.T, read snapshotRead, log []logEntry, gens *sync.Map) {
	t.Helper()
	want := stateAt(log, read.rv)
	var diffs []string
	for key, rv := range want {
		got, ok := read.items[key]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s@%d missing", key, rv))
		case got.rv != rv:
			diffs = append(diffs, fmt.Sprintf("%s@%d instead of @%d", key, got.rv, rv))
		}
	}
	for key, got := range read.items {
		if _, ok := want[key]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s@%d present, absent at that RV", key, got.rv))
		}
		if gen, ok := gens.Load(got.rv); ok && gen != got.gen {
			diffs = append(diffs, fmt.Sprintf("%s@%d holds write %q, not %q", key, got.rv, got.gen, gen))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		t.Errorf("%s at resourceVersion %d is not the state at %d: %s", read.what, read.rv, read.rv, strings.Join(diffs, "; "))
	}
}

func checkStream(t *testing.T, i int, stream *watchListRead, log []logEntry, gens *sync.Map) {
	t.Helper()
	name := fmt.Sprintf("stream %d, %s", i, stream.initial.what)
	if stream.err != nil {
		t.Errorf("%s: %v", name, stream.err)
		return
	}
	checkSnapshot(t, snapshotRead{what: name, rv: stream.initial.rv, items: stream.initial.items}, log, gens)
	// The events must be exactly the logged changes after the snapshot, in
	// order; a bookmark at r promises that nothing at or below r follows.
	var want []logEntry
	for _, e := range log {
		if e.rv > stream.initial.rv {
			want = append(want, e)
		}
	}
	floor := stream.initial.rv // no event may come at or below it
	next := 0
	for _, e := range stream.events {
		if e.typ == watch.Bookmark {
			if e.rv < floor {
				t.Errorf("%s: a bookmark at %d after resourceVersion %d", name, e.rv, floor)
			}
			floor = max(floor, e.rv)
			continue
		}
		if e.rv <= floor {
			t.Errorf("%s: %s %s@%d arrived after resourceVersion %d had been reached (by an event or bookmark)", name, e.typ, e.key, e.rv, floor)
			return
		}
		floor = e.rv
		if next >= len(want) || want[next].rv != e.rv || want[next].key != e.key || want[next].event != e.typ {
			expected := "nothing"
			if next < len(want) {
				expected = fmt.Sprintf("%s %s@%d", want[next].event, want[next].key, want[next].rv)
			}
			t.Errorf("%s: got %s %s@%d, the log has %s next", name, e.typ, e.key, e.rv, expected)
			return
		}
		if gen, ok := gens.Load(e.rv); ok && gen != e.gen {
			t.Errorf("%s: %s@%d holds write %q, not %q", name, e.key, e.rv, e.gen, gen)
		}
		next++
	}
	if next != len(want) {
		t.Errorf("%s: %d of the %d changes after resourceVersion %d arrived; the first missing: %s %s@%d",
			name, next, len(want), stream.initial.rv, want[next].event, want[next].key, want[next].rv)
	}
}
