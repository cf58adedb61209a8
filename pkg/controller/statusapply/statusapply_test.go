package statusapply

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	streamapply "github.com/streamspace/controlplane/pkg/generated/applyconfiguration/stream/v1alpha1"
)

func TestChanged(t *testing.T) {
	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	stored := metav1.NewTime(at)
	sameSecond := metav1.NewTime(at.Add(400 * time.Millisecond))
	nextSecond := metav1.NewTime(at.Add(time.Second))
	cond := func(status metav1.ConditionStatus, when metav1.Time) []metav1.Condition {
		return []metav1.Condition{{Type: "Ready", Status: status, Reason: "R", LastTransitionTime: when}}
	}
	apply := func(conds []metav1.Condition, activity *metav1.Time) *streamapply.SessionStatusApplyConfiguration {
		a := streamapply.SessionStatus().WithPhase(streamv1alpha1.SessionPhaseRunning).WithConditions(Conditions(conds)...)
		if activity != nil {
			a.WithLastActivity(*activity)
		}
		return a
	}
	cases := []struct {
		name    string
		desired *streamapply.SessionStatusApplyConfiguration
		want    bool
	}{
		{"same", apply(cond(metav1.ConditionTrue, stored), &stored), false},
		{"a time within the stored second", apply(cond(metav1.ConditionTrue, sameSecond), &sameSecond), false},
		{"a later second", apply(cond(metav1.ConditionTrue, stored), &nextSecond), true},
		{"a field left out", apply(cond(metav1.ConditionTrue, stored), nil), true},
		{"a condition changed", apply(cond(metav1.ConditionFalse, stored), &stored), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Changed(apply(cond(metav1.ConditionTrue, stored), &stored), c.desired)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("Changed = %v, want %v", got, c.want)
			}
		})
	}
}
