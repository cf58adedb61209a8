package feed

import (
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// TestIdleWarningsAreSentOncePerDeadline: the events of one session, as one
// client of its owner sees them, each with the warning it must get (or
// none).
func TestIdleWarningsAreSentOncePerDeadline(t *testing.T) {
	deadline := time.Date(2026, 3, 4, 10, 5, 0, 0, time.UTC)
	session := func(user string, warning metav1.ConditionStatus, hibernateAt time.Time) *streamv1alpha1.Session {
		s := &streamv1alpha1.Session{
			ObjectMeta: metav1.ObjectMeta{Namespace: "alice", Name: "desktop"},
			Spec:       streamv1alpha1.SessionSpec{User: user},
			Status: streamv1alpha1.SessionStatus{Conditions: []metav1.Condition{
				{Type: stream.SessionConditionReady, Status: metav1.ConditionTrue},
			}},
		}
		if !hibernateAt.IsZero() {
			at := metav1.NewTime(hibernateAt)
			s.Status.HibernateAt = &at
		}
		if warning != "" {
			s.Status.Conditions = append(s.Status.Conditions, metav1.Condition{
				Type: stream.SessionConditionIdleWarning, Status: warning, Reason: stream.SessionReasonHibernatingSoon,
				Message: "Hibernating at " + hibernateAt.Format(time.RFC3339) + " unless someone connects",
			})
		}
		return s
	}
	steps := []struct {
		name    string
		s       *streamv1alpha1.Session
		deleted bool
		want    string // hibernateAt of the warning sent, "" for none
	}{
		{"running, not warned", session("alice", "", deadline), false, ""},
		{"the warning turns True", session("alice", metav1.ConditionTrue, deadline), false, "2026-03-04T10:05:00Z"},
		{"another change of the warned session", session("alice", metav1.ConditionTrue, deadline), false, ""},
		{"the deadline moves", session("alice", metav1.ConditionTrue, deadline.Add(time.Minute)), false, "2026-03-04T10:06:00Z"},
		{"someone connects", session("alice", "", time.Time{}), false, ""},
		{"warned again of the same deadline after an idle period ended", session("alice", metav1.ConditionTrue, deadline.Add(time.Minute)), false, "2026-03-04T10:06:00Z"},
		{"a False warning warns of nothing", session("alice", metav1.ConditionFalse, deadline), false, ""},
		{"True without hibernateAt is not a warning", session("alice", metav1.ConditionTrue, time.Time{}), false, ""},
		{"warned after that", session("alice", metav1.ConditionTrue, deadline), false, "2026-03-04T10:05:00Z"},
		{"deleted", nil, true, ""},
		{"created again, already warned", session("alice", metav1.ConditionTrue, deadline), false, "2026-03-04T10:05:00Z"},
		{"someone else's session", session("bob", metav1.ConditionTrue, deadline.Add(2*time.Minute)), false, ""},
	}
	sent := warningsSent{}
	for _, step := range steps {
		if step.deleted {
			sent.forget("alice/desktop")
			continue
		}
		w, ok := sent.next("alice", "alice/desktop", step.s)
		got := ""
		if ok {
			got = w.HibernateAt
		}
		if got != step.want {
			t.Fatalf("%s: warning for hibernateAt %q, want %q", step.name, got, step.want)
		}
	}
}

// TestIdleWarningMessage: the message's JSON as docs/bridge.md shows it.
func TestIdleWarningMessage(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 3, 4, 10, 5, 0, 0, time.UTC))
	s := &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Namespace: "alice", Name: "desktop"},
		Status: streamv1alpha1.SessionStatus{HibernateAt: &at, Conditions: []metav1.Condition{{
			Type: stream.SessionConditionIdleWarning, Status: metav1.ConditionTrue, Reason: stream.SessionReasonHibernatingSoon,
			Message: "Hibernating at 2026-03-04T10:05:00Z unless someone connects",
		}}},
	}
	w, ok := idleWarningOf(s)
	if !ok {
		t.Fatal("no warning for a True IdleWarning")
	}
	w.Timestamp = "2026-03-04T10:00:00.5Z"
	data, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"warning","reason":"IdleWarning","session":{"name":"desktop","namespace":"alice"},` +
		`"hibernateAt":"2026-03-04T10:05:00Z","message":"Hibernating at 2026-03-04T10:05:00Z unless someone connects","timestamp":"2026-03-04T10:00:00.5Z"}`
	if string(data) != want {
		t.Errorf("warning message\n got %s\nwant %s", data, want)
	}
}
