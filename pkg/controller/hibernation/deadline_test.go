package hibernation

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

var t0 = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(t0.Add(d)); return &t }

func runningSession(idle *time.Duration, mutate func(*streamv1alpha1.Session)) *streamv1alpha1.Session {
	s := &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "s", CreationTimestamp: metav1.NewTime(t0)},
		Spec:       streamv1alpha1.SessionSpec{State: streamv1alpha1.SessionStateRunning},
		Status: streamv1alpha1.SessionStatus{Phase: streamv1alpha1.SessionPhaseRunning, Conditions: []metav1.Condition{{
			Type: stream.SessionConditionReady, Status: metav1.ConditionTrue, LastTransitionTime: *at(5 * time.Second),
		}}},
	}
	if idle != nil {
		s.Spec.IdleTimeout = &metav1.Duration{Duration: *idle}
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func TestHibernateAt(t *testing.T) {
	ten, zero := 10*time.Second, time.Duration(0)
	cases := []struct {
		name    string
		s       *streamv1alpha1.Session
		live    int
		want    time.Duration // from t0
		wantSet bool
	}{
		{"never connected: from when it became Running", runningSession(&ten, nil), 0, 15 * time.Second, true},
		{"platform default when unset", runningSession(nil, nil), 0, 5*time.Second + 30*time.Minute, true},
		{"idleTimeout 0 never hibernates", runningSession(&zero, nil), 0, 0, false},
		{"from the last disconnect", runningSession(&ten, func(s *streamv1alpha1.Session) {
			s.Status.LastConnection, s.Status.LastDisconnect, s.Status.LastActivity = at(time.Minute), at(5*time.Minute), at(4*time.Minute)
		}), 0, 5*time.Minute + 10*time.Second, true},
		{"a live connection the status has not counted yet", runningSession(&ten, nil), 1, 0, false},
		{"a counted connection not yet in the cache", runningSession(&ten, func(s *streamv1alpha1.Session) { s.Status.ActiveConnections = 1 }), 0, 0, false},
		{"not Running yet", runningSession(&ten, func(s *streamv1alpha1.Session) { s.Status.Phase = streamv1alpha1.SessionPhasePending }), 0, 0, false},
		{"hibernated on request", runningSession(&ten, func(s *streamv1alpha1.Session) { s.Spec.State = streamv1alpha1.SessionStateHibernated }), 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := HibernateAt(c.s, c.live, 30*time.Minute)
			if ok != c.wantSet || (ok && !got.Equal(t0.Add(c.want))) {
				t.Errorf("HibernateAt = %v, %v; want %v, %v", got, ok, t0.Add(c.want), c.wantSet)
			}
		})
	}
}

func TestWakingConnection(t *testing.T) {
	hibernated := func(notReadyAt time.Duration) *streamv1alpha1.Session {
		return runningSession(nil, func(s *streamv1alpha1.Session) {
			s.Spec.State, s.Status.Phase = streamv1alpha1.SessionStateHibernated, streamv1alpha1.SessionPhaseHibernated
			s.Status.Conditions = []metav1.Condition{{Type: stream.SessionConditionReady, Status: metav1.ConditionFalse, LastTransitionTime: *at(notReadyAt)}}
		})
	}
	conn := func(name string, created time.Duration) *streamv1alpha1.Connection {
		return &streamv1alpha1.Connection{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: *at(created)}}
	}
	cases := []struct {
		name  string
		s     *streamv1alpha1.Session
		conns []*streamv1alpha1.Connection
		want  string
	}{
		{"a new connection wakes", hibernated(time.Minute), []*streamv1alpha1.Connection{conn("new", 2*time.Minute)}, "new"},
		{"one left from before the hibernation does not", hibernated(time.Minute), []*streamv1alpha1.Connection{conn("old", 30*time.Second)}, ""},
		{"the newest of several", hibernated(time.Minute), []*streamv1alpha1.Connection{conn("a", 2*time.Minute), conn("b", 3*time.Minute)}, "b"},
		{"a running session needs no wake", runningSession(nil, nil), []*streamv1alpha1.Connection{conn("c", time.Hour)}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := WakingConnection(c.s, c.conns)
			if (got == nil && c.want != "") || (got != nil && got.Name != c.want) {
				t.Errorf("WakingConnection = %v, want %q", got, c.want)
			}
		})
	}
}

func TestIdleWarning(t *testing.T) {
	hibernateAt := t0.Add(10 * time.Minute)
	warned := func(deadline time.Time, since time.Duration) *metav1.Condition {
		return &metav1.Condition{
			Type: stream.SessionConditionIdleWarning, Status: metav1.ConditionTrue, Reason: stream.SessionReasonHibernatingSoon,
			Message: IdleWarningMessage(deadline), LastTransitionTime: *at(since),
		}
	}
	cases := []struct {
		name     string
		current  *metav1.Condition
		lead     time.Duration
		now      time.Duration // from t0
		want     bool
		wantLTT  time.Duration // from t0
		wantText string
	}{
		{"before the lead", nil, 5 * time.Minute, 4 * time.Minute, false, 0, ""},
		{"at the lead", nil, 5 * time.Minute, 5 * time.Minute, true, 5 * time.Minute, "Hibernating at 2026-01-02T10:10:00Z unless someone connects"},
		{"a lead longer than the idle time warns at once", nil, time.Hour, 0, true, 0, "Hibernating at 2026-01-02T10:10:00Z unless someone connects"},
		{"lead 0 never warns", nil, 0, 9 * time.Minute, false, 0, ""},
		{"the same deadline keeps its transition time", warned(hibernateAt, 6*time.Minute), 5 * time.Minute, 8 * time.Minute, true, 6 * time.Minute, ""},
		{"a moved deadline is a new warning", warned(t0.Add(7*time.Minute), 2*time.Minute), 5 * time.Minute, 8 * time.Minute, true, 8 * time.Minute, ""},
		{"after a False one, a new warning", &metav1.Condition{Type: stream.SessionConditionIdleWarning, Status: metav1.ConditionFalse,
			Message: IdleWarningMessage(hibernateAt), LastTransitionTime: *at(time.Minute)}, 5 * time.Minute, 8 * time.Minute, true, 8 * time.Minute, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := IdleWarning(c.current, hibernateAt, c.lead, t0.Add(c.now))
			if (got != nil) != c.want {
				t.Fatalf("IdleWarning = %+v, want a warning: %v", got, c.want)
			}
			if got == nil {
				return
			}
			if got.Type != stream.SessionConditionIdleWarning || got.Status != metav1.ConditionTrue || got.Reason != stream.SessionReasonHibernatingSoon {
				t.Errorf("condition %s=%s (%s), want IdleWarning=True (HibernatingSoon)", got.Type, got.Status, got.Reason)
			}
			if !got.LastTransitionTime.Time.Equal(t0.Add(c.wantLTT)) {
				t.Errorf("lastTransitionTime %s, want %s", got.LastTransitionTime.Time, t0.Add(c.wantLTT))
			}
			if c.wantText != "" && got.Message != c.wantText {
				t.Errorf("message %q, want %q", got.Message, c.wantText)
			}
		})
	}
}

func TestNextCheck(t *testing.T) {
	hibernateAt := t0.Add(10 * time.Minute)
	cases := []struct {
		name string
		lead time.Duration
		now  time.Duration // from t0
		want time.Duration // from t0
	}{
		{"the warning while it is ahead", 5 * time.Minute, time.Minute, 5 * time.Minute},
		{"the deadline once warned", 5 * time.Minute, 6 * time.Minute, 10 * time.Minute},
		{"the deadline at the warning", 5 * time.Minute, 5 * time.Minute, 10 * time.Minute},
		{"the deadline when nobody is warned", 0, time.Minute, 10 * time.Minute},
		{"the deadline when the lead is longer than the idle time", time.Hour, 0, 10 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := NextCheck(hibernateAt, c.lead, t0.Add(c.now)); !got.Equal(t0.Add(c.want)) {
				t.Errorf("NextCheck = %s, want %s", got, t0.Add(c.want))
			}
		})
	}
}

func TestSameIdleWarning(t *testing.T) {
	warning := func(status metav1.ConditionStatus, deadline time.Duration) *metav1.Condition {
		return &metav1.Condition{Type: stream.SessionConditionIdleWarning, Status: status, Message: IdleWarningMessage(t0.Add(deadline))}
	}
	cases := []struct {
		name string
		a, b *metav1.Condition
		want bool
	}{
		{"none and none", nil, nil, true},
		{"none and a warning", nil, warning(metav1.ConditionTrue, time.Minute), false},
		{"False is none", warning(metav1.ConditionFalse, time.Minute), nil, true},
		{"one deadline", warning(metav1.ConditionTrue, time.Minute), warning(metav1.ConditionTrue, time.Minute), true},
		{"two deadlines", warning(metav1.ConditionTrue, time.Minute), warning(metav1.ConditionTrue, 2*time.Minute), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SameIdleWarning(c.a, c.b); got != c.want {
				t.Errorf("SameIdleWarning = %v, want %v", got, c.want)
			}
		})
	}
}
