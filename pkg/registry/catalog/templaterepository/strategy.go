// Package templaterepository holds the REST strategy and storage of TemplateRepositorys.
package templaterepository

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	"github.com/streamspace/controlplane/pkg/apis/catalog/validation"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// templateRepositoryStrategy is how TemplateRepositorys are created and changed through the main
// resource; the status is kept from storage.
type templateRepositoryStrategy struct {
	storebuilder.StrategyDefaults
}

// NewStrategy returns the strategy of the main resource.
func NewStrategy(typer runtime.ObjectTyper) templateRepositoryStrategy {
	return templateRepositoryStrategy{storebuilder.NewStrategyDefaults(typer)}
}

func (templateRepositoryStrategy) NamespaceScoped() bool { return false }

func (templateRepositoryStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"catalog.stream.space/v1alpha1": fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

func (templateRepositoryStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	o := obj.(*catalog.TemplateRepository)
	o.Status = catalog.TemplateRepositoryStatus{Phase: catalog.RepositoryPhasePending}
	o.Generation = 1
}

func (templateRepositoryStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	o, oldO := obj.(*catalog.TemplateRepository), old.(*catalog.TemplateRepository)
	o.Status = oldO.Status
	if !apiequality.Semantic.DeepEqual(o.Spec, oldO.Spec) {
		o.Generation = oldO.Generation + 1
	}
}

func (templateRepositoryStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateTemplateRepository(obj.(*catalog.TemplateRepository))
}

func (templateRepositoryStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateTemplateRepositoryUpdate(obj.(*catalog.TemplateRepository), old.(*catalog.TemplateRepository))
}

// templateRepositoryStatusStrategy is how controllers report: only status changes.
type templateRepositoryStatusStrategy struct {
	templateRepositoryStrategy
}

// NewStatusStrategy returns the strategy of the status subresource.
func NewStatusStrategy(s templateRepositoryStrategy) templateRepositoryStatusStrategy {
	return templateRepositoryStatusStrategy{s}
}

func (templateRepositoryStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"catalog.stream.space/v1alpha1": fieldpath.NewSet(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata", "labels")),
	}
}

func (templateRepositoryStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	o, oldO := obj.(*catalog.TemplateRepository), old.(*catalog.TemplateRepository)
	o.Spec = oldO.Spec
	o.Labels = oldO.Labels
}

func (templateRepositoryStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateTemplateRepositoryStatusUpdate(obj.(*catalog.TemplateRepository), old.(*catalog.TemplateRepository))
}

// GetAttrs returns the labels and selectable fields of a templateRepository.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	o, ok := obj.(*catalog.TemplateRepository)
	if !ok {
		return nil, nil, fmt.Errorf("not a TemplateRepository: %T", obj)
	}
	return o.Labels, SelectableFields(o), nil
}

// SelectableFields are the fields field selectors and the storage index use.
func SelectableFields(o *catalog.TemplateRepository) fields.Set {
	return generic.AddObjectMetaFieldsSet(fields.Set{
		"spec.url":     o.Spec.URL,
		"status.phase": string(o.Status.Phase),
	}, &o.ObjectMeta, false)
}
