package e2e

import (
	"strings"
	"testing"
	"time"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// TestDescribeSessionExplainsTransitions: what alice sees with `kubectl
// describe session` after her session started, fell asleep and was woken
// by a connect: the conditions of the running session, and an Event per
// transition saying why.
func TestDescribeSessionExplainsTransitions(t *testing.T) {
	t.Parallel()
	const name = "describe-transitions"
	ss, kube := clients(t, "alice")
	s := newSession(t, ss, "alice", name, "firefox", 4*time.Second, 0)
	waitSession(t, ss, "alice", s.Name, startTimeout, "Hibernated", phaseIs(streamv1alpha1.SessionPhaseHibernated))
	mustKubectl(t, "alice", "{}", "create", "--raw", "/apis/stream.space/v1alpha1/namespaces/alice/sessions/"+name+"/connect", "-f", "-")
	waitSession(t, ss, "alice", s.Name, startTimeout, "Running again", phaseIs(streamv1alpha1.SessionPhaseRunning))
	waitEvent(t, kube, s, "Woke")

	out := mustKubectl(t, "alice", "", "-n", "alice", "describe", "session", name)
	for _, want := range []string{
		"Type:                  Ready", "Reason:                PodReady",
		"Type:                  DeploymentReady", "Type:                  PVCBound", "Type:                  TemplateResolved",
		"Phase:                   Running", "Pod Name:", "URL:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl describe session lacks %q:\n%s", want, out)
		}
	}
	// Events of one second may be listed in any order: check each is there.
	events := out[strings.Index(out, "Events:"):]
	for _, want := range []string{
		"DeploymentCreated", "Running: pod",
		"IdleTimeout", "Hibernating: no connection for 4s (idleTimeout 4s)", "Scaled Deployment " + name + " to 0",
		"Hibernated: scaled to zero; connect to start it again",
		"Scaled Deployment " + name + " to 1", "after a connection woke the session",
	} {
		if !strings.Contains(events, want) {
			t.Errorf("the Events of kubectl describe session lack %q:\n%s", want, events)
		}
	}
}
