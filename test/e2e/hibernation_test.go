package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// kubectlSession reads a session as user with kubectl.
func kubectlSession(t *testing.T, user, name string) *streamv1alpha1.Session {
	t.Helper()
	var s streamv1alpha1.Session
	if err := json.Unmarshal([]byte(mustKubectl(t, user, "", "-n", user, "get", "session", name, "-o", "json")), &s); err != nil {
		t.Fatalf("decode session %s: %v", name, err)
	}
	return &s
}

// waitKubectlSession polls a session with kubectl until cond holds.
func waitKubectlSession(t *testing.T, user, name string, timeout time.Duration, what string, cond func(*streamv1alpha1.Session) bool) *streamv1alpha1.Session {
	t.Helper()
	var last *streamv1alpha1.Session
	eventually(t, timeout, "session "+name+": "+what, func() (bool, error) {
		last = kubectlSession(t, user, name)
		return cond(last), fmt.Errorf("state %s, phase %s (%s), connections %d, hibernateAt %v",
			last.Spec.State, last.Status.Phase, last.Status.Reason, last.Status.ActiveConnections, last.Status.HibernateAt)
	})
	return last
}

// TestIdleSessionHibernatesAndWakesWithKubectl is the check, done
// as alice with kubectl only: a session with idleTimeout 10s reaches
// Running, hibernates when nobody connects, wakes on a connection, and
// hibernates about 10 s after its last connection is deleted; its
// Deployment (read as the admin: alice may not read Deployments) follows.
func TestIdleSessionHibernatesAndWakesWithKubectl(t *testing.T) {
	t.Parallel()
	const name = "idle-kubectl"
	const idle = 10 * time.Second
	mustKubectl(t, "alice", `apiVersion: stream.space/v1alpha1
kind: Session
metadata: {name: `+name+`}
spec: {template: firefox, idleTimeout: 10s}
`, "-n", "alice", "create", "-f", "-")
	t.Cleanup(func() { _, _ = kubectl(t, "alice", "", "-n", "alice", "delete", "session", name, "--wait=false") })
	replicas := func(want int32) func() (bool, error) {
		return func() (bool, error) {
			out, err := kubectl(t, "admin", "", "-n", "alice", "get", "deployment", name, "-o", "jsonpath={.spec.replicas}")
			return err == nil && strings.TrimSpace(out) == fmt.Sprint(want), fmt.Errorf("replicas %q (%v)", out, err)
		}
	}

	s := waitKubectlSession(t, "alice", name, startTimeout, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	if s.Status.HibernateAt == nil {
		s = waitKubectlSession(t, "alice", name, 10*time.Second, "hibernateAt shown", func(s *streamv1alpha1.Session) bool { return s.Status.HibernateAt != nil })
	}
	eventually(t, 10*time.Second, "deployment at 1 replica", replicas(1))

	// Nobody connects: it hibernates after its idle timeout, and says so.
	s = waitKubectlSession(t, "alice", name, idle+startTimeout, "Hibernated", phaseIs(streamv1alpha1.SessionPhaseHibernated))
	if s.Spec.State != streamv1alpha1.SessionStateHibernated || s.Status.PodName != "" {
		t.Errorf("hibernated session: state %s, podName %q", s.Spec.State, s.Status.PodName)
	}
	eventually(t, 10*time.Second, "deployment at 0 replicas", replicas(0))
	if out := mustKubectl(t, "alice", "", "-n", "alice", "get", "events", "--field-selector", "involvedObject.name="+name, "-o", "jsonpath={.items[*].reason}"); !strings.Contains(out, "IdleTimeout") {
		t.Errorf("no IdleTimeout event on the session, events: %s", out)
	}

	// A viewer connects: the session wakes.
	mustKubectl(t, "alice", `apiVersion: stream.space/v1alpha1
kind: Connection
metadata: {name: `+name+`-viewer}
spec: {session: `+name+`}
`, "-n", "alice", "create", "-f", "-")
	// Like a real viewer, it sends heartbeats all the time it is connected
	// (far more often than the stale timeout, so a slow machine cannot
	// make it look gone).
	stopHeartbeats := sendHeartbeats(t, "alice", "alice", name+"-viewer", time.Second)
	s = waitKubectlSession(t, "alice", name, startTimeout, "Running again with the viewer counted", func(s *streamv1alpha1.Session) bool {
		return s.Status.Phase == streamv1alpha1.SessionPhaseRunning && s.Status.ActiveConnections == 1
	})
	eventually(t, 10*time.Second, "deployment back at 1 replica", replicas(1))
	if s.Status.HibernateAt != nil {
		t.Errorf("hibernateAt %v while connected", s.Status.HibernateAt)
	}

	// The viewer stays past the idle timeout (a heartbeat sent with kubectl
	// too): no hibernation while connected.
	time.Sleep(idle / 2)
	mustKubectl(t, "alice", "{}", "create", "--raw", "/apis/stream.space/v1alpha1/namespaces/alice/connections/"+name+"-viewer/heartbeat", "-f", "-")
	time.Sleep(idle/2 + 2*time.Second)
	if s := kubectlSession(t, "alice", name); s.Spec.State != streamv1alpha1.SessionStateRunning {
		t.Fatalf("session hibernated while its viewer sent heartbeats: state %s", s.Spec.State)
	}

	// The viewer leaves: the countdown starts at the disconnect.
	stopHeartbeats()
	mustKubectl(t, "alice", "", "-n", "alice", "delete", "connection", name+"-viewer")
	deleted := time.Now()
	s = waitKubectlSession(t, "alice", name, 30*time.Second, "the disconnect recorded", func(s *streamv1alpha1.Session) bool {
		return s.Status.ActiveConnections == 0 && s.Status.LastDisconnect != nil && s.Status.HibernateAt != nil
	})
	if got, want := s.Status.HibernateAt.Time, s.Status.LastDisconnect.Add(idle); !got.Equal(want) {
		t.Errorf("hibernateAt %s, want lastDisconnect + idleTimeout = %s", got, want)
	}
	s = waitKubectlSession(t, "alice", name, idle+startTimeout, "Hibernated again", phaseIs(streamv1alpha1.SessionPhaseHibernated))
	asleep := time.Since(deleted)
	t.Logf("hibernated %s after the last connection was deleted (idleTimeout %s)", asleep.Round(100*time.Millisecond), idle)
	// Never early: stored times have whole seconds, and the disconnect is
	// rounded up (a few ms of kubectl's own latency are allowed for).
	if asleep < idle-200*time.Millisecond {
		t.Errorf("hibernated %s after the disconnect, before its idle timeout of %s", asleep, idle)
	}
	eventually(t, 10*time.Second, "deployment at 0 replicas again", replicas(0))
}

// TestHibernationDeadlineSurvivesControllerRestart: the controller is
// stopped mid-countdown and started again after the deadline passed; the
// session hibernates at once, because the deadline comes from persisted
// timestamps, not from a timer that a restart would reset.
func TestHibernationDeadlineSurvivesControllerRestart(t *testing.T) {
	// Not parallel: it stops the shared controller.
	const idle = 20 * time.Second
	ss, _ := clients(t, "bob")
	s := newSession(t, ss, "bob", "idle-restart", "vscode", idle, 0)
	s = waitSession(t, ss, "bob", s.Name, startTimeout, "Running with hibernateAt", func(s *streamv1alpha1.Session) bool {
		return s.Status.Phase == streamv1alpha1.SessionPhaseRunning && s.Status.HibernateAt != nil
	})
	hibernateAt := s.Status.HibernateAt.Time

	restart := stopController(t)
	time.Sleep(time.Until(hibernateAt) + 2*time.Second)
	if s, err := ss.StreamV1alpha1().Sessions("bob").Get(context.Background(), s.Name, metav1.GetOptions{}); err != nil || s.Spec.State != streamv1alpha1.SessionStateRunning {
		t.Fatalf("with no controller the session changed: %v, state %v", err, s.Spec.State)
	}
	restart()
	started := time.Now()
	// Within well under the idle timeout: a reset countdown would need 20 s more.
	waitSession(t, ss, "bob", s.Name, idle/2, "hibernated right after the restart", func(s *streamv1alpha1.Session) bool {
		return s.Spec.State == streamv1alpha1.SessionStateHibernated
	})
	t.Logf("hibernated %s after the controller came back, %s after hibernateAt", time.Since(started).Round(100*time.Millisecond), time.Since(hibernateAt).Round(100*time.Millisecond))
}

// stopController stops the shared stack's controller and returns the
// function that starts it again (within a minute, or the test fails); if
// the test ends first, a cleanup starts it.
func stopController(t *testing.T) (restart func()) {
	t.Helper()
	if err := stack.StopController(); err != nil {
		t.Fatalf("stop the controller: %v", err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := stack.StartController(context.Background()); err != nil {
				t.Errorf("start the controller again: %v", err)
			}
		}
	})
	return func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := stack.StartController(ctx); err != nil {
			t.Fatalf("start the controller: %v", err)
		}
		restarted = true
	}
}

// sendHeartbeats posts a heartbeat for a connection as user every interval
// until the returned function is called (which waits for the last one).
func sendHeartbeats(t *testing.T, user, namespace, connection string, interval time.Duration) (stop func()) {
	t.Helper()
	ss, _ := clients(t, user)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			_, err := ss.StreamV1alpha1().RESTClient().Post().Namespace(namespace).Resource("connections").Name(connection).
				SubResource("heartbeat").Body([]byte("{}")).SetHeader("Content-Type", "application/json").DoRaw(ctx)
			if err != nil && ctx.Err() == nil {
				t.Logf("heartbeat of %s/%s: %v", namespace, connection, err)
			}
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}
