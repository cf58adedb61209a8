// Package session holds the REST strategy and storage of Sessions.
package session

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

// sessionStrategy is how users create and change sessions. The status is the
// controller's: writes to the main resource keep the stored status.
type sessionStrategy struct {
	storebuilder.StrategyDefaults
}

// NewStrategy returns the strategy of the main resource.
func NewStrategy(typer runtime.ObjectTyper) sessionStrategy {
	return sessionStrategy{storebuilder.NewStrategyDefaults(typer)}
}

func (sessionStrategy) NamespaceScoped() bool { return true }

func (sessionStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"stream.space/v1alpha1": fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

func (sessionStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	s := obj.(*stream.Session)
	s.Status = stream.SessionStatus{Phase: stream.SessionPhasePending}
	s.Generation = 1
}

func (sessionStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s, oldS := obj.(*stream.Session), old.(*stream.Session)
	s.Status = oldS.Status
	if !apiequality.Semantic.DeepEqual(s.Spec, oldS.Spec) {
		s.Generation = oldS.Generation + 1
	}
}

func (sessionStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateSession(obj.(*stream.Session))
}

func (sessionStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateSessionUpdate(obj.(*stream.Session), old.(*stream.Session))
}

// sessionStatusStrategy is how the controller reports: only status changes.
type sessionStatusStrategy struct {
	sessionStrategy
}

// NewStatusStrategy returns the strategy of the status subresource.
func NewStatusStrategy(s sessionStrategy) sessionStatusStrategy { return sessionStatusStrategy{s} }

func (sessionStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"stream.space/v1alpha1": fieldpath.NewSet(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata", "labels")),
	}
}

func (sessionStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s, oldS := obj.(*stream.Session), old.(*stream.Session)
	s.Spec = oldS.Spec
	s.Labels = oldS.Labels
}

func (sessionStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateSessionStatusUpdate(obj.(*stream.Session), old.(*stream.Session))
}

// GetAttrs returns the labels and selectable fields of a session.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	s, ok := obj.(*stream.Session)
	if !ok {
		return nil, nil, fmt.Errorf("not a Session: %T", obj)
	}
	return s.Labels, SelectableFields(s), nil
}

// SelectableFields are the fields field selectors and the storage index use.
func SelectableFields(s *stream.Session) fields.Set {
	return generic.AddObjectMetaFieldsSet(fields.Set{
		"spec.user":     s.Spec.User,
		"spec.template": s.Spec.Template,
		"spec.state":    string(s.Spec.State),
		"status.phase":  string(s.Status.Phase),
	}, &s.ObjectMeta, true)
}
