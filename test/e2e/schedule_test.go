package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// TestSessionSchedule: alice schedules a hibernated session to start at the
// next minute and to stop a minute later, in Berlin time. kubectl shows the
// next start and stop; the session starts then and is Running, and
// hibernates at the stop, each with an Event; the example applies.
func TestSessionSchedule(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ss, kube := clients(t, "alice")
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// At least 20 s ahead, so that the session is created before its start.
	start := time.Now().In(berlin).Add(80 * time.Second).Truncate(time.Minute)
	stop := start.Add(time.Minute)
	cron := func(t time.Time) string {
		return fmt.Sprintf("%d %d %d %d *", t.Minute(), t.Hour(), t.Day(), int(t.Month()))
	}

	s := &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "scheduled"},
		Spec: streamv1alpha1.SessionSpec{
			Template:    "firefox",
			State:       streamv1alpha1.SessionStateHibernated,
			IdleTimeout: &metav1.Duration{},
			Schedule:    &streamv1alpha1.SessionSchedule{Start: cron(start), Stop: cron(stop), TimeZone: "Europe/Berlin"},
		},
	}
	created, err := ss.StreamV1alpha1().Sessions("alice").Create(ctx, s, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ss.StreamV1alpha1().Sessions("alice").Delete(context.Background(), s.Name, metav1.DeleteOptions{})
	})
	if d := created.Spec.MaxSessionDuration; d == nil || d.Duration != 0 {
		t.Errorf("a scheduled session's maxSessionDuration defaults to %v, want 0s (no limit)", d)
	}

	waitSession(t, ss, "alice", s.Name, 30*time.Second, "shows its next start and stop", func(s *streamv1alpha1.Session) bool {
		st := s.Status.Schedule
		return st != nil && st.NextStart != nil && st.NextStart.Equal(&metav1.Time{Time: start}) && st.NextStop != nil && st.NextStop.Equal(&metav1.Time{Time: stop})
	})
	out := mustKubectl(t, "alice", "", "get", "session", s.Name, "-n", "alice")
	wantStart := start.Format("2006-01-02T15:04Z07:00")
	if !strings.Contains(out, wantStart) || !strings.Contains(out, "NEXT-START") {
		t.Errorf("kubectl get session does not show the next start %s:\n%s", wantStart, out)
	}
	if st, _ := ss.StreamV1alpha1().Sessions("alice").Get(ctx, s.Name, metav1.GetOptions{}); st.Spec.State != streamv1alpha1.SessionStateHibernated {
		t.Fatalf("before its start the session is %s, want hibernated", st.Spec.State)
	}

	running := waitSession(t, ss, "alice", s.Name, time.Until(start)+90*time.Second, "started by its schedule and Running", func(s *streamv1alpha1.Session) bool {
		return s.Spec.State == streamv1alpha1.SessionStateRunning && s.Status.Phase == streamv1alpha1.SessionPhaseRunning
	})
	if st := running.Status.Schedule; st == nil || st.LastAction == nil || !st.LastAction.Equal(&metav1.Time{Time: start}) || st.LastActionResult != "Started" {
		t.Errorf("status.schedule after the start: %+v", running.Status.Schedule)
	}
	if now := time.Now(); now.Before(start) {
		t.Errorf("the session was started at %s, before its scheduled start %s", now, start)
	}
	waitEvent(t, kube, running, "ScheduledStart")

	stopped := waitSession(t, ss, "alice", s.Name, time.Until(stop)+90*time.Second, "hibernated by its schedule", func(s *streamv1alpha1.Session) bool {
		return s.Spec.State == streamv1alpha1.SessionStateHibernated && s.Status.Phase == streamv1alpha1.SessionPhaseHibernated
	})
	if st := stopped.Status.Schedule; st == nil || st.LastActionResult != "Stopped" || !st.LastAction.Equal(&metav1.Time{Time: stop}) {
		t.Errorf("status.schedule after the stop: %+v", stopped.Status.Schedule)
	}
	waitEvent(t, kube, stopped, "ScheduledStop")
}

// TestScheduleValidation: a schedule that does not parse is refused with the
// field that is wrong; the example applies as it is.
func TestScheduleValidation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ schedule, field string }{
		{`{start: "0 25 * * *"}`, "spec.schedule.start"},
		{`{start: "0 8 * * *", timeZone: Mars/Olympus}`, "spec.schedule.timeZone"},
		{`{stop: "CRON_TZ=Europe/Berlin 0 18 * * *"}`, "spec.schedule.stop"},
		{`{timeZone: UTC}`, "spec.schedule"},
	} {
		manifest := `{apiVersion: stream.space/v1alpha1, kind: Session, metadata: {name: bad-schedule, namespace: alice}, spec: {template: firefox, schedule: ` + c.schedule + `}}`
		_, err := kubectl(t, "alice", manifest, "create", "-f", "-")
		if err == nil {
			t.Errorf("schedule %s was accepted", c.schedule)
			_, _ = kubectl(t, "alice", "", "delete", "session", "bad-schedule", "-n", "alice")
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "is invalid") || !strings.Contains(msg, c.field) {
			t.Errorf("schedule %s: %s, want a 422 naming %s", c.schedule, msg, c.field)
		}
	}
	mustKubectl(t, "alice", "", "apply", "-f", "../../artifacts/examples/schedule-demo.yaml")
	t.Cleanup(func() {
		_, _ = kubectl(t, "alice", "", "delete", "--ignore-not-found", "-f", "../../artifacts/examples/schedule-demo.yaml")
	})
	ss, _ := clients(t, "alice")
	waitSession(t, ss, "alice", "workday", 30*time.Second, "shows the next weekday 08:00 or 18:00 Berlin time", func(s *streamv1alpha1.Session) bool {
		st := s.Status.Schedule
		if st == nil || st.NextStart == nil || st.NextStop == nil {
			return false
		}
		berlin, _ := time.LoadLocation("Europe/Berlin")
		start, stop := st.NextStart.In(berlin), st.NextStop.In(berlin)
		weekday := func(t time.Time) bool { return t.Weekday() != time.Saturday && t.Weekday() != time.Sunday }
		return start.Hour() == 8 && start.Minute() == 0 && weekday(start) && stop.Hour() == 18 && weekday(stop)
	})
}

// TestScheduleActsAfterControllerRestart: the controller is down when a
// session's start time passes; started again, it starts the session at
// once, for that time, because what it last acted on is in the status.
func TestScheduleActsAfterControllerRestart(t *testing.T) {
	// Not parallel: it stops the shared controller.
	ctx := context.Background()
	ss, _ := clients(t, "bob")
	start := time.Now().UTC().Add(80 * time.Second).Truncate(time.Minute)
	s := &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "scheduled-restart"},
		Spec: streamv1alpha1.SessionSpec{
			Template: "vscode", State: streamv1alpha1.SessionStateHibernated, IdleTimeout: &metav1.Duration{},
			Schedule: &streamv1alpha1.SessionSchedule{Start: fmt.Sprintf("%d %d * * *", start.Minute(), start.Hour())},
		},
	}
	if _, err := ss.StreamV1alpha1().Sessions("bob").Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ss.StreamV1alpha1().Sessions("bob").Delete(context.Background(), s.Name, metav1.DeleteOptions{})
	})
	waitSession(t, ss, "bob", s.Name, 30*time.Second, "shows its next start", func(s *streamv1alpha1.Session) bool {
		return s.Status.Schedule != nil && s.Status.Schedule.NextStart != nil && s.Status.Schedule.NextStart.Time.Equal(start)
	})

	restart := stopController(t)
	time.Sleep(time.Until(start) + 3*time.Second)
	if got, err := ss.StreamV1alpha1().Sessions("bob").Get(ctx, s.Name, metav1.GetOptions{}); err != nil || got.Spec.State != streamv1alpha1.SessionStateHibernated {
		t.Fatalf("with no controller the session changed: %v", err)
	}
	restart()
	got := waitSession(t, ss, "bob", s.Name, 30*time.Second, "started for the missed time", func(s *streamv1alpha1.Session) bool {
		return s.Spec.State == streamv1alpha1.SessionStateRunning && s.Status.Schedule != nil && s.Status.Schedule.LastActionResult == "Started"
	})
	if la := got.Status.Schedule.LastAction; la == nil || !la.Time.Equal(start) {
		t.Errorf("lastAction = %v, want the missed start %s", la, start)
	}
}
