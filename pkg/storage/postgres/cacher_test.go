package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3kubernetes "go.etcd.io/etcd/client/v3/kubernetes"
	"k8s.io/apimachinery/pkg/api/apitesting"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/storage"
	cacherstorage "k8s.io/apiserver/pkg/storage/cacher"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	"k8s.io/apiserver/pkg/storage/value"
	"k8s.io/apiserver/pkg/storage/value/encrypt/identity"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/tools/cache"
	featuregatetesting "k8s.io/component-base/featuregate/testing"
)

// The upstream conformance suite again, with the store behind the
// apiserver's watch cache (Cacher + CacheDelegator), the way
// k8s.io/apiserver/pkg/storage/cacher/cacher_test.go runs it over etcd3.
// The tests cacher_test.go leaves out (its TODO(#109831) ones) and the ones
// that reach into the Cacher's unexported fields are listed in docs/storage.md.

// cachedPodAttrs are the example Pod's labels and selectable fields, as in cacher_test.go.
func cachedPodAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	pod, ok := obj.(*example.Pod)
	if !ok {
		return nil, nil, fmt.Errorf("not a pod")
	}
	return labels.Set(pod.Labels), fields.Set{
		"spec.nodeName":      pod.Spec.NodeName,
		"spec.restartPolicy": string(pod.Spec.RestartPolicy),
		"status.phase":       string(pod.Status.Phase),
		"metadata.name":      pod.Name,
		"metadata.namespace": pod.Namespace,
	}, nil
}

type cacherSetupOptions struct {
	clusterScoped bool
	indexers      bool
	transformer   value.Transformer
}

type cacherSetupOption func(*cacherSetupOptions)

func withClusterScopedKeys(o *cacherSetupOptions) { o.clusterScoped = true }

// withCacherTransformer stores the objects through t instead of the
// identity transformer.
func withCacherTransformer(t value.Transformer) cacherSetupOption {
	return func(o *cacherSetupOptions) { o.transformer = t }
}

// withNodeNameAndNamespaceIndex mirrors the pod indexers of cacher_test.go.
func withNodeNameAndNamespaceIndex(o *cacherSetupOptions) { o.indexers = true }

// cachedStore is a store behind the watch cache, with what the tests need to reach.
type cachedStore struct {
	*cacherstorage.CacheDelegator
	cacher   *cacherstorage.Cacher
	raw      *store
	backend  *Backend
	recorder *storagetesting.KubernetesRecorder
}

// newTestCacher puts a fresh store of example Pods under /registry/pods/
// behind a Cacher configured like cacher_test.go's testSetupWithEtcdServer:
// one injected list error (so the relist path runs), the pod indexers on
// request, and a wait until the cache is ready.
func newTestCacher(t *testing.T, opts ...cacherSetupOption) (context.Context, *cachedStore) {
	t.Helper()
	o := cacherSetupOptions{transformer: identity.NewEncryptCheckTransformer()}
	for _, opt := range opts {
		opt(&o)
	}
	const resourcePrefix = "/pods/"
	codec := examplev1Codec()
	b := newTestBackend(t, newTestPool(t), BackendOptions{ProgressNotifyInterval: time.Second})
	raw := b.newStore(ObjectsTable, codec, newPod, newPodList, resourcePrefix, cachedPodAttrs,
		WithTransformer(o.transformer),
		WithGroupResource(schema.GroupResource{Resource: "pods"}),
		WithPathPrefix("/registry"))
	// Record page reads the way the etcd3 tests record etcd List calls, so
	// RunTestList can check which lists the cache delegates to the storage.
	recorder := storagetesting.NewKubernetesRecorder(noopKubernetesClient{})
	raw.observeListPage = func(ctx context.Context, rangeStart string, revision, limit int64) {
		_, _ = recorder.List(ctx, rangeStart, clientv3kubernetes.ListOptions{Revision: revision, Limit: limit})
	}
	announceWatchProgressSupport()

	listErrors := 1
	if clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient) {
		listErrors = 0 // the reflector watches instead of listing
	}
	wrapped := &storagetesting.StorageInjectingListErrors{Interface: raw, Errors: listErrors}

	keyFunc := func(obj runtime.Object) (string, error) { return storage.NamespaceKeyFunc(resourcePrefix, obj) }
	if o.clusterScoped {
		keyFunc = func(obj runtime.Object) (string, error) { return storage.NoNamespaceKeyFunc(resourcePrefix, obj) }
	}
	var indexerFuncs storage.IndexerFuncs
	indexers := cache.Indexers{}
	if o.indexers {
		indexerFuncs = storage.IndexerFuncs{"spec.nodeName": func(obj runtime.Object) string {
			if pod, ok := obj.(*example.Pod); ok {
				return pod.Spec.NodeName
			}
			return ""
		}}
		indexers = cache.Indexers{
			"f:spec.nodeName":      func(obj interface{}) ([]string, error) { return []string{obj.(*example.Pod).Spec.NodeName}, nil },
			"f:metadata.namespace": func(obj interface{}) ([]string, error) { return []string{obj.(*example.Pod).Namespace}, nil },
		}
	}
	cacher, err := cacherstorage.NewCacherFromConfig(cacherstorage.Config{
		Storage:             wrapped,
		Versioner:           storage.APIObjectVersioner{},
		GroupResource:       schema.GroupResource{Resource: "pods"},
		EventsHistoryWindow: cacherstorage.DefaultEventFreshDuration,
		ResourcePrefix:      resourcePrefix,
		KeyFunc:             keyFunc,
		GetAttrsFunc:        cachedPodAttrs,
		NewFunc:             newPod,
		NewListFunc:         newPodList,
		IndexerFuncs:        indexerFuncs,
		Indexers:            &indexers,
		Codec:               codec,
	})
	if err != nil {
		t.Fatalf("create cacher: %v", err)
	}
	ctx := context.Background()
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return wrapped.ErrorsConsumed()
	}); err != nil {
		t.Fatalf("the cacher did not list through the injected error: %v", err)
	}
	if err := cacher.Wait(ctx); err != nil {
		t.Fatalf("wait for the watch cache: %v", err)
	}
	delegator := cacherstorage.NewCacheDelegator(cacher, wrapped)
	t.Cleanup(func() {
		delegator.Stop()
		cacher.Stop()
	})
	return ctx, &cachedStore{CacheDelegator: delegator, cacher: cacher, raw: raw, backend: b, recorder: recorder}
}

// compactCached compacts the database like compactStorage, then waits until
// the watch cache has seen it (its compactor polls CompactRevision), as
// cacher_test.go's compactStore does.
func (c *cachedStore) compaction() storagetesting.Compaction {
	compact := compactStorage(c.backend)
	return func(ctx context.Context, t *testing.T, resourceVersion string) {
		compact(ctx, t, resourceVersion)
		rv, err := storage.APIObjectVersioner{}.ParseResourceVersion(resourceVersion)
		if err != nil {
			t.Fatal(err)
		}
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			return c.CompactRevision() >= int64(rv), nil
		}); err != nil {
			t.Fatalf("the watch cache did not see compaction at %d: %v", rv, err)
		}
	}
}

// createAndWait is cacher_test.go's createWrapper: Create, then wait until
// the watch cache serves the new object.
type createAndWait struct {
	*cachedStore
}

func (c createAndWait) Create(ctx context.Context, key string, obj, out runtime.Object, ttl uint64) error {
	if err := c.cachedStore.Create(ctx, key, obj, out, ttl); err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, wait.ForeverTestTimeout, true, func(ctx context.Context) (bool, error) {
		current := newPod()
		if err := c.cachedStore.Get(ctx, key, storage.GetOptions{ResourceVersion: "0"}, current); err != nil {
			if storage.IsNotFound(err) {
				return false, nil
			}
			return false, err
		}
		return apiequality.Semantic.DeepEqual(current, out), nil
	})
}

// noopKubernetesClient stands behind the recorder: only the recording matters.
type noopKubernetesClient struct {
	clientv3kubernetes.Interface
}

func (noopKubernetesClient) List(context.Context, string, clientv3kubernetes.ListOptions) (clientv3kubernetes.ListResponse, error) {
	return clientv3kubernetes.ListResponse{}, nil
}

func examplev1Codec() runtime.Codec {
	return apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)
}

func noCacherInvariants(context.Context, *testing.T, string) {}

func noCacherCallsCheck(*testing.T, uint64, uint64) {}

func TestCacherCreate(t *testing.T) {
	ctx, c := newTestCacher(t)
	storagetesting.RunTestCreate(ctx, t, c, noCacherInvariants)
}

func TestCacherCreateWithKeyExist(t *testing.T) {
	ctx, c := newTestCacher(t)
	storagetesting.RunTestCreateWithKeyExist(ctx, t, c)
}

func TestCacherGet(t *testing.T) {
	ctx, c := newTestCacher(t)
	storagetesting.RunTestGet(ctx, t, c)
}

func TestCacherDeletes(t *testing.T) {
	for name, run := range map[string]func(context.Context, *testing.T, storage.Interface){
		"UnconditionalDelete":                        storagetesting.RunTestUnconditionalDelete,
		"ConditionalDelete":                          storagetesting.RunTestConditionalDelete,
		"DeleteWithSuggestion":                       storagetesting.RunTestDeleteWithSuggestion,
		"DeleteWithSuggestionAndConflict":            storagetesting.RunTestDeleteWithSuggestionAndConflict,
		"DeleteWithSuggestionOfDeletedObject":        storagetesting.RunTestDeleteWithSuggestionOfDeletedObject,
		"ValidateDeletionWithSuggestion":             storagetesting.RunTestValidateDeletionWithSuggestion,
		"ValidateDeletionWithOnlySuggestionValid":    storagetesting.RunTestValidateDeletionWithOnlySuggestionValid,
		"DeleteWithConflict":                         storagetesting.RunTestDeleteWithConflict,
		"PreconditionalDeleteWithSuggestion":         storagetesting.RunTestPreconditionalDeleteWithSuggestion,
		"PreconditionalDeleteWithOnlySuggestionPass": storagetesting.RunTestPreconditionalDeleteWithOnlySuggestionPass,
	} {
		t.Run(name, func(t *testing.T) {
			ctx, c := newTestCacher(t)
			run(ctx, t, c)
		})
	}
}

// Unsafe deletes through the watch cache: the cache hands the store its copy
// of the object as a suggestion, which an unsafe delete must not trust.
func TestCacherUnsafeDeletes(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.AllowUnsafeMalformedObjectDeletion, true)
	t.Run("DeleteWithConflictAndExpectedTransformError", func(t *testing.T) {
		transformer := &failingTransformer{Transformer: identity.NewEncryptCheckTransformer()}
		ctx, c := newTestCacher(t, withCacherTransformer(transformer))
		storagetesting.RunTestDeleteExpectedTransformOrDecodeError(ctx, t, c, transformer.setFailing)
	})
	t.Run("DeleteWithConflictAndMissingExpectedTransformOrDecodeError", func(t *testing.T) {
		transformer := &failingTransformer{Transformer: identity.NewEncryptCheckTransformer()}
		ctx, c := newTestCacher(t, withCacherTransformer(transformer))
		storagetesting.RunTestDeleteWithConflictAndMissingExpectedTransformOrDecodeError(ctx, t, c, transformer.setFailing)
	})
	t.Run("DeleteWithSuggestionAndMissingExpectedTransformOrDecodeError", func(t *testing.T) {
		ctx, c := newTestCacher(t)
		storagetesting.RunTestDeleteWithSuggestionAndMissingExpectedTransformOrDecodeError(ctx, t, c)
	})
}

func TestCacherListPaging(t *testing.T) {
	ctx, c := newTestCacher(t)
	storagetesting.RunTestListPaging(ctx, t, c)
}

func TestCacherLists(t *testing.T) {
	for _, listFromCacheSnapshot := range []bool{true, false} {
		t.Run(fmt.Sprintf("ListFromCacheSnapshot=%v", listFromCacheSnapshot), func(t *testing.T) {
			featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.ListFromCacheSnapshot, listFromCacheSnapshot)
			t.Run("List", func(t *testing.T) {
				ctx, c := newTestCacher(t)
				// The test compares the storage's page reads with etcd3's;
				// field selectors pushed down to SQL would read fewer pages.
				c.raw.noFieldPushDown = true
				storagetesting.RunTestList(ctx, t, c, c.compaction(), true, c.recorder)
			})
			t.Run("ConsistentList", func(t *testing.T) {
				ctx, c := newTestCacher(t)
				storagetesting.RunTestConsistentList(ctx, t, c, increaseRVFunc(c.backend), true, true, listFromCacheSnapshot)
			})
			t.Run("GetListNonRecursive", func(t *testing.T) {
				ctx, c := newTestCacher(t)
				storagetesting.RunTestGetListNonRecursive(ctx, t, increaseRVFunc(c.backend), c)
			})
		})
	}
}

func TestCacherCompactRevision(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.ListFromCacheSnapshot, true)
	ctx, c := newTestCacher(t)
	storagetesting.RunTestCompactRevision(ctx, t, c, increaseRVFunc(c.backend), c.compaction())
}

func TestCacherGetListRecursivePrefix(t *testing.T) {
	ctx, c := newTestCacher(t)
	storagetesting.RunTestGetListRecursivePrefix(ctx, t, c)
}

func TestCacherListContinuation(t *testing.T) {
	ctx, c := newTestCacher(t)
	storagetesting.RunTestListContinuation(ctx, t, c, noCacherCallsCheck)
}

func TestCacherListPaginationRareObject(t *testing.T) {
	ctx, c := newTestCacher(t)
	storagetesting.RunTestListPaginationRareObject(ctx, t, c, noCacherCallsCheck)
}

func TestCacherListContinuationWithFilter(t *testing.T) {
	ctx, c := newTestCacher(t)
	storagetesting.RunTestListContinuationWithFilter(ctx, t, c, noCacherCallsCheck)
}

func TestCacherNamespaceScopedList(t *testing.T) {
	ctx, c := newTestCacher(t, withNodeNameAndNamespaceIndex)
	storagetesting.RunTestNamespaceScopedList(ctx, t, c)
}

func TestCacherGuaranteedUpdateWithConflict(t *testing.T) {
	ctx, c := newTestCacher(t)
	storagetesting.RunTestGuaranteedUpdateWithConflict(ctx, t, c)
}

func TestCacherGuaranteedUpdateWithSuggestionAndConflict(t *testing.T) {
	ctx, c := newTestCacher(t)
	storagetesting.RunTestGuaranteedUpdateWithSuggestionAndConflict(ctx, t, c)
}

func TestCacherStats(t *testing.T) {
	for _, sizeBasedListCostEstimate := range []bool{true, false} {
		t.Run(fmt.Sprintf("SizeBasedListCostEstimate=%v", sizeBasedListCostEstimate), func(t *testing.T) {
			featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.SizeBasedListCostEstimate, sizeBasedListCostEstimate)
			ctx, c := newTestCacher(t)
			storagetesting.RunTestStats(ctx, t, c, c.raw.codec, c.raw.transformer, sizeBasedListCostEstimate)
		})
	}
}

func TestCacherKeySchema(t *testing.T) {
	ctx, c := newTestCacher(t)
	storagetesting.RunTestKeySchema(ctx, t, c)
}

func TestCacherWatch(t *testing.T) {
	cases := []struct {
		name  string
		setup []cacherSetupOption
		run   func(context.Context, *testing.T, *cachedStore)
	}{
		{name: "Watch", run: func(ctx context.Context, t *testing.T, c *cachedStore) { storagetesting.RunTestWatch(ctx, t, c) }},
		// Without the compaction step: upstream compacts the watch cache's
		// history through unexported fields (docs/storage.md).
		{name: "WatchFromZero", run: func(ctx context.Context, t *testing.T, c *cachedStore) {
			storagetesting.RunTestWatchFromZero(ctx, t, c, nil)
		}},
		{name: "DeleteTriggerWatch", run: func(ctx context.Context, t *testing.T, c *cachedStore) {
			storagetesting.RunTestDeleteTriggerWatch(ctx, t, c)
		}},
		{name: "WatchFromNonZero", run: func(ctx context.Context, t *testing.T, c *cachedStore) {
			storagetesting.RunTestWatchFromNonZero(ctx, t, c)
		}},
		{name: "DelayedWatchDelivery", run: func(ctx context.Context, t *testing.T, c *cachedStore) {
			storagetesting.RunTestDelayedWatchDelivery(ctx, t, c)
		}},
		{name: "WatcherTimeout", run: func(ctx context.Context, t *testing.T, c *cachedStore) {
			storagetesting.RunTestWatcherTimeout(ctx, t, c)
		}},
		{name: "WatchDeleteEventObjectHaveLatestRV", run: func(ctx context.Context, t *testing.T, c *cachedStore) {
			storagetesting.RunTestWatchDeleteEventObjectHaveLatestRV(ctx, t, c)
		}},
		{name: "WatchInitializationSignal", run: func(ctx context.Context, t *testing.T, c *cachedStore) {
			storagetesting.RunTestWatchInitializationSignal(ctx, t, c)
		}},
		{name: "ClusterScopedWatch", setup: []cacherSetupOption{withClusterScopedKeys, withNodeNameAndNamespaceIndex},
			run: func(ctx context.Context, t *testing.T, c *cachedStore) {
				storagetesting.RunTestClusterScopedWatch(ctx, t, c)
			}},
		{name: "NamespaceScopedWatch", setup: []cacherSetupOption{withNodeNameAndNamespaceIndex},
			run: func(ctx context.Context, t *testing.T, c *cachedStore) {
				storagetesting.RunTestNamespaceScopedWatch(ctx, t, c)
			}},
		{name: "WatchDispatchBookmarkEvents", run: func(ctx context.Context, t *testing.T, c *cachedStore) {
			storagetesting.RunTestWatchDispatchBookmarkEvents(ctx, t, c, true)
		}},
		{name: "WatchBookmarksWithCorrectResourceVersion", run: func(ctx context.Context, t *testing.T, c *cachedStore) {
			storagetesting.RunTestOptionalWatchBookmarksWithCorrectResourceVersion(ctx, t, c)
		}},
		{name: "SendInitialEventsBackwardCompatibility", run: func(ctx context.Context, t *testing.T, c *cachedStore) {
			storagetesting.RunSendInitialEventsBackwardCompatibility(ctx, t, c)
		}},
		{name: "WatchSemantics", run: func(ctx context.Context, t *testing.T, c *cachedStore) {
			storagetesting.RunWatchSemantics(ctx, t, createAndWait{c})
		}},
		{name: "WatchSemanticInitialEventsExtended", run: func(ctx context.Context, t *testing.T, c *cachedStore) {
			storagetesting.RunWatchSemanticInitialEventsExtended(ctx, t, createAndWait{c})
		}},
		{name: "WatchListMatchSingle", run: func(ctx context.Context, t *testing.T, c *cachedStore) {
			storagetesting.RunWatchListMatchSingle(ctx, t, createAndWait{c})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, c := newTestCacher(t, tc.setup...)
			tc.run(ctx, t, c)
		})
	}
}
