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
