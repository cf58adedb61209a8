package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	informers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
)

// A plain client-go informer (generated informer factory, default settings:
// WatchList, i.e. the initial state streamed in a watch, is on by default in
// client-go 1.37) open across a restart of streamspace-apiserver must get
// every write made right after the restart, in the order they were made.
// The bridge's feeds avoid WatchList (LIST then WATCH,
// pkg/bridge/watchpool.go) because a feed was seen to miss such writes.
//
// Known (reported to issue 3, storage; docs/bridge.md "Found"): in about 2
// runs of 5 the streamed initial state after the restart holds C but A
// before its patch, which arrives afterwards, out of resource-version
// order. That case is skipped with what was seen unless
// STREAMSPACE_STRICT_WATCHLIST=1; a write never arriving fails always.
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
		mu     sync.Mutex
		events []string
	)
	record := func(kind string, obj any) {
		if s, ok := obj.(*streamv1alpha1.Session); ok {
			mu.Lock()
			events = append(events, fmt.Sprintf("%s %s@%s tags=%v", kind, s.Name, s.ResourceVersion, s.Spec.Tags))
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
	deadline := written.Add(time.Minute)
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
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
	// In order, as a watch promises: B and A's tags before C, which was
	// written after them (a store that only catches up later had a gap).
	mu.Lock()
	defer mu.Unlock()
	sawB, sawTags := false, false
	for _, e := range events {
		switch {
		case strings.HasPrefix(e, "added "+r3+"@"):
			if !sawB || !sawTags {
				msg := fmt.Sprintf("the informer delivered %s before %s (seen: %v) and A's tags (seen: %v); events: %s", r3, r2, sawB, sawTags, strings.Join(events, ", "))
				if os.Getenv("STREAMSPACE_STRICT_WATCHLIST") == "" {
					t.Skip("known (reported to issue 3, storage; docs/bridge.md \"Found\"), STREAMSPACE_STRICT_WATCHLIST=1 fails instead: " + msg)
				}
				t.Error(msg)
			}
			return
		case strings.Contains(e, " "+r2+"@"):
			sawB = true
		case strings.Contains(e, " "+r1+"@") && strings.Contains(e, "after-restart"):
			sawTags = true
		}
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
