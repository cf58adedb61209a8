// Package statusapply is what the controllers that write status with
// server-side apply share. Several controllers write parts of one Session's
// status; each applies the fields it owns under its own field manager, so
// the API server keeps their fields apart, and a field a controller stops
// applying is removed (when no other manager owns it too).
package statusapply

import (
	"bytes"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	applymetav1 "k8s.io/client-go/applyconfigurations/meta/v1"
)

// Options are the options of a controller's status apply: its field
// manager, and Force, because the controller is the authority on the
// fields it owns, as Kubernetes controllers are.
func Options(fieldManager string) metav1.ApplyOptions {
	return metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
}

// Changed tells whether the apply configuration desired differs from
// stored, the same controller's fields as they are stored now. They are
// compared as JSON, as the API server stores them (times in whole seconds),
// so that an apply is sent only when it changes something.
func Changed(stored, desired any) (bool, error) {
	a, err := json.Marshal(stored)
	if err != nil {
		return false, fmt.Errorf("encode stored status: %w", err)
	}
	b, err := json.Marshal(desired)
	if err != nil {
		return false, fmt.Errorf("encode desired status: %w", err)
	}
	return !bytes.Equal(a, b), nil
}

// Conditions are the apply configurations of conditions, with the fields
// their JSON has (observedGeneration only when set).
func Conditions(conditions []metav1.Condition) []*applymetav1.ConditionApplyConfiguration {
	out := make([]*applymetav1.ConditionApplyConfiguration, 0, len(conditions))
	for _, c := range conditions {
		a := applymetav1.Condition().WithType(c.Type).WithStatus(c.Status).WithReason(c.Reason).
			WithMessage(c.Message).WithLastTransitionTime(c.LastTransitionTime)
		if c.ObservedGeneration != 0 {
			a.WithObservedGeneration(c.ObservedGeneration)
		}
		out = append(out, a)
	}
	return out
}
