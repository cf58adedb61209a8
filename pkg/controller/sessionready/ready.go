// Package sessionready reads when a Session last became, or stopped being,
// Ready from its Ready condition: the persisted times that the session
// controller writes and the hibernation controller counts idleness from.
package sessionready

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// RunningSince is when the session last became Ready, or nil when it is not.
func RunningSince(s *streamv1alpha1.Session) *metav1.Time {
	return readySince(s, metav1.ConditionTrue)
}

// NotReadySince is when the session last stopped being Ready, or nil.
func NotReadySince(s *streamv1alpha1.Session) *metav1.Time {
	return readySince(s, metav1.ConditionFalse)
}

func readySince(s *streamv1alpha1.Session, status metav1.ConditionStatus) *metav1.Time {
	c := meta.FindStatusCondition(s.Status.Conditions, stream.SessionConditionReady)
	if c == nil || c.Status != status {
		return nil
	}
	t := c.LastTransitionTime
	return &t
}
