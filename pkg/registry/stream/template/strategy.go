// Package template holds the REST strategy and storage of Templates.
package template

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

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/apis/stream/validation"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// templateStrategy is how Templates are created and changed through the main
// resource; the status is kept from storage.
type templateStrategy struct {
	storebuilder.StrategyDefaults
}

// NewStrategy returns the strategy of the main resource.
func NewStrategy(typer runtime.ObjectTyper) templateStrategy {
	return templateStrategy{storebuilder.NewStrategyDefaults(typer)}
}

func (templateStrategy) NamespaceScoped() bool { return true }

func (templateStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"stream.space/v1alpha1": fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

func (templateStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	o := obj.(*stream.Template)
	o.Status = stream.TemplateStatus{}
	o.Generation = 1
}

func (templateStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	o, oldO := obj.(*stream.Template), old.(*stream.Template)
	o.Status = oldO.Status
	if !apiequality.Semantic.DeepEqual(o.Spec, oldO.Spec) {
		o.Generation = oldO.Generation + 1
	}
}

func (templateStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateTemplate(obj.(*stream.Template))
}

func (templateStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateTemplateUpdate(obj.(*stream.Template), old.(*stream.Template))
}

// templateStatusStrategy is how controllers report: only status changes.
type templateStatusStrategy struct {
	templateStrategy
}

// NewStatusStrategy returns the strategy of the status subresource.
func NewStatusStrategy(s templateStrategy) templateStatusStrategy { return templateStatusStrategy{s} }

func (templateStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"stream.space/v1alpha1": fieldpath.NewSet(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata", "labels")),
	}
}

func (templateStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	o, oldO := obj.(*stream.Template), old.(*stream.Template)
	o.Spec = oldO.Spec
	o.Labels = oldO.Labels
}

func (templateStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateTemplateStatusUpdate(obj.(*stream.Template), old.(*stream.Template))
}

// GetAttrs returns the labels and selectable fields of a template.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	o, ok := obj.(*stream.Template)
	if !ok {
		return nil, nil, fmt.Errorf("not a Template: %T", obj)
	}
	return o.Labels, SelectableFields(o), nil
}

// SelectableFields are the fields field selectors and the storage index use.
func SelectableFields(o *stream.Template) fields.Set {
	return generic.AddObjectMetaFieldsSet(fields.Set{
		"spec.category": o.Spec.Category,
		"spec.appType":  string(o.Spec.AppType),
	}, &o.ObjectMeta, true)
}
