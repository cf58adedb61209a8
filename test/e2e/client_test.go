package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	informers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
)

func TestPaginatedListThroughTheAggregator(t *testing.T) {
	ctx := context.Background()
	admin, _ := clients(t, "admin")
	ns := "bob"
	const n = 25
	for i := 0; i < n; i++ {
		_, err := admin.StreamV1alpha1().Sessions(ns).Create(ctx, &streamv1alpha1.Session{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("page-%02d", i), Labels: map[string]string{"test": "pagination"}},
			Spec:       streamv1alpha1.SessionSpec{Template: "firefox", User: "bob"},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	first, err := admin.StreamV1alpha1().Sessions(ns).List(ctx, metav1.ListOptions{LabelSelector: "test=pagination", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	// A write between pages must not show up in the snapshot.
	if _, err := admin.StreamV1alpha1().Sessions(ns).Create(ctx, &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "page-late", Labels: map[string]string{"test": "pagination"}},
		Spec:       streamv1alpha1.SessionSpec{Template: "firefox", User: "bob"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Nor a delete of an object on a later page: the continuations, at the
	// first page's resourceVersion, still list it.
	last := fmt.Sprintf("page-%02d", n-1)
	if err := admin.StreamV1alpha1().Sessions(ns).Delete(ctx, last, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	pages := 0
	list := first
	for {
		pages++
		for _, s := range list.Items {
			if seen[s.Name] {
				t.Errorf("%s listed twice", s.Name)
			}
			seen[s.Name] = true
		}
		if list.Continue == "" {
			break
		}
		if list.ResourceVersion != first.ResourceVersion {
			t.Errorf("page %d at resourceVersion %s, first page at %s", pages, list.ResourceVersion, first.ResourceVersion)
		}
		list, err = admin.StreamV1alpha1().Sessions(ns).List(ctx, metav1.ListOptions{LabelSelector: "test=pagination", Limit: 10, Continue: list.Continue})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != n || seen["page-late"] || !seen[last] || pages != 3 {
		t.Errorf("listed %d sessions in %d pages (late create listed: %v, %s deleted after the first page listed: %v), want %d in 3 pages as of the first", len(seen), pages, seen["page-late"], last, seen[last], n)
	}
	// The delete did happen: the latest state no longer has it (or has it
	// on its way out, should a finalizer hold it).
	if got, err := admin.StreamV1alpha1().Sessions(ns).Get(ctx, last, metav1.GetOptions{}); err == nil && got.DeletionTimestamp == nil {
		t.Errorf("%s still exists after its delete", last)
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

func TestWatchDeliversEveryChange(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice, _ := clients(t, "alice")
	sessions := alice.StreamV1alpha1().Sessions("alice")
	list, err := sessions.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := sessions.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, FieldSelector: "metadata.name=watched"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	s, err := sessions.Create(ctx, &streamv1alpha1.Session{ObjectMeta: metav1.ObjectMeta{Name: "watched"}, Spec: streamv1alpha1.SessionSpec{Template: "firefox"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Spec.State = streamv1alpha1.SessionStateHibernated
	if _, err := sessions.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := sessions.Delete(ctx, "watched", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []watch.EventType{watch.Added, watch.Modified, watch.Deleted}
	var lastRV uint64
	for i, typ := range want {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed after %d events", i)
			}
			obj, isSession := ev.Object.(*streamv1alpha1.Session)
			if ev.Type != typ || !isSession || obj.Name != "watched" {
				t.Fatalf("event %d = %s %T, want %s of session watched", i, ev.Type, ev.Object, typ)
			}
			if i == 1 && obj.Spec.State != streamv1alpha1.SessionStateHibernated {
				t.Errorf("MODIFIED event carries state %q", obj.Spec.State)
			}
			rv, err := strconv.ParseUint(obj.ResourceVersion, 10, 64)
			if err != nil || rv <= lastRV {
				t.Errorf("resourceVersion went from %d to %q", lastRV, obj.ResourceVersion)
			}
			lastRV = rv
		case <-ctx.Done():
			t.Fatalf("no %s event", typ)
		}
	}
}

// A client-go informer at default settings must sync and follow changes:
// this is what every controller (ours and kube-controller-manager's
// garbage collector) does against the aggregated API.
func TestInformerSyncsAndFollows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice, _ := clients(t, "alice")
	factory := informers.NewSharedInformerFactoryWithOptions(alice, 0, informers.WithNamespace("alice"))
	informer := factory.Stream().V1alpha1().Sessions().Informer()
	var mu sync.Mutex
	events := map[string]int{}
	informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			mu.Lock()
			events["add/"+obj.(*streamv1alpha1.Session).Name]++
			mu.Unlock()
		},
		DeleteFunc: func(obj interface{}) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			mu.Lock()
			events["delete/"+obj.(*streamv1alpha1.Session).Name]++
			mu.Unlock()
		},
	})
	factory.Start(ctx.Done())
	defer func() {
		cancel() // the informers stop when their context ends; Shutdown waits for that
		factory.Shutdown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		t.Fatal("informer did not sync")
	}
	if _, err := alice.StreamV1alpha1().Sessions("alice").Create(ctx, &streamv1alpha1.Session{ObjectMeta: metav1.ObjectMeta{Name: "informed"}, Spec: streamv1alpha1.SessionSpec{Template: "vscode"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := alice.StreamV1alpha1().Sessions("alice").Delete(ctx, "informed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the informer to see the session come and go", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return events["add/informed"] == 1 && events["delete/informed"] == 1, fmt.Errorf("events so far: %v", events)
	})
}
