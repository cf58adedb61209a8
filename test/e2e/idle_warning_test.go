package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// TestIdleWarningReachesTheOwnersFeed is what alice sees of a session idle
// for 20s on a stack warning 15s ahead (--idle-warning-lead): a warning on
// her sessions feed naming the session and its hibernateAt, still ahead when
// it arrives, and an IdleWarning Event; a viewer who comes and goes moves the
// deadline and brings a new warning of the later one; then the session
// hibernates and the warning is gone from its status. A session of someone
// else in her namespace, which her feed lists too, is warned of as well, but
// not to her: warnings are for the owner.
func TestIdleWarningReachesTheOwnersFeed(t *testing.T) {
	t.Parallel()
	const idle = 20 * time.Second
	name, other, otherOwner := uniqueName("idle-warning"), uniqueName("idle-warning-other"), uniqueName("carol")
	ss, kube := clients(t, "alice")
	admin, adminKube := clients(t, "admin")
	aliceFeed := mustDialFeed(t, "alice", "/api/v1/ws/sessions")
	var all []feedMessage // every message of alice's feed, in order
	next := func(timeout time.Duration, what string, match func(feedMessage) bool) (feedMessage, []feedMessage) {
		t.Helper()
		m, seen := aliceFeed.next(t, timeout, what, match)
		all = append(append(all, seen...), m)
		return m, seen
	}
	next(feedTimeout, "the first snapshot", func(m feedMessage) bool { return m.Type == "sessions_update" })

	mustKubectl(t, "admin", "apiVersion: stream.space/v1alpha1\nkind: Session\nmetadata: {name: "+other+"}\nspec: {template: firefox, user: "+otherOwner+", idleTimeout: 20s}\n",
		"create", "-n", "alice", "-f", "-")
	t.Cleanup(func() { _, _ = kubectl(t, "admin", "", "-n", "alice", "delete", "session", other, "--wait=false") })
	s := newSession(t, ss, "alice", name, "firefox", idle, 0)
	first, seen := next(startTimeout+idle, "an idle warning of "+name, isWarning(name))
	hibernateAt := checkIdleWarning(t, first)
	var last *feedMessage
	for i, m := range seen {
		if m.Type == "session_change" && m.Session.Name == name {
			last = &seen[i]
		}
	}
	if last == nil {
		t.Fatalf("no session_change of %s before its warning", name)
	}
	if last.Session.Status.Phase != string(streamv1alpha1.SessionPhaseRunning) || last.Session.Status.HibernateAt != first.HibernateAt {
		t.Errorf("the change before the warning shows phase %s, hibernateAt %q; want Running until %s",
			last.Session.Status.Phase, last.Session.Status.HibernateAt, first.HibernateAt)
	}
	event := waitEvent(t, kube, s, "IdleWarning")
	if want := "IdleWarning: " + first.Message; event != want {
		t.Errorf("event %q, want %q", event, want)
	}

	// A viewer connects: the deadline is gone. It leaves: a new deadline,
	// and a new warning of it.
	conn, err := ss.StreamV1alpha1().Connections("alice").Create(context.Background(), &streamv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-viewer"}, Spec: streamv1alpha1.ConnectionSpec{Session: name},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("connect a viewer: %v", err)
	}
	stopHeartbeats := sendHeartbeats(t, "alice", "alice", conn.Name, time.Second)
	_, whileConnected := next(feedTimeout, name+" with its viewer counted", func(m feedMessage) bool {
		return isChange("modified", name)(m) && m.Session.ActiveConnections == 1 && m.Session.Status.HibernateAt == ""
	})
	stopHeartbeats()
	if err := ss.StreamV1alpha1().Connections("alice").Delete(context.Background(), conn.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("disconnect the viewer: %v", err)
	}
	second, seen := next(feedTimeout+idle, "a new idle warning of "+name, isWarning(name))
	if later := checkIdleWarning(t, second); !later.After(hibernateAt) {
		t.Errorf("the warning after the viewer left names %s, not later than the first deadline %s", later, hibernateAt)
	}
	for _, m := range append(whileConnected, seen...) {
		if m.Type == "warning" && m.Session.Name == name {
			t.Errorf("a warning while the viewer was connected: %s", m.raw)
		}
	}
	eventually(t, 30*time.Second, "an IdleWarning Event of the new deadline", func() (bool, error) {
		for _, e := range sessionEvents(t, kube, s) {
			if e == "IdleWarning: "+second.Message {
				return true, nil
			}
		}
		return false, nil
	})

	// It hibernates: no warning left in its status, and none sent meanwhile.
	_, seen = next(startTimeout+idle, name+" hibernated", func(m feedMessage) bool {
		return isChange("modified", name)(m) && m.Session.Status.Phase == string(streamv1alpha1.SessionPhaseHibernated)
	})
	for _, m := range seen {
		if m.Type == "warning" && m.Session.Name == name {
			t.Errorf("a warning after the one of the last deadline: %s", m.raw)
		}
	}
	waitSession(t, ss, "alice", name, 30*time.Second, "no IdleWarning once hibernated", func(s *streamv1alpha1.Session) bool {
		return s.Status.Phase == streamv1alpha1.SessionPhaseHibernated &&
			meta.FindStatusCondition(s.Status.Conditions, stream.SessionConditionIdleWarning) == nil
	})

	// The other owner's session was warned of too (its Event, as the admin
	// reads it), but not to alice: her feed shows it up to its hibernation,
	// and a warning would have come before that, right after the change
	// that brought it.
	otherSession, err := admin.StreamV1alpha1().Sessions("alice").Get(context.Background(), other, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, adminKube, otherSession, "IdleWarning")
	otherHibernated := func(m feedMessage) bool {
		return isChange("modified", other)(m) && m.Session.Status.Phase == string(streamv1alpha1.SessionPhaseHibernated)
	}
	if !slices.ContainsFunc(all, otherHibernated) {
		next(startTimeout+idle, other+" hibernated", otherHibernated)
	}
	for _, m := range all {
		if m.Type == "warning" && m.Session.Name == other {
			t.Errorf("alice was sent the warning of %s's session: %s", otherOwner, m.raw)
		}
	}
}

func isWarning(name string) func(feedMessage) bool {
	return func(m feedMessage) bool { return m.Type == "warning" && m.Session.Name == name }
}

// checkIdleWarning checks what a warning says and returns its deadline,
// which must still be ahead when the warning arrived.
func checkIdleWarning(t *testing.T, m feedMessage) time.Time {
	t.Helper()
	if m.Reason != "IdleWarning" || m.Session.Namespace != "alice" {
		t.Errorf("warning %s: want reason IdleWarning about a session in alice", m.raw)
	}
	at, err := time.Parse(time.RFC3339, m.HibernateAt)
	if err != nil {
		t.Fatalf("warning %s: hibernateAt: %v", m.raw, err)
	}
	if !m.received.Before(at) {
		t.Errorf("warning %s arrived at %s, not before its hibernateAt", m.raw, m.received.Format(time.RFC3339Nano))
	}
	if !strings.Contains(m.Message, m.HibernateAt) {
		t.Errorf("warning %s: the message does not name hibernateAt", m.raw)
	}
	t.Logf("warned %s before hibernating: %s", at.Sub(m.received).Round(100*time.Millisecond), m.raw)
	return at
}
