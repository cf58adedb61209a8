package e2e

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// WatchList (sendInitialEvents=true) through the aggregator, opened on a
// streamspace-apiserver that has just restarted while alice keeps writing,
// is exact: the initial events are the state at the resourceVersion of the
// k8s.io/initial-events-end bookmark, and the events after it are the later
// changes, in increasing resourceVersion order. Checked against alice's own
// writes and the versions the API returned for them: a write at or below
// the bookmark's version is in the initial state (at that version or a
// later one, as the session controller writes status too), one above it
// arrives as an event with its version, and nothing arrives at or below a
// version the stream has already passed.
func TestWatchListAcrossAPIServerRestartIsExact(t *testing.T) {
	ss, _ := clients(t, "alice")
	sessions := ss.StreamV1alpha1().Sessions("alice")
	prefix := uniqueName("exact")
	const objects = 4

	var (
		mu     sync.Mutex
		writes []exactWrite // acknowledged writes, in the order they were acknowledged
	)
	write := func(ctx context.Context, i int) error {
		name := fmt.Sprintf("%s-%d", prefix, i%objects)
		var s *streamv1alpha1.Session
		var err error
		if i < objects {
			s, err = sessions.Create(ctx, &streamv1alpha1.Session{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: streamv1alpha1.SessionSpec{Template: "firefox"}}, metav1.CreateOptions{})
		} else {
			s, err = sessions.Patch(ctx, name, types.MergePatchType, fmt.Appendf(nil, `{"spec":{"tags":["write-%d"]}}`, i), metav1.PatchOptions{})
		}
		if err != nil {
			return err
		}
		rv, err := strconv.ParseInt(s.ResourceVersion, 10, 64)
		if err != nil {
			return err
		}
		mu.Lock()
		writes = append(writes, exactWrite{name: name, rv: rv, tag: i})
		mu.Unlock()
		return nil
	}
	t.Cleanup(func() {
		for i := range objects {
			_ = sessions.Delete(context.Background(), fmt.Sprintf("%s-%d", prefix, i), metav1.DeleteOptions{})
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := range objects + 4 {
		if err := write(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	beforeRestart := writes[len(writes)-1].rv

	// Alice keeps writing while the server restarts; writes refused while
	// it is down are not counted (their outcome is unknown to her).
	stopWriting := make(chan struct{})
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		for i := objects + 4; ; i++ {
			select {
			case <-stopWriting:
				return
			case <-time.After(20 * time.Millisecond):
			}
			_ = write(ctx, i)
		}
	}()
	if err := stack.RestartStreamspace(ctx); err != nil {
		t.Fatal(err)
	}

	// Four streams: at once, from "now" and from the version seen before
	// the restart (what an informer resuming asks for), 0.3 s and 6 s later.
	var streams []*exactStream
	var wg sync.WaitGroup
	open := func(rv string) {
		s := &exactStream{from: rv}
		streams = append(streams, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.read(ctx, t, sessions, prefix)
		}()
	}
	open("")
	open(strconv.FormatInt(beforeRestart, 10))
	time.Sleep(300 * time.Millisecond)
	open("")
	// Past the storage's 5 s progress notifications, so the watch cache has
	// moved on bookmarks too, not only on events, when the last one opens.
	time.Sleep(5500 * time.Millisecond)
	open("")
	time.Sleep(500 * time.Millisecond)
	close(stopWriting)
	<-writing
	// One last acknowledged write: every stream reads on until it has it.
	if err := write(ctx, 1000000); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	final := writes[len(writes)-1].rv
	mu.Unlock()
	for _, s := range streams {
		s.until.Store(final)
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d acknowledged writes (%d after the restart began), resourceVersions %d..%d", len(writes), len(writes)-objects-4, writes[0].rv, final)
	for _, s := range streams {
		s.check(t, writes)
	}
}

type exactWrite struct {
	name string
	rv   int64
	tag  int
}

type exactEvent struct {
	typ  watch.EventType
	name string
	rv   int64
}

// exactStream is one WatchList request and what it delivered.
type exactStream struct {
	from     string
	until    atomicInt64
	attempts int
	initial  map[string]int64 // name -> resourceVersion (alice's sessions of this test)
	endRV    int64            // the initial-events-end bookmark's resourceVersion
	events   []exactEvent     // after the bookmark, every session (and bookmarks)
	err      error
}

type atomicInt64 struct {
	mu sync.Mutex
	v  int64
}

func (a *atomicInt64) Store(v int64) { a.mu.Lock(); a.v = v; a.mu.Unlock() }
func (a *atomicInt64) Load() int64   { a.mu.Lock(); defer a.mu.Unlock(); return a.v }

// read opens the WatchList (again while the server answers 503/429 or ends
// the stream before the bookmark, as client-go would) and reads until it
// has passed the version in until.
func (s *exactStream) read(ctx context.Context, t *testing.T, sessions interface {
	Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
}, prefix string) {
	for {
		s.attempts++
		s.initial, s.endRV, s.events = map[string]int64{}, 0, nil
		opts := metav1.ListOptions{SendInitialEvents: ptrTo(true), AllowWatchBookmarks: true, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, ResourceVersion: s.from}
		w, err := sessions.Watch(ctx, opts)
		if err == nil {
			err = s.consume(ctx, w, prefix)
			w.Stop()
		}
		if err == nil {
			return
		}
		retriable := s.endRV == 0 && (apierrors.IsServiceUnavailable(err) || apierrors.IsTooManyRequests(err) || apierrors.IsTimeout(err) || errStreamEnded(err))
		if !retriable || ctx.Err() != nil {
			s.err = err
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type streamEndedError struct{ at int64 }

func (e streamEndedError) Error() string {
	return fmt.Sprintf("the stream ended at resourceVersion %d", e.at)
}

func errStreamEnded(err error) bool { _, ok := err.(streamEndedError); return ok }

func (s *exactStream) consume(ctx context.Context, w watch.Interface, prefix string) error {
	last := int64(0)
	for {
		if until := s.until.Load(); until > 0 && last >= until {
			return nil
		}
		var event watch.Event
		var ok bool
		select {
		case event, ok = <-w.ResultChan():
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
			continue
		}
		if !ok {
			return streamEndedError{at: last}
		}
		if event.Type == watch.Error {
			return apierrors.FromObject(event.Object)
		}
		m, err := meta.Accessor(event.Object)
		if err != nil {
			return err
		}
		rv, err := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
		if err != nil {
			return fmt.Errorf("%s event resourceVersion %q: %w", event.Type, m.GetResourceVersion(), err)
		}
		ours := strings.HasPrefix(m.GetName(), prefix+"-")
		switch {
		case s.endRV == 0 && event.Type == watch.Bookmark && m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true":
			s.endRV, last = rv, rv
		case s.endRV == 0 && event.Type == watch.Added:
			if ours {
				s.initial[m.GetName()] = rv
			}
		case s.endRV == 0 && event.Type == watch.Bookmark:
		case s.endRV == 0:
			return fmt.Errorf("a %s event for %s@%d before the end of the initial events", event.Type, m.GetName(), rv)
		default:
			e := exactEvent{typ: event.Type, rv: rv}
			if event.Type != watch.Bookmark {
				e.name = m.GetName()
			}
			s.events = append(s.events, e)
			last = max(last, rv)
		}
	}
}

func (s *exactStream) check(t *testing.T, writes []exactWrite) {
	t.Helper()
	what := fmt.Sprintf("WatchList from %q (attempt %d)", s.from, s.attempts)
	if s.err != nil {
		t.Errorf("%s: %v", what, s.err)
		return
	}
	t.Logf("%s: initial state at resourceVersion %d, %d events after it", what, s.endRV, len(s.events))
	var problems []string
	for name, rv := range s.initial {
		if rv > s.endRV {
			problems = append(problems, fmt.Sprintf("initial %s@%d is newer than the bookmark", name, rv))
		}
	}
	// Versions only go up after the bookmark, bookmarks included.
	floor := s.endRV
	eventAt := map[int64]exactEvent{}
	for _, e := range s.events {
		if e.typ == watch.Bookmark {
			if e.rv < floor {
				problems = append(problems, fmt.Sprintf("a bookmark at %d after %d", e.rv, floor))
			}
			floor = max(floor, e.rv)
			continue
		}
		if e.rv <= floor {
			problems = append(problems, fmt.Sprintf("%s %s@%d after the stream had passed %d", e.typ, e.name, e.rv, floor))
		}
		floor = max(floor, e.rv)
		eventAt[e.rv] = e
	}
	// Every acknowledged write is where its version puts it.
	for _, w := range writes {
		if w.rv <= s.endRV {
			if got, ok := s.initial[w.name]; !ok || got < w.rv {
				problems = append(problems, fmt.Sprintf("write %d (%s@%d) is at or below the bookmark but the initial state has %s@%d", w.tag, w.name, w.rv, w.name, got))
			}
			continue
		}
		if e, ok := eventAt[w.rv]; !ok || e.name != w.name {
			problems = append(problems, fmt.Sprintf("write %d (%s@%d) is after the bookmark but no event carries it", w.tag, w.name, w.rv))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Errorf("%s, initial events ended at resourceVersion %d: %s", what, s.endRV, strings.Join(problems, "; "))
	}
}

func ptrTo[T any](v T) *T { return &v }
