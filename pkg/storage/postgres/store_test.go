package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/storage"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	featuregatetesting "k8s.io/component-base/featuregate/testing"
)

// The upstream storage conformance suite (k8s.io/apiserver/pkg/storage/testing),
// run the way etcd3's store_test.go runs it. Tests that cannot apply are listed,
// with the reason, in docs/storage.md.

func TestCreate(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestCreate(ctx, t, store, checkStorageInvariants(store))
}

func TestCreateWithTTL(t *testing.T) {
	t.Skip("TTL is an etcd lease feature; this storage ignores ttl (docs/storage.md)")
}

func TestCreateWithKeyExist(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestCreateWithKeyExist(ctx, t, store)
}

func TestGet(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGet(ctx, t, store)
}

func TestUnconditionalDelete(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestUnconditionalDelete(ctx, t, store)
}

func TestConditionalDelete(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestConditionalDelete(ctx, t, store)
}

func TestDeleteWithSuggestion(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestDeleteWithSuggestion(ctx, t, store)
}

func TestDeleteWithSuggestionAndConflict(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestDeleteWithSuggestionAndConflict(ctx, t, store)
}

func TestDeleteWithSuggestionOfDeletedObject(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestDeleteWithSuggestionOfDeletedObject(ctx, t, store)
}

func TestValidateDeletionWithSuggestion(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestValidateDeletionWithSuggestion(ctx, t, store)
}

func TestValidateDeletionWithOnlySuggestionValid(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestValidateDeletionWithOnlySuggestionValid(ctx, t, store)
}

func TestDeleteWithConflict(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestDeleteWithConflict(ctx, t, store)
}

func TestPreconditionalDeleteWithSuggestion(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestPreconditionalDeleteWithSuggestion(ctx, t, store)
}

func TestPreconditionalDeleteWithSuggestionPass(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestPreconditionalDeleteWithOnlySuggestionPass(ctx, t, store)
}

func TestDeleteWithSuggestionAndMissingExpectedTransformOrDecodeFailure(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.AllowUnsafeMalformedObjectDeletion, true)
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestDeleteWithSuggestionAndMissingExpectedTransformOrDecodeError(ctx, t, store)
}

func TestDeleteWithConflictAndMissingExpectedTransformOrDecodeError(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.AllowUnsafeMalformedObjectDeletion, true)
	codec := newFailingCodec()
	ctx, store, _ := testSetup(t, withCodec(codec))
	storagetesting.RunTestDeleteWithConflictAndMissingExpectedTransformOrDecodeError(ctx, t, store, codec.setFailing)
}

func TestDeleteWithConflictAndExpectedTransformError(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.AllowUnsafeMalformedObjectDeletion, true)
	transformer := newFailingTransformer()
	ctx, store, _ := testSetup(t, withTransformer(transformer))
	storagetesting.RunTestDeleteExpectedTransformOrDecodeError(ctx, t, store, transformer.setFailing)
}

func TestDeleteWithConflictAndExpectedDecodeError(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.AllowUnsafeMalformedObjectDeletion, true)
	codec := newFailingCodec()
	ctx, store, _ := testSetup(t, withCodec(codec))
	storagetesting.RunTestDeleteExpectedTransformOrDecodeError(ctx, t, store, codec.setFailing)
}

// An unsafe delete is refused while the feature is off: the object is read
// as for any delete and its read error stands.
func TestUnsafeDeleteNeedsTheFeature(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.AllowUnsafeMalformedObjectDeletion, false)
	codec := newFailingCodec()
	ctx, store, _ := testSetup(t, withCodec(codec))
	obj := &example.Pod{ObjectMeta: metav1.ObjectMeta{Name: "foo", Namespace: "test-ns"}}
	key := "/pods/test-ns/foo"
	if err := store.Create(ctx, key, obj, &example.Pod{}, 0); err != nil {
		t.Fatalf("Create: %v", err)
	}
	codec.setFailing(true)
	err := store.Delete(ctx, key, &example.Pod{}, nil, storage.ValidateAllObjectFunc, nil, storage.DeleteOptions{ExpectTransformOrDecodeError: true})
	if err == nil {
		t.Fatal("an unsafe delete with the feature off removed the object")
	}
	codec.setFailing(false)
	if err := store.Get(ctx, key, storage.GetOptions{}, &example.Pod{}); err != nil {
		t.Fatalf("the object is gone after a refused delete: %v", err)
	}
}

// A GET of an object that cannot be read names it as corrupt, which the
// registry answers with a 500 naming the key.
func TestGetOfACorruptObject(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.AllowUnsafeMalformedObjectDeletion, true)
	transformer := newFailingTransformer()
	ctx, store, _ := testSetup(t, withTransformer(transformer), withCorruptObjectHandling())
	key := "/pods/test-ns/foo"
	if err := store.Create(ctx, key, &example.Pod{ObjectMeta: metav1.ObjectMeta{Name: "foo", Namespace: "test-ns"}}, &example.Pod{}, 0); err != nil {
		t.Fatalf("Create: %v", err)
	}
	transformer.setFailing(true)
	err := store.Get(ctx, key, storage.GetOptions{}, &example.Pod{})
	if !storage.IsCorruptObject(err) {
		t.Fatalf("Get: want a corrupt object error, got %v", err)
	}
	var storageErr *storage.StorageError
	if !errors.As(err, &storageErr) || storageErr.Key != key {
		t.Errorf("Get: the error does not name %s: %v", key, err)
	}
	err = store.GuaranteedUpdate(ctx, key, &example.Pod{}, false, nil, storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
		return obj, nil
	}), nil)
	if !storage.IsCorruptObject(err) {
		t.Errorf("GuaranteedUpdate: want a corrupt object error, got %v", err)
	}
}

func TestGetListWithErrorAggregation(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.AllowUnsafeMalformedObjectDeletion, true)
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGetListWithErrorAggregation(ctx, t, &storeWithTransformerOverride{store}, bitsFlipped())
}

func TestGetListWithoutErrorAggregation(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.AllowUnsafeMalformedObjectDeletion, false)
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGetListWithoutErrorAggregation(ctx, t, &storeWithTransformerOverride{store}, bitsFlipped())
}

func TestListPaging(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestListPaging(ctx, t, store)
}

func TestGetListNonRecursive(t *testing.T) {
	ctx, store, b := testSetup(t)
	storagetesting.RunTestGetListNonRecursive(ctx, t, increaseRVFunc(b), store)
}

func TestGetListRecursivePrefix(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGetListRecursivePrefix(ctx, t, store)
}

func TestKeySchema(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestKeySchema(ctx, t, store)
}

func TestGuaranteedUpdate(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGuaranteedUpdate(ctx, t, &storeWithPrefixTransformer{store}, checkStorageInvariants(store))
}

func TestGuaranteedUpdateWithTTL(t *testing.T) {
	t.Skip("TTL is an etcd lease feature; this storage ignores ttl (docs/storage.md)")
}

func TestGuaranteedUpdateChecksStoredData(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGuaranteedUpdateChecksStoredData(ctx, t, &storeWithPrefixTransformer{store})
}

func TestGuaranteedUpdateWithConflict(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGuaranteedUpdateWithConflict(ctx, t, store)
}

func TestGuaranteedUpdateWithSuggestionAndConflict(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestGuaranteedUpdateWithSuggestionAndConflict(ctx, t, store)
}

func TestTransformationFailure(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestTransformationFailure(ctx, t, &storeWithPrefixTransformer{store})
}

func TestList(t *testing.T) {
	ctx, store, b := testSetup(t)
	storagetesting.RunTestList(ctx, t, store, compactStorage(b), false, nil)
}

func TestConsistentList(t *testing.T) {
	ctx, store, b := testSetup(t)
	storagetesting.RunTestConsistentList(ctx, t, store, increaseRVFunc(b), false, true, false)
}

func TestCompactRevision(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.ListFromCacheSnapshot, true)
	ctx, store, b := testSetup(t)
	storagetesting.RunTestCompactRevision(ctx, t, store, increaseRVFunc(b), compactStorage(b))
}

func TestListContinuation(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestListContinuation(ctx, t, store, checkStorageCallsInvariants(store, false))
}

func TestListPaginationRareObject(t *testing.T) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.ListFromCacheSnapshot, false)
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestListPaginationRareObject(ctx, t, store, checkStorageCallsInvariants(store, true))
}

func TestListContinuationWithFilter(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestListContinuationWithFilter(ctx, t, store, checkStorageCallsInvariants(store, false))
}

func TestNamespaceScopedList(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestNamespaceScopedList(ctx, t, store)
}

func TestListInconsistentContinuation(t *testing.T) {
	ctx, store, b := testSetup(t)
	storagetesting.RunTestListInconsistentContinuation(ctx, t, store, compactStorage(b))
}

func TestListResourceVersionMatch(t *testing.T) {
	ctx, store, _ := testSetup(t)
	storagetesting.RunTestListResourceVersionMatch(ctx, t, &storeWithPrefixTransformer{store})
}

func TestStats(t *testing.T) {
	for _, sizeBasedListCostEstimate := range []bool{true, false} {
		t.Run(fmt.Sprintf("SizeBasedListCostEstimate=%v", sizeBasedListCostEstimate), func(t *testing.T) {
			ctx, store, _ := testSetup(t)
			if sizeBasedListCostEstimate {
				keys := func(context.Context) ([]string, error) { return nil, nil }
				if err := store.EnableResourceSizeEstimation(keys); err != nil {
					t.Fatal(err)
				}
			}
			storagetesting.RunTestStats(ctx, t, store, store.codec, store.transformer, sizeBasedListCostEstimate)
		})
	}
}

func TestPathPrefix(t *testing.T) {
	for configured, effective := range map[string]string{
		"custom/prefix":     "/custom/prefix/",
		"/custom//prefix//": "/custom/prefix/",
		"/registry":         "/registry/",
	} {
		_, store, _ := testSetup(t, withPathPrefix(configured))
		if store.pathPrefix != effective {
			t.Errorf("configured prefix %q: effective prefix %q, want %q", configured, store.pathPrefix, effective)
		}
	}
}

func TestInvalidKeys(t *testing.T) {
	const invalidKey = "/foo/bar/../baz"
	expected := fmt.Sprintf("invalid key: %q", invalidKey)
	expectInvalidKey := func(method string, err error) {
		if err == nil || err.Error() != expected {
			t.Errorf("[%s] expected invalid key error; got %v", method, err)
		}
	}
	ctx, store, _ := testSetup(t, withCodec(apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)))
	expectInvalidKey("Create", store.Create(ctx, invalidKey, nil, nil, 0))
	expectInvalidKey("Delete", store.Delete(ctx, invalidKey, nil, nil, nil, nil, storageDeleteOptions))
	_, watchErr := store.Watch(ctx, invalidKey, storageListOptions)
	expectInvalidKey("Watch", watchErr)
	expectInvalidKey("Get", store.Get(ctx, invalidKey, storageGetOptions, nil))
	expectInvalidKey("GetList", store.GetList(ctx, invalidKey, storageListOptions, nil))
	expectInvalidKey("GuaranteedUpdate", store.GuaranteedUpdate(ctx, invalidKey, nil, true, nil, nil, nil))
}
