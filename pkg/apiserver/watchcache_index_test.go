package apiserver

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/storage"
	storagemetrics "k8s.io/apiserver/pkg/storage/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/registry/catalog/catalogtemplate"
	"github.com/streamspace/controlplane/pkg/registry/stream/session"
	"github.com/streamspace/controlplane/pkg/storage/postgres"
)

// TestSelectiveListsUseTheWatchCacheIndex runs lists and watches through
// the registry of a namespaced kind (Sessions) and a cluster-scoped one
// (CatalogTemplates) built as the server builds them: on Postgres, behind
// the apiserver's watch cache. Every list's result is checked against what
// the test wrote, and the watch cache's own count of the objects it read to
// answer it (apiserver_storage_list_fetched_objects_total, by index) shows
// which index answered: a list requiring one value of an indexed field reads
// exactly the objects in scope that hold the value, as the index has them
// after creates, updates that change the value, and deletes; a list the
// index cannot answer (!=, labels only) reads every object in scope and is
// still right. Watches selecting one value of the trigger field, and ones
// selecting != it, see exactly the changes that concern them.
func TestSelectiveListsUseTheWatchCacheIndex(t *testing.T) {
	ctx := context.Background()
	// A list that finds the watch cache re-initializing (its reflector
	// re-listing the storage) fails this test; the reflector says why only
	// at V(4), so log that for the length of the test, and a failed run's
	// output names the cause.
	var verbosity flag.FlagSet
	klog.InitFlags(&verbosity)
	if err := verbosity.Set("vmodule", "reflector=4"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = verbosity.Set("vmodule", "") })
	storagemetrics.Register()
	backend, _ := newTestBackend(ctx, t, postgres.BackendOptions{ProgressNotifyInterval: time.Second})
	optsGetter := restOptionsGetter{decorator: backend.StorageDecorator(storageTables(), true)}

	sessions, _, err := session.NewREST(Scheme, optsGetter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sessions.Destroy)
	templates, _, err := catalogtemplate.NewREST(Scheme, optsGetter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(templates.Destroy)

	kinds := []*indexedKind{
		{
			store: sessions.Store, field: "spec.user", other: "spec.template",
			namespaces: []string{"team-a", "team-b"},
			newObject: func(namespace, name, value, other string, lbls map[string]string) runtime.Object {
				return &stream.Session{
					ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: lbls},
					Spec:       stream.SessionSpec{User: value, Template: other},
				}
			},
			setValue: func(obj runtime.Object, value string) { obj.(*stream.Session).Spec.User = value },
			setOther: func(obj runtime.Object, other string) { obj.(*stream.Session).Spec.Template = other },
		},
		{
			store: templates.Store, field: "spec.category", other: "spec.repository",
			namespaces: []string{""},
			newObject: func(_, name, value, other string, lbls map[string]string) runtime.Object {
				return &catalog.CatalogTemplate{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
					Spec:       catalog.CatalogTemplateSpec{Category: value, Repository: other},
				}
			},
			setValue: func(obj runtime.Object, value string) { obj.(*catalog.CatalogTemplate).Spec.Category = value },
			setOther: func(obj runtime.Object, other string) { obj.(*catalog.CatalogTemplate).Spec.Repository = other },
		},
	}
	for _, k := range kinds {
		t.Run(k.store.DefaultQualifiedResource.String(), func(t *testing.T) {
			if first := k.store.PredicateFunc(labels.Everything(), fields.Everything()).IndexFields; len(first) == 0 || first[0] != k.field {
				t.Fatalf("the test selects on %s, which is not the first indexed field (the trigger): IndexFields %v", k.field, first)
			}
			k.objects = map[string]runtime.Object{}
			k.waitReady(ctx, t)
			for i := range 120 {
				k.create(ctx, t, k.namespaces[(i/3)%len(k.namespaces)], fmt.Sprintf("obj-%03d", i),
					indexValue(i%6), otherValue(i%4), map[string]string{"app": []string{"a", "b"}[i%2]})
			}
			k.checkLists(ctx, t, "after creates")

			// Watches from now on: one requires value 3 (dispatched by
			// the trigger), the other excludes it (dispatched to all).
			rv := k.currentRV(ctx, t)
			equal := k.watch(ctx, t, k.field+"="+indexValue(3), rv)
			notEqual := k.watch(ctx, t, k.field+"!="+indexValue(3), rv)
			v3 := k.named(indexValue(3))
			v4 := k.named(indexValue(4))
			k.create(ctx, t, k.namespaces[0], "new-3", indexValue(3), otherValue(0), nil)
			k.create(ctx, t, k.namespaces[0], "new-4", indexValue(4), otherValue(0), nil)
			k.update(ctx, t, v4[0], func(obj runtime.Object) { k.setValue(obj, indexValue(3)) })
			k.update(ctx, t, v3[0], func(obj runtime.Object) { k.setValue(obj, indexValue(4)) })
			k.update(ctx, t, v3[1], func(obj runtime.Object) { k.setOther(obj, otherValue(3)) })
			k.remove(ctx, t, v3[2])
			k.create(ctx, t, k.namespaces[0], "sentinel-3", indexValue(3), otherValue(0), nil)
			k.create(ctx, t, k.namespaces[0], "sentinel-4", indexValue(4), otherValue(0), nil)
			expectEvents(t, equal, "sentinel-3", []string{
				"ADDED new-3", "ADDED " + objName(v4[0]), "DELETED " + objName(v3[0]),
				"MODIFIED " + objName(v3[1]), "DELETED " + objName(v3[2]), "ADDED sentinel-3",
			})
			expectEvents(t, notEqual, "sentinel-4", []string{
				"ADDED new-4", "DELETED " + objName(v4[0]), "ADDED " + objName(v3[0]), "ADDED sentinel-4",
			})
			k.checkLists(ctx, t, "after updates and deletes")
		})
	}
}

func indexValue(i int) string { return "value-" + strconv.Itoa(i) }

func otherValue(i int) string { return "other-" + strconv.Itoa(i) }

// indexedKind is a kind under test: field is its trigger, other another
// indexed field; the test keeps every object it wrote in objects.
type indexedKind struct {
	store      *genericregistry.Store
	field      string
	other      string
	namespaces []string // {""} for a cluster-scoped kind
	newObject  func(namespace, name, value, other string, labels map[string]string) runtime.Object
	setValue   func(obj runtime.Object, value string)
	setOther   func(obj runtime.Object, other string)
	objects    map[string]runtime.Object // by key
}

func (k *indexedKind) requestContext(ctx context.Context, namespace string) context.Context {
	if namespace == "" {
		return ctx
	}
	return genericapirequest.WithNamespace(ctx, namespace)
}

func (k *indexedKind) key(ctx context.Context, t *testing.T, obj runtime.Object) string {
	m := mustMeta(t, obj)
	key, err := k.store.KeyFunc(k.requestContext(ctx, m.GetNamespace()), m.GetName())
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// waitReady waits until the watch cache answers lists (it refuses them
// with 429 until its first list of the storage).
// waitReady waits until the watch cache itself is initialized. A list that
// succeeds does not show it: until the process-wide check that the storage
// supports progress requests has run (in the background, started by the
// first store), the cache hands consistent lists to the storage even while
// it is initializing, and once the check is done, a list that finds it
// still initializing fails ("storage is (re)initializing").
func (k *indexedKind) waitReady(ctx context.Context, t *testing.T) {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, wait.ForeverTestTimeout, true, func(ctx context.Context) (bool, error) {
		if k.store.Storage.Storage.ReadinessCheck() != nil {
			return false, nil
		}
		_, err := k.store.List(ctx, &metainternalversion.ListOptions{FieldSelector: fields.OneTermEqualSelector(k.field, "none")})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("the watch cache of %s does not answer lists: %v", k.store.DefaultQualifiedResource, err)
	}
}

func (k *indexedKind) create(ctx context.Context, t *testing.T, namespace, name, value, other string, lbls map[string]string) {
	t.Helper()
	obj := k.newObject(namespace, name, value, other, lbls)
	out := k.store.New()
	key := k.key(ctx, t, obj)
	if err := k.store.Storage.Storage.Create(ctx, key, obj, out, 0); err != nil {
		t.Fatalf("create %s: %v", key, err)
	}
	k.objects[key] = out
}

func (k *indexedKind) update(ctx context.Context, t *testing.T, obj runtime.Object, change func(runtime.Object)) {
	t.Helper()
	key := k.key(ctx, t, obj)
	out := k.store.New()
	err := k.store.Storage.Storage.GuaranteedUpdate(ctx, key, out, false, nil, storage.SimpleUpdate(func(current runtime.Object) (runtime.Object, error) {
		change(current)
		return current, nil
	}), nil)
	if err != nil {
		t.Fatalf("update %s: %v", key, err)
	}
	k.objects[key] = out
}

func (k *indexedKind) remove(ctx context.Context, t *testing.T, obj runtime.Object) {
	t.Helper()
	key := k.key(ctx, t, obj)
	if err := k.store.Storage.Storage.Delete(ctx, key, k.store.New(), nil, storage.ValidateAllObjectFunc, nil, storage.DeleteOptions{}); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
	delete(k.objects, key)
}

// named returns the objects whose field holds value, by key.
func (k *indexedKind) named(value string) []runtime.Object {
	pred := k.store.PredicateFunc(labels.Everything(), fields.OneTermEqualSelector(k.field, value))
	var out []runtime.Object
	for _, key := range sortedKeys(k.objects) {
		if ok, _ := pred.Matches(k.objects[key]); ok {
			out = append(out, k.objects[key])
		}
	}
	return out
}

func (k *indexedKind) currentRV(ctx context.Context, t *testing.T) string {
	list, err := k.store.List(ctx, &metainternalversion.ListOptions{FieldSelector: fields.OneTermEqualSelector(k.field, "none")})
	if err != nil {
		t.Fatal(err)
	}
	m, err := meta.ListAccessor(list)
	if err != nil {
		t.Fatal(err)
	}
	return m.GetResourceVersion()
}

// listCase is one list: its selectors, and the index the watch cache must
// answer it from ("" for none).
type listCase struct {
	label, field string
	index        string
}

// checkLists lists with each selector in each scope, consistently, at
// resourceVersion 0, not older than the current resourceVersion, and in
// pages: the result must be what the test wrote, and the watch cache must
// have read exactly the objects in scope that the index has for the value
// (or all objects in scope, when no index answers).
func (k *indexedKind) checkLists(ctx context.Context, t *testing.T, when string) {
	t.Helper()
	indexName := storage.FieldIndex(k.field)
	cases := []listCase{
		{field: k.field + "=" + indexValue(3), index: indexName},
		{field: k.field + "=" + indexValue(5), index: indexName},
		{field: k.field + "!=" + indexValue(3), index: ""},
		{field: k.field + "=" + indexValue(3) + "," + k.other + "=" + otherValue(1), index: indexName},
		{field: k.other + "=" + otherValue(1) + "," + k.field + "=" + indexValue(3), index: indexName},
		{label: "app=a", field: k.field + "=" + indexValue(3), index: indexName},
		{label: "app=a", index: ""},
		{field: k.field + "=" + indexValue(99), index: indexName},
	}
	scopes := slices.Clone(k.namespaces)
	if scopes[0] != "" {
		scopes = append(scopes, "") // all namespaces
	}
	for _, scope := range scopes {
		for _, c := range cases {
			lsel, err := labels.Parse(c.label)
			if err != nil {
				t.Fatal(err)
			}
			fsel, err := fields.ParseSelector(c.field)
			if err != nil {
				t.Fatal(err)
			}
			want := k.expected(scope, lsel, fsel)
			fetched := k.inScopeHolding(scope, c.index, fsel)
			rv := k.currentRV(ctx, t)
			for _, opts := range []metainternalversion.ListOptions{
				{LabelSelector: lsel, FieldSelector: fsel},
				{LabelSelector: lsel, FieldSelector: fsel, ResourceVersion: "0"},
				{LabelSelector: lsel, FieldSelector: fsel, ResourceVersion: rv, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan},
				{LabelSelector: lsel, FieldSelector: fsel, Limit: 4},
			} {
				what := fmt.Sprintf("%s: list in %q, labels %q, fields %q, resourceVersion %q, limit %d", when, scope, c.label, c.field, opts.ResourceVersion, opts.Limit)
				before := k.fetched(t)
				got := k.list(ctx, t, scope, opts)
				if !slices.Equal(got, want) {
					t.Errorf("%s: got %v, want %v", what, got, want)
				}
				after := k.fetched(t)
				if opts.Limit > 0 {
					// Only the first page is answered from the index; the
					// next ones continue from a snapshot, or from Postgres.
					if c.index != "" && after[c.index]-before[c.index] != float64(fetched) {
						t.Errorf("%s: the first page read %v objects from watch-cache index %q, want %d", what, after[c.index]-before[c.index], c.index, fetched)
					}
					continue
				}
				for index := range indexNames(before, after, c.index) {
					want := 0.0
					if index == c.index {
						want = float64(fetched)
					}
					if got := after[index] - before[index]; got != want {
						t.Errorf("%s: the watch cache read %v objects through index %q, want %v", what, got, index, want)
					}
				}
			}
		}
	}
}

// expected are the keys of the objects in scope that the selectors select.
func (k *indexedKind) expected(scope string, lsel labels.Selector, fsel fields.Selector) []string {
	pred := k.store.PredicateFunc(lsel, fsel)
	var keys []string
	for _, key := range sortedKeys(k.objects) {
		obj := k.objects[key]
		if ok, _ := pred.Matches(obj); ok && inScope(obj, scope) {
			keys = append(keys, nsName(obj))
		}
	}
	return keys
}

// inScopeHolding counts the objects in scope that index holds for the
// value fsel requires of the indexed field: with no index, all of them.
func (k *indexedKind) inScopeHolding(scope, index string, fsel fields.Selector) int {
	pred := k.store.PredicateFunc(labels.Everything(), fields.Everything())
	value, _ := fsel.RequiresExactMatch(k.field)
	n := 0
	for _, obj := range k.objects {
		_, set, _ := pred.GetAttrs(obj)
		if inScope(obj, scope) && (index == "" || set[k.field] == value) {
			n++
		}
	}
	return n
}

func inScope(obj runtime.Object, scope string) bool {
	m, _ := meta.Accessor(obj)
	return scope == "" || m.GetNamespace() == scope
}

// list lists through the registry, page after page when opts has a limit,
// and returns namespace/name of each item in order.
func (k *indexedKind) list(ctx context.Context, t *testing.T, scope string, opts metainternalversion.ListOptions) []string {
	t.Helper()
	var got []string
	for {
		list, err := k.store.List(k.requestContext(ctx, scope), &opts)
		if err != nil {
			t.Fatalf("list %+v: %v", opts, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range items {
			got = append(got, nsName(item))
		}
		m, err := meta.ListAccessor(list)
		if err != nil {
			t.Fatal(err)
		}
		if opts.Limit == 0 || m.GetContinue() == "" {
			return got
		}
		opts.Continue = m.GetContinue()
		opts.ResourceVersion = ""
	}
}

// fetched is, by index, how many objects the watch cache of the kind has
// read to answer lists.
func (k *indexedKind) fetched(t *testing.T) map[string]float64 {
	gr := k.store.DefaultQualifiedResource
	values, err := testutil.GetCounterValuesFromGatherer(legacyregistry.DefaultGatherer, "apiserver_storage_list_fetched_objects_total",
		map[string]string{"group": gr.Group, "resource": gr.Resource, "storage": storagemetrics.StorageBackendWatchCache}, "index")
	if err != nil {
		t.Fatalf("read the watch cache's list metrics: %v", err)
	}
	return values
}

func (k *indexedKind) watch(ctx context.Context, t *testing.T, selector, rv string) watch.Interface {
	t.Helper()
	fsel, err := fields.ParseSelector(selector)
	if err != nil {
		t.Fatal(err)
	}
	w, err := k.store.Watch(ctx, &metainternalversion.ListOptions{FieldSelector: fsel, ResourceVersion: rv})
	if err != nil {
		t.Fatalf("watch %s: %v", selector, err)
	}
	t.Cleanup(w.Stop)
	return w
}

// expectEvents reads w until the ADDED event of last and checks the events
// were exactly want ("TYPE name").
func expectEvents(t *testing.T, w watch.Interface, last string, want []string) {
	t.Helper()
	var got []string
	timeout := time.After(wait.ForeverTestTimeout)
	for !slices.Contains(got, "ADDED "+last) {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("the watch ended after %v, want %v", got, want)
			}
			if ev.Type == watch.Bookmark {
				continue
			}
			if ev.Type == watch.Error {
				t.Fatalf("watch error %v after %v", ev.Object, got)
			}
			got = append(got, string(ev.Type)+" "+objName(ev.Object))
		case <-timeout:
			t.Fatalf("no ADDED %s in %s: got %v, want %v", last, wait.ForeverTestTimeout, got, want)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("watch events: got %v, want %v", got, want)
	}
}

func indexNames(a, b map[string]float64, also string) map[string]bool {
	out := map[string]bool{also: true}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func sortedKeys(m map[string]runtime.Object) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func mustMeta(t *testing.T, obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func objName(obj runtime.Object) string {
	m, _ := meta.Accessor(obj)
	return m.GetName()
}

func nsName(obj runtime.Object) string {
	m, _ := meta.Accessor(obj)
	return m.GetNamespace() + "/" + m.GetName()
}
