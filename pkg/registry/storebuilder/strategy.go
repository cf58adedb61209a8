package storebuilder

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/streamspace/controlplane/pkg/apis/selectable"
)

// Rules say what differs between resources: every resource here has a spec
// written by its users and a status written by controllers, and follows the
// same rules for them.
type Rules[T runtime.Object] struct {
	// APIVersion is the served version, for server-side apply's reset fields.
	APIVersion fieldpath.APIVersion
	Namespaced bool
	// InitStatus sets the status of a new object: users never write status.
	InitStatus func(obj T)
	// CopyStatus sets dst's status to src's; CopySpec likewise for the spec.
	CopyStatus, CopySpec func(dst, src T)
	// SpecEqual tells whether an update changed the spec (a new generation).
	SpecEqual func(a, b T) bool
	// Fields are the selectable fields besides metadata.name and metadata.namespace.
	Fields               selectable.Kind[T]
	Validate             func(obj T) field.ErrorList
	ValidateUpdate       func(obj, old T) field.ErrorList
	ValidateStatusUpdate func(obj, old T) field.ErrorList
	// Prepare, when set, completes an object the request is about to write
	// through the main resource, from the request's context (its user):
	// on create old is the zero T.
	Prepare func(ctx context.Context, obj, old T)
}

// mainStrategy applies Rules to the main resource: the status is kept from storage.
type mainStrategy[T runtime.Object] struct {
	strategyDefaults
	rules Rules[T]
}

func (s mainStrategy[T]) NamespaceScoped() bool { return s.rules.Namespaced }

func (s mainStrategy[T]) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{s.rules.APIVersion: fieldpath.NewSet(fieldpath.MakePathOrDie("status"))}
}

func (s mainStrategy[T]) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	s.rules.InitStatus(obj.(T))
	mustAccessor(obj).SetGeneration(1)
	if s.rules.Prepare != nil {
		var zero T
		s.rules.Prepare(ctx, obj.(T), zero)
	}
}

func (s mainStrategy[T]) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s.rules.CopyStatus(obj.(T), old.(T))
	if !s.rules.SpecEqual(obj.(T), old.(T)) {
		mustAccessor(obj).SetGeneration(mustAccessor(old).GetGeneration() + 1)
	}
	if s.rules.Prepare != nil {
		s.rules.Prepare(ctx, obj.(T), old.(T))
	}
}

func (s mainStrategy[T]) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return s.rules.Validate(obj.(T))
}

func (s mainStrategy[T]) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return s.rules.ValidateUpdate(obj.(T), old.(T))
}

// statusStrategy applies Rules to the status subresource: only status changes.
type statusStrategy[T runtime.Object] struct {
	mainStrategy[T]
}

func (s statusStrategy[T]) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		s.rules.APIVersion: fieldpath.NewSet(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata", "labels")),
	}
}

func (s statusStrategy[T]) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s.rules.CopySpec(obj.(T), old.(T))
	mustAccessor(obj).SetLabels(mustAccessor(old).GetLabels())
}

func (s statusStrategy[T]) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return s.rules.ValidateStatusUpdate(obj.(T), old.(T))
}

// AttrFunc returns the labels and selectable fields of an object, as the
// registry and the storage index need them.
func (r Rules[T]) AttrFunc() storage.AttrFunc {
	return func(obj runtime.Object) (labels.Set, fields.Set, error) {
		o, ok := obj.(T)
		if !ok {
			var want T
			return nil, nil, fmt.Errorf("got %T, want %T", obj, want)
		}
		m := mustAccessor(obj)
		return m.GetLabels(), r.SelectableFields(o), nil
	}
}

// SelectableFields are Fields plus metadata.name (and metadata.namespace).
func (r Rules[T]) SelectableFields(obj T) fields.Set {
	m := mustAccessor(obj)
	set := r.Fields.Set(obj)
	set = generic.MergeFieldsSets(set, fields.Set{"metadata.name": m.GetName()})
	if r.Namespaced {
		set["metadata.namespace"] = m.GetNamespace()
	}
	return set
}

// mustAccessor returns the object metadata; every type served here has it.
func mustAccessor(obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(fmt.Sprintf("%T has no object metadata: %v", obj, err))
	}
	return m
}
