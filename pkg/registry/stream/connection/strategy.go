// Package connection holds the REST strategy and storage of Connections.
package connection

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// connectionStrategy is how Connections are created and changed through the main
// resource; the status is kept from storage.
type connectionStrategy struct {
	storebuilder.StrategyDefaults
}

// NewStrategy returns the strategy of the main resource.
func NewStrategy(typer runtime.ObjectTyper) connectionStrategy {
	return connectionStrategy{storebuilder.NewStrategyDefaults(typer)}
}

func (connectionStrategy) NamespaceScoped() bool { return true }

func (connectionStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"stream.space/v1alpha1": fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

func (connectionStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	o := obj.(*stream.Connection)
	now := metav1.Now()
	o.Status = stream.ConnectionStatus{State: stream.ConnectionStateActive, ConnectedAt: &now, LastHeartbeat: &now}
	o.Generation = 1
}

func (connectionStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	o, oldO := obj.(*stream.Connection), old.(*stream.Connection)
	o.Status = oldO.Status
	if !apiequality.Semantic.DeepEqual(o.Spec, oldO.Spec) {
		o.Generation = oldO.Generation + 1
	}
}

func (connectionStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateConnection(obj.(*stream.Connection))
}

func (connectionStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateConnectionUpdate(obj.(*stream.Connection), old.(*stream.Connection))
}

// connectionStatusStrategy is how controllers report: only status changes.
type connectionStatusStrategy struct {
	connectionStrategy
}

// NewStatusStrategy returns the strategy of the status subresource.
func NewStatusStrategy(s connectionStrategy) connectionStatusStrategy {
	return connectionStatusStrategy{s}
}

func (connectionStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"stream.space/v1alpha1": fieldpath.NewSet(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata", "labels")),
	}
}

func (connectionStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	o, oldO := obj.(*stream.Connection), old.(*stream.Connection)
	o.Spec = oldO.Spec
	o.Labels = oldO.Labels
}

func (connectionStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateConnectionStatusUpdate(obj.(*stream.Connection), old.(*stream.Connection))
}

// GetAttrs returns the labels and selectable fields of a connection.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	o, ok := obj.(*stream.Connection)
	if !ok {
		return nil, nil, fmt.Errorf("not a Connection: %T", obj)
	}
	return o.Labels, SelectableFields(o), nil
}

// SelectableFields are the fields field selectors and the storage index use.
func SelectableFields(o *stream.Connection) fields.Set {
	return generic.AddObjectMetaFieldsSet(fields.Set{
		"spec.session": o.Spec.Session,
		"spec.user":    o.Spec.User,
		"status.state": string(o.Status.State),
	}, &o.ObjectMeta, true)
}
