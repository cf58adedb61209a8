// Package storebuilder assembles the REST storage of one resource from its
// strategies, so every resource is wired the same way: a main store with
// short names and categories, and a status subresource.
package storebuilder

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/streamspace/controlplane/pkg/storage/readguard"
)

// Options describe one resource.
type Options[T runtime.Object] struct {
	Resource, Singular schema.GroupResource
	NewFunc            func() runtime.Object
	NewListFunc        func() runtime.Object
	Rules              Rules[T]
	Table              rest.TableConvertor
	ShortNames         []string
	Categories         []string
}

// REST is the main resource.
type REST struct {
	*genericregistry.Store
	shortNames, categories []string
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

// Create stores a new object. Its admission may decide from a cached copy
// of another resource and guard the write with it (package readguard: the
// session-quota plugin does so with its copy of the SessionQuotas); if the
// storage finds the copy stale, nothing was stored and the object is
// admitted again, from consistent reads, and stored then.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	out, err := r.Store.Create(readguard.With(ctx, &readguard.Guard{}), obj, createValidation, options)
	if !readguard.IsStale(err) {
		return out, err
	}
	return r.Store.Create(readguard.With(ctx, &readguard.Guard{Consistent: true}), obj, createValidation, options)
}

// ShortNames implements rest.ShortNamesProvider (kubectl get ss).
func (r *REST) ShortNames() []string { return r.shortNames }

// Categories implements rest.CategoriesProvider (kubectl get streamspace).
func (r *REST) Categories() []string { return r.categories }

// StatusREST serves the status subresource: it only changes status.
type StatusREST struct {
	store *genericregistry.Store
}

// New returns an empty object.
func (r *StatusREST) New() runtime.Object { return r.store.New() }

// Destroy is a no-op: the main store owns the storage.
func (r *StatusREST) Destroy() {}

// Get returns the object, for clients that read the subresource.
func (r *StatusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

// Update changes the status of the object; it never creates one.
func (r *StatusREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

// GetResetFields implements rest.ResetFieldsStrategy for server-side apply.
func (r *StatusREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.store.GetResetFields()
}

// ConvertToTable renders the object like the main resource does.
func (r *StatusREST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, object, tableOptions)
}

// New builds the stores of a resource: the main resource and its status.
func New[T runtime.Object](o Options[T], typer runtime.ObjectTyper, optsGetter generic.RESTOptionsGetter) (*REST, *StatusREST, error) {
	if declared := o.Rules.Fields.Resource; declared != o.Resource {
		// The storage table is chosen by the declaration's resource.
		return nil, nil, fmt.Errorf("selectable fields of %s are declared for %s", o.Resource, declared)
	}
	strategy := mainStrategy[T]{strategyDefaults: strategyDefaults{typer, names.SimpleNameGenerator}, rules: o.Rules}
	attrs := o.Rules.AttrFunc()
	indexes := o.Rules.watchCacheIndexes()
	store := &genericregistry.Store{
		NewFunc:                   o.NewFunc,
		NewListFunc:               o.NewListFunc,
		PredicateFunc:             predicate(attrs, indexes.fields),
		DefaultQualifiedResource:  o.Resource,
		SingularQualifiedResource: o.Singular,
		CreateStrategy:            strategy,
		UpdateStrategy:            strategy,
		DeleteStrategy:            strategy,
		ResetFieldsStrategy:       strategy,
		TableConvertor:            o.Table,
	}
	err := store.CompleteWithOptions(&generic.StoreOptions{
		RESTOptions: optsGetter,
		AttrFunc:    attrs,
		TriggerFunc: indexes.trigger,
		Indexers:    &indexes.indexers,
	})
	if err != nil {
		return nil, nil, err
	}
	statusStore := *store
	status := statusStrategy[T]{strategy}
	statusStore.UpdateStrategy = status
	statusStore.ResetFieldsStrategy = status
	return &REST{Store: store, shortNames: o.ShortNames, categories: o.Categories}, &StatusREST{store: &statusStore}, nil
}

// predicate is the selection of every list and watch of the resource. Its
// IndexFields name the fields the watch cache has indexes of: a selector
// requiring an exact value of one is answered from the index
// (SelectionPredicate.MatcherIndex), and a watch requiring one of the trigger
// is dispatched by it.
func predicate(attrs storage.AttrFunc, indexFields []string) func(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return func(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
		return storage.SelectionPredicate{Label: label, Field: field, GetAttrs: attrs, IndexFields: indexFields}
	}
}
