package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	informers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
)

// A plain client-go informer (generated informer factory, default settings:
// WatchList, i.e. the initial state streamed in a watch, is on by default in
// client-go 1.37) open across a restart of streamspace-apiserver must get
// every write made right after the restart, and never go back: no object is
// handed out at an older version than one the informer already handed out.
//
// What it must not be asked for (docs/storage.md "WatchList
// after a restart"): the order of B, A's patch and C. The informer's watch
// breaks with the restart (503 from the aggregator while the server is
// down), so it relists, and the relist usually lands after the three writes.
// A relist hands the handlers a state, not a history: client-go collects a
// WatchList's initial events in a temporary map-backed store and replays
// temporaryStore.List(), i.e. Go map order, so C may come first though the
// state holds all three (with LIST+WATCH the list's key order happens to be
// a, b, c). That the streamed state is exact — the state at the bookmark's
// resourceVersion, later changes after it in order — is checked on the wire
// by TestWatchListAcrossAPIServerRestartIsExact.
func TestInformerWithWatchListAcrossAPIServerRestart(t *testing.T) {
	// The informer's own client records its requests, to show it streams
	// (sendInitialEvents=true) rather than lists.
	cfg, err := stack.RESTConfig("alice")
	if err != nil {
		t.Fatal(err)
	}
	var (
		reqMu    sync.Mutex
		requests []string
	)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			reqMu.Lock()
			requests = append(requests, r.Method+" "+r.URL.RequestURI())
			reqMu.Unlock()
			return rt.RoundTrip(r)
		})
	})
	informerClient, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(informerClient, 0, informers.WithNamespace("alice"))
	informer := factory.Stream().V1alpha1().Sessions().Informer()
	var (
		mu       sync.Mutex
		events   []string
		versions = map[string][]*streamv1alpha1.Session{} // name -> what the handlers got, in order
	)
	record := func(kind string, obj any) {
		if s, ok := obj.(*streamv1alpha1.Session); ok {
			mu.Lock()
			events = append(events, fmt.Sprintf("%s %s@%s tags=%v", kind, s.Name, s.ResourceVersion, s.Spec.Tags))
			versions[s.Name] = append(versions[s.Name], s)
			mu.Unlock()
		}
	}
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { record("added", obj) },
		UpdateFunc: func(_, obj any) { record("modified", obj) },
		DeleteFunc: func(obj any) { record("deleted", obj) },
	})
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	if !cache.WaitForCacheSync(stop, informer.HasSynced) {
		t.Fatal("the informer did not sync")
	}

	r1, r2, r3 := uniqueName("watchlist-a"), uniqueName("watchlist-b"), uniqueName("watchlist-c")
	mustKubectl(t, "alice", sessionYAML(r1, "firefox"), "create", "-n", "alice", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, "alice", "", "-n", "alice", "delete", "session", r1, r2, r3, "--ignore-not-found", "--wait=false")
	})
	eventually(t, 30*time.Second, "the informer to see "+r1, func() (bool, error) {
		_, found, err := informer.GetStore().GetByKey("alice/" + r1)
		return found, err
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := stack.RestartStreamspace(ctx); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, "alice", sessionYAML(r2, "firefox"), "create", "-n", "alice", "-f", "-")
	mustKubectl(t, "alice", "", "patch", "-n", "alice", "session", r1, "--type=merge", "-p", `{"spec":{"tags":["after-restart"]}}`)
	mustKubectl(t, "alice", sessionYAML(r3, "firefox"), "create", "-n", "alice", "-f", "-")
	// (the session controller writes status too, so the versions move on:
	// what must be there is the content of these writes)
	missing := func() []string {
		var out []string
		for _, name := range []string{r2, r3} {
			if _, found, _ := informer.GetStore().GetByKey("alice/" + name); !found {
				out = append(out, name+" (created after the restart) absent")
			}
		}
		obj, found, _ := informer.GetStore().GetByKey("alice/" + r1)
		if s, ok := obj.(*streamv1alpha1.Session); !found || !ok || len(s.Spec.Tags) != 1 || s.Spec.Tags[0] != "after-restart" {
			out = append(out, r1+" without the tags patched after the restart")
		}
		return out
	}
	// The informer catches up within milliseconds when it works; a minute
	// bounds the wait for a write it will never see.
	written := time.Now()
	// A timeout is reported below, with what is missing.
	_ = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true,
		func(context.Context) (bool, error) { return len(missing()) == 0, nil })
	reqMu.Lock()
	streamed := 0
	for _, r := range requests {
		if strings.Contains(r, "sendInitialEvents=true") {
			streamed++
		}
	}
	t.Logf("informer requests: %s", strings.Join(requests, " | "))
	reqMu.Unlock()
	if streamed == 0 {
		t.Errorf("the informer never asked for sendInitialEvents=true: WatchList was not used, the test proves nothing")
	}
	if gap := missing(); len(gap) > 0 {
		mu.Lock()
		seen := strings.Join(events, ", ")
		mu.Unlock()
		t.Fatalf("a WatchList informer open across the restart missed writes made after it, for a minute: %s; events it delivered: %s", strings.Join(gap, ", "), seen)
	}
	t.Logf("the informer had every write %s after the last one", time.Since(written).Round(time.Millisecond))
	// Never back: per session, the versions handed out only go up, and A,
	// once handed out with its new tags, is never handed out without them.
	mu.Lock()
	defer mu.Unlock()
	for _, name := range []string{r1, r2, r3} {
		var prev int64
		tagged := false
		for _, s := range versions[name] {
			rv, err := strconv.ParseInt(s.ResourceVersion, 10, 64)
			if err != nil {
				t.Fatalf("%s@%q: %v", name, s.ResourceVersion, err)
			}
			if rv < prev || (tagged && len(s.Spec.Tags) == 0) {
				t.Errorf("the informer went back: %s@%d (tags %v) after @%d; events: %s", name, rv, s.Spec.Tags, prev, strings.Join(events, ", "))
			}
			prev, tagged = rv, tagged || len(s.Spec.Tags) > 0
		}
	}
	t.Logf("events: %s", strings.Join(events, ", "))
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
