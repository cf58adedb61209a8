package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// TestApiserverRestartLosesNothingOfTheLifecycle restarts
// streamspace-apiserver while one session counts down to hibernation and
// another has a viewer sending heartbeats: the countdown keeps its
// persisted deadline and the session hibernates on it; the viewer's
// connection survives (same object, heartbeats resume, never reaped) and
// its session stays running. The restart takes longer than the stale
// timeout on the test stack: a viewer gets a full stale timeout from when
// the server answers again, not from its last heartbeat before the outage.
func TestApiserverRestartLosesNothingOfTheLifecycle(t *testing.T) {
	// Not parallel: it restarts the shared streamspace-apiserver.
	// Longer than a restart (about 16 s on the test stack, see the log).
	const idle = 30 * time.Second
	ctx := context.Background()
	ss, _ := clients(t, "bob")
	_, kube := clients(t, "admin")
	idleSession := newSession(t, ss, "bob", "restart-countdown", "vscode", idle, 0)
	viewed := newSession(t, ss, "bob", "restart-viewed", "vscode", idle, 0)
	waitSession(t, ss, "bob", viewed.Name, startTimeout, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	resp, err := ss.StreamV1alpha1().Sessions("bob").Connect(ctx, viewed.Name, &streamv1alpha1.SessionConnectRequest{UserAgent: "e2e restart"}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	conn, err := ss.StreamV1alpha1().Connections("bob").Get(ctx, resp.ConnectionID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	viewed = waitSession(t, ss, "bob", viewed.Name, 30*time.Second, "the viewer counted", func(s *streamv1alpha1.Session) bool {
		return s.Status.ActiveConnections == 1
	})
	idleSession = waitSession(t, ss, "bob", idleSession.Name, startTimeout, "Running with hibernateAt", func(s *streamv1alpha1.Session) bool {
		return s.Status.Phase == streamv1alpha1.SessionPhaseRunning && s.Status.HibernateAt != nil
	})
	hibernateAt := idleSession.Status.HibernateAt.Time

	heartbeat := func() error {
		_, err := ss.StreamV1alpha1().Connections("bob").Heartbeat(ctx, conn.Name, &streamv1alpha1.ConnectionHeartbeat{}, metav1.CreateOptions{})
		return err
	}
	if err := heartbeat(); err != nil {
		t.Fatalf("heartbeat before the restart: %v", err)
	}
	restartCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	began := time.Now()
	if err := stack.RestartStreamspace(restartCtx); err != nil {
		t.Fatalf("restart streamspace-apiserver: %v", err)
	}
	t.Logf("streamspace-apiserver restarted in %s (stale-connection-timeout %s), %s before hibernateAt",
		time.Since(began).Round(100*time.Millisecond), staleTimeout, time.Until(hibernateAt).Round(100*time.Millisecond))

	// The viewer could not reach the server meanwhile; its next heartbeat
	// comes within a stale timeout of the server answering again, as a
	// client's regular heartbeat would, and then every second.
	time.Sleep(staleTimeout / 2)
	if err := heartbeat(); err != nil {
		t.Fatalf("the viewer's first heartbeat after the restart: %v (was its connection reaped?)", err)
	}
	beatCtx, stopBeats := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for {
			select {
			case <-beatCtx.Done():
				return
			case <-ticker.C:
				if err := heartbeat(); err != nil && beatCtx.Err() == nil {
					t.Errorf("heartbeat after the restart: %v", err)
				}
			}
		}
	}()
	t.Cleanup(func() { stopBeats(); wg.Wait() })

	// The deadline is what was stored, and it is kept.
	s, err := ss.StreamV1alpha1().Sessions("bob").Get(ctx, idleSession.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read the counting-down session after the restart: %v", err)
	}
	if s.Spec.State == streamv1alpha1.SessionStateRunning && (s.Status.HibernateAt == nil || !s.Status.HibernateAt.Time.Equal(hibernateAt)) {
		t.Errorf("hibernateAt after the restart %v, want %s as before", s.Status.HibernateAt, hibernateAt)
	}
	s = waitSession(t, ss, "bob", idleSession.Name, time.Until(hibernateAt)+startTimeout, "Hibernated", phaseIs(streamv1alpha1.SessionPhaseHibernated))
	asleep := time.Now()
	if asleep.Before(hibernateAt) {
		t.Errorf("hibernated at %s, before its hibernateAt %s", asleep.Format(time.RFC3339Nano), hibernateAt.Format(time.RFC3339Nano))
	}
	t.Logf("hibernated %s after hibernateAt", asleep.Sub(hibernateAt).Round(100*time.Millisecond))
	waitEvent(t, kube, s, "IdleTimeout")

	// The viewer was never lost: the same connection, beating, its session running.
	after, err := ss.StreamV1alpha1().Connections("bob").Get(ctx, conn.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the viewer's connection after the restart: %v", err)
	}
	if after.UID != conn.UID {
		t.Errorf("the connection was replaced: uid %s, was %s", after.UID, conn.UID)
	}
	v, err := ss.StreamV1alpha1().Sessions("bob").Get(ctx, viewed.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Spec.State != streamv1alpha1.SessionStateRunning || v.Status.Phase != streamv1alpha1.SessionPhaseRunning || v.Status.ActiveConnections != 1 {
		t.Errorf("the viewed session after the restart: state %s, phase %s, %d connections; want running with its viewer",
			v.Spec.State, v.Status.Phase, v.Status.ActiveConnections)
	}
	for _, e := range sessionEvents(t, kube, v) {
		if strings.HasPrefix(e, "StaleConnectionRemoved: ") {
			t.Errorf("the viewer was reaped across the restart: %s", e)
		}
	}
}
