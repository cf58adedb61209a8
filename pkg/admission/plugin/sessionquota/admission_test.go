package sessionquota

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// TestStoreResourceVersionIsReflectedByTheStore feeds an informer one
// quota per resourceVersion and, right after each is handed to it, reads
// the version its store claims to reflect and then the store: every quota
// up to that version must be in it. A create guarded with a version its
// copy does not reflect would be admitted past a quota it never saw.
func TestStoreResourceVersionIsReflectedByTheStore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := watch.NewFake()
	informer := cache.NewSharedIndexInformer(listWatchWithoutWatchList{&cache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			return &streamv1alpha1.SessionQuotaList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}}, nil
		},
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			return events, nil
		},
	}}, &streamv1alpha1.SessionQuota{}, 0, cache.Indexers{})
	go informer.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		t.Fatal("the informer did not sync")
	}

	// check reads the version the store claims to reflect, then the
	// store: it starts empty at 1 and gains the quota of every version from
	// 2 on, so it must hold seen-1 quotas up to seen.
	check := func(after int) int64 {
		t.Helper()
		seen, ok := storeResourceVersion(informer.GetIndexer())
		if !ok {
			t.Fatalf("after the quota at %d: the store reports no resourceVersion", after)
		}
		held := 0
		for _, obj := range informer.GetIndexer().List() {
			v, err := strconv.ParseInt(obj.(*streamv1alpha1.SessionQuota).ResourceVersion, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if v <= seen {
				held++
			}
		}
		if want := int(seen - 1); held != want {
			t.Fatalf("after the quota at %d the store claims %d but holds %d of the %d quotas up to it", after, seen, held, want)
		}
		return seen
	}
	const last = 2000
	for rv := 2; rv <= last; rv++ {
		events.Add(&streamv1alpha1.SessionQuota{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("q-%d", rv), ResourceVersion: strconv.Itoa(rv),
		}})
		check(rv)
	}
	// The store catches up with the last quota: the version is not just
	// held back.
	if err := wait.PollUntilContextTimeout(ctx, time.Millisecond, wait.ForeverTestTimeout, true, func(context.Context) (bool, error) {
		return check(last) == last, nil
	}); err != nil {
		t.Fatalf("the store never claimed the last quota's version %d: %v", last, err)
	}
}

// listWatchWithoutWatchList lists, then watches: the fake watch sends no
// initial events, so the reflector must not ask for them.
type listWatchWithoutWatchList struct{ *cache.ListWatch }

func (listWatchWithoutWatchList) IsWatchListSemanticsUnSupported() bool { return true }
