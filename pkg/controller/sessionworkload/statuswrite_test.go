package sessionworkload

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/statusapply"
	streamapply "github.com/streamspace/controlplane/pkg/generated/applyconfiguration/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned/fake"
)

// TestStatusApplyLeavesOtherControllersConditions: the session controller
// writes its status from a copy of the stored one, which holds the
// hibernation controller's IdleWarning too; applying it must not make the
// session controller a co-owner, or the warning would stay once its owner
// removes it.
func TestStatusApplyLeavesOtherControllersConditions(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(&streamv1alpha1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: "alice", Name: "s"}})
	sessions := client.StreamV1alpha1().Sessions("alice")
	since := metav1.NewTime(time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC))
	warning := metav1.Condition{Type: stream.SessionConditionIdleWarning, Status: metav1.ConditionTrue, Reason: stream.SessionReasonHibernatingSoon,
		Message: "Hibernating at 2026-03-04T10:05:00Z unless someone connects", LastTransitionTime: since}
	warn := streamapply.Session("s", "alice").WithStatus(streamapply.SessionStatus().WithConditions(statusapply.Conditions([]metav1.Condition{warning})...))
	if _, err := sessions.ApplyStatus(ctx, warn, statusapply.Options("hibernation-controller")); err != nil {
		t.Fatal(err)
	}

	stored, err := sessions.Get(ctx, "s", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status := stored.Status.DeepCopy()
	setCondition(status, 1, since.Time, stream.SessionConditionReady, true, stream.SessionReasonPodReady, "pod s-abc is ready")
	status.Phase = streamv1alpha1.SessionPhaseRunning
	if _, err := sessions.ApplyStatus(ctx, streamapply.Session("s", "alice").WithStatus(statusApply(status)), statusapply.Options(fieldManager)); err != nil {
		t.Fatal(err)
	}

	// The hibernation controller takes the warning back.
	if _, err := sessions.ApplyStatus(ctx, streamapply.Session("s", "alice").WithStatus(streamapply.SessionStatus()), statusapply.Options("hibernation-controller")); err != nil {
		t.Fatal(err)
	}
	got, err := sessions.Get(ctx, "s", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, stream.SessionConditionIdleWarning); c != nil {
		t.Errorf("IdleWarning outlived its owner's removal: %+v", c)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, stream.SessionConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("the session controller's Ready condition is gone: %+v", got.Status.Conditions)
	}
}
