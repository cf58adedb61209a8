// Package catalogtemplate holds the REST strategy and storage of CatalogTemplates.
package catalogtemplate

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

// catalogTemplateStrategy is how CatalogTemplates are created and changed through the main
// resource; the status is kept from storage.
type catalogTemplateStrategy struct {
	storebuilder.StrategyDefaults
}

// NewStrategy returns the strategy of the main resource.
func NewStrategy(typer runtime.ObjectTyper) catalogTemplateStrategy {
	return catalogTemplateStrategy{storebuilder.NewStrategyDefaults(typer)}
}

func (catalogTemplateStrategy) NamespaceScoped() bool { return false }

func (catalogTemplateStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"catalog.stream.space/v1alpha1": fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

func (catalogTemplateStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	o := obj.(*catalog.CatalogTemplate)
	o.Status = catalog.CatalogTemplateStatus{}
	o.Generation = 1
}

func (catalogTemplateStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	o, oldO := obj.(*catalog.CatalogTemplate), old.(*catalog.CatalogTemplate)
	o.Status = oldO.Status
	if !apiequality.Semantic.DeepEqual(o.Spec, oldO.Spec) {
		o.Generation = oldO.Generation + 1
	}
}

func (catalogTemplateStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateCatalogTemplate(obj.(*catalog.CatalogTemplate))
}

func (catalogTemplateStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateCatalogTemplateUpdate(obj.(*catalog.CatalogTemplate), old.(*catalog.CatalogTemplate))
}

// catalogTemplateStatusStrategy is how controllers report: only status changes.
type catalogTemplateStatusStrategy struct {
	catalogTemplateStrategy
}

// NewStatusStrategy returns the strategy of the status subresource.
func NewStatusStrategy(s catalogTemplateStrategy) catalogTemplateStatusStrategy {
	return catalogTemplateStatusStrategy{s}
}

func (catalogTemplateStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"catalog.stream.space/v1alpha1": fieldpath.NewSet(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata", "labels")),
	}
}

func (catalogTemplateStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	o, oldO := obj.(*catalog.CatalogTemplate), old.(*catalog.CatalogTemplate)
	o.Spec = oldO.Spec
	o.Labels = oldO.Labels
}

func (catalogTemplateStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateCatalogTemplateStatusUpdate(obj.(*catalog.CatalogTemplate), old.(*catalog.CatalogTemplate))
}

// GetAttrs returns the labels and selectable fields of a catalogTemplate.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	o, ok := obj.(*catalog.CatalogTemplate)
	if !ok {
		return nil, nil, fmt.Errorf("not a CatalogTemplate: %T", obj)
	}
	return o.Labels, SelectableFields(o), nil
}

// SelectableFields are the fields field selectors and the storage index use.
func SelectableFields(o *catalog.CatalogTemplate) fields.Set {
	return generic.AddObjectMetaFieldsSet(fields.Set{
		"spec.category":   o.Spec.Category,
		"spec.appType":    string(o.Spec.Template.AppType),
		"spec.repository": o.Spec.Repository,
	}, &o.ObjectMeta, false)
}
