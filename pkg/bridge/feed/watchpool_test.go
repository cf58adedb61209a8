package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
)

// scriptedListWatch is the API side of a shared watch, scripted: each List
// and Watch call takes the next answer and records the resource version it
// was asked for. The informer, the reflector and the feed are the real ones.
type scriptedListWatch struct {
	t       *testing.T
	mu      sync.Mutex
	lists   []*streamv1alpha1.SessionList
	watches []*watch.FakeWatcher
	listRVs []string
	watchRV []string
	watchCh chan *watch.FakeWatcher // each watch, once the reflector has it
}

func (s *scriptedListWatch) List(_ context.Context, o metav1.ListOptions) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listRVs = append(s.listRVs, o.ResourceVersion)
	if len(s.lists) == 0 {
		return nil, fmt.Errorf("unexpected list %d", len(s.listRVs))
	}
	l := s.lists[0]
	s.lists = s.lists[1:]
	return l.DeepCopy(), nil
}

func (s *scriptedListWatch) Watch(_ context.Context, o metav1.ListOptions) (watch.Interface, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchRV = append(s.watchRV, o.ResourceVersion)
	if len(s.watches) == 0 {
		return nil, fmt.Errorf("unexpected watch %d", len(s.watchRV))
	}
	w := s.watches[0]
	s.watches = s.watches[1:]
	s.watchCh <- w
	return w, nil
}

func session(name, rv string) *streamv1alpha1.Session {
	return &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "alice", ResourceVersion: rv},
		Spec:       streamv1alpha1.SessionSpec{User: "alice", Template: "firefox", State: "running"},
	}
}

func scriptedSessionList(rv string, items ...*streamv1alpha1.Session) *streamv1alpha1.SessionList {
	l := &streamv1alpha1.SessionList{ListMeta: metav1.ListMeta{ResourceVersion: rv}}
	for _, s := range items {
		l.Items = append(l.Items, *s)
	}
	return l
}

// testClient is a feed client without a connection: its queue is what the
// client would receive.
func testClient(buffer int) *wsClient {
	return &wsClient{feed: "sessions", queue: make(chan outgoing, buffer), done: make(chan struct{}), maxQueuedBytes: 1 << 40}
}

// nextChange reads the client's queue until a session_change, skipping
// snapshots; ok is false when none comes (the test then fails).
func nextMessage(t *testing.T, c *wsClient) map[string]any {
	t.Helper()
	select {
	case m := <-c.queue:
		var msg map[string]any
		if err := json.Unmarshal(m.data, &msg); err != nil {
			t.Fatalf("decode %s: %v", m.data, err)
		}
		return msg
	case <-time.After(10 * time.Second):
		t.Fatal("no message from the feed within 10s")
		return nil
	}
}

// changesUntil collects session_change messages ("change name@rv") until
// want of them have arrived.
func changesUntil(t *testing.T, c *wsClient, want int) []string {
	t.Helper()
	var got []string
	for len(got) < want {
		msg := nextMessage(t, c)
		if msg["type"] != "session_change" {
			continue
		}
		s := msg["session"].(map[string]any)
		got = append(got, fmt.Sprintf("%s %s@%s", msg["change"], s["name"], s["resourceVersion"]))
	}
	return got
}

// A watch that breaks resumes from the last resource version it delivered;
// a 410 Gone makes the informer relist, and the relist is announced as
// exactly what changed meanwhile: no duplicate of what the client has, no
// gap (the deletion seen only by the relist is announced too).
func TestSharedWatchResumesAndRelistsWithoutDuplicateOrGap(t *testing.T) {
	broken := watch.NewFakeWithChanSize(10, false)
	gone := watch.NewFakeWithChanSize(10, false)
	live := watch.NewFakeWithChanSize(10, false)
	api := &scriptedListWatch{
		t: t,
		lists: []*streamv1alpha1.SessionList{
			scriptedSessionList("10", session("a", "5"), session("b", "6")),
			// after the 410: a unchanged since the client saw it, b deleted,
			// c modified and d added while no watch was open
			scriptedSessionList("15", session("a", "11"), session("c", "14"), session("d", "13")),
		},
		watches: []*watch.FakeWatcher{broken, gone, live},
		watchCh: make(chan *watch.FakeWatcher, 3),
	}
	pool := &watchPool{watches: map[watchKey]*sharedWatch{}, listWatch: func(*identity.Caller, watchResource, string, string) (cache.ListerWatcher, runtime.Object, error) {
		return listThenWatch{&cache.ListWatch{ListWithContextFunc: api.List, WatchFuncWithContext: api.Watch}}, &streamv1alpha1.Session{}, nil
	}}
	defer pool.stopAll()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shared, release, err := pool.acquire(ctx, &identity.Caller{}, sessionsResource, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	client := testClient(1000)
	defer client.close(1000, "")
	feed := newSessionFeed(client, "", "")
	registration, err := shared.informer.AddEventHandler(feed)
	if err != nil {
		t.Fatal(err)
	}
	go feed.run(registration.HasSyncedChecker().Done(), shared, time.Millisecond)

	first := nextMessage(t, client)
	if first["type"] != "sessions_update" || first["count"].(float64) != 2 {
		t.Fatalf("first message %v, want the snapshot of a and b", first)
	}
	<-api.watchCh
	broken.Modify(session("a", "11"))
	broken.Add(session("c", "12"))
	if got := changesUntil(t, client, 2); strings.Join(got, ",") != "modified a@11,added c@12" {
		t.Fatalf("changes on the first watch: %v", got)
	}
	broken.Stop() // the connection breaks

	<-api.watchCh
	gone.Error(&metav1.Status{Status: metav1.StatusFailure, Code: http.StatusGone, Reason: metav1.StatusReasonExpired, Message: "too old resource version: 12 (13)"})

	<-api.watchCh
	got := changesUntil(t, client, 3)
	sort.Strings(got)
	if want := "added d@13,deleted b@6,modified c@14"; strings.Join(got, ",") != want {
		t.Errorf("changes announced by the relist: %v, want %s", got, want)
	}
	live.Modify(session("d", "16"))
	if got := changesUntil(t, client, 1); got[0] != "modified d@16" {
		t.Errorf("change on the watch after the relist: %v, want modified d@16 (a@11 must not be announced again)", got)
	}

	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.watchRV) < 3 || api.watchRV[0] != "10" || api.watchRV[1] != "12" || api.watchRV[2] != "15" {
		t.Errorf("watches started at resource versions %v, want 10 (the list), 12 (resumed after the last event), 15 (the relist)", api.watchRV)
	}
	if len(api.listRVs) != 2 {
		t.Errorf("%d lists, want 2 (the first and the relist after 410)", len(api.listRVs))
	}
}
