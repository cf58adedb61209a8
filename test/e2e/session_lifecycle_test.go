package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

const (
	startTimeout = 60 * time.Second
	never        = time.Duration(0)
)

// TestSessionRunsWithReadyPodAndWorkload: a new session becomes Running
// only with a Ready pod, and owns a Deployment, Service and Ingress named
// after it, with its labels; the user's home claim exists and is bound.
func TestSessionRunsWithReadyPodAndWorkload(t *testing.T) {
	t.Parallel()
	ss, _ := clients(t, "alice")
	_, kube := clients(t, "admin")
	s := newSession(t, ss, "alice", "lifecycle-run", "firefox", never, 0)

	s = waitSession(t, ss, "alice", s.Name, startTimeout, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	pod, err := kube.CoreV1().Pods("alice").Get(context.Background(), s.Status.PodName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("status.podName %q: %v", s.Status.PodName, err)
	}
	ready := false
	for _, c := range pod.Status.Conditions {
		ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
	}
	if !ready {
		t.Errorf("session is Running but pod %s is not Ready: %+v", pod.Name, pod.Status.Conditions)
	}
	if got := pod.Spec.Containers[0].Image; got != "lscr.io/linuxserver/firefox:latest" {
		t.Errorf("pod image %q, want the template's", got)
	}
	if want := "https://lifecycle-run-alice." + testIngressDomain + "/"; s.Status.URL != want {
		t.Errorf("status.url %q, want %q", s.Status.URL, want)
	}
	for _, typ := range []string{"TemplateResolved", "PVCBound", "DeploymentReady", "Ready"} {
		if !meta.IsStatusConditionTrue(s.Status.Conditions, typ) {
			t.Errorf("condition %s is not True: %+v", typ, meta.FindStatusCondition(s.Status.Conditions, typ))
		}
	}

	d, err := kube.AppsV1().Deployments("alice").Get(context.Background(), s.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment of the session: %v", err)
	}
	if !metav1.IsControlledBy(d, s) {
		t.Errorf("deployment %s is not controlled by the session: %+v", d.Name, d.OwnerReferences)
	}
	for k, v := range map[string]string{"stream.space/session": s.Name, "stream.space/user": "alice", "stream.space/template": "firefox", "app.kubernetes.io/part-of": "streamspace"} {
		if d.Labels[k] != v {
			t.Errorf("deployment label %s=%q, want %q", k, d.Labels[k], v)
		}
	}
	container := d.Spec.Template.Spec.Containers[0]
	if len(container.Ports) == 0 || container.Ports[0].ContainerPort != 3000 {
		t.Errorf("container ports %+v, want the VNC port 3000", container.Ports)
	}
	if got := container.Resources.Limits.Memory().String(); got != "2Gi" {
		t.Errorf("memory limit %s, want the template default 2Gi", got)
	}
	var home string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			home = v.PersistentVolumeClaim.ClaimName
		}
	}
	if home != "home-alice" {
		t.Errorf("user-home volume claim %q, want home-alice", home)
	}
	if _, err := kube.CoreV1().Services("alice").Get(context.Background(), s.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("service of the session: %v", err)
	}
	ing, err := kube.NetworkingV1().Ingresses("alice").Get(context.Background(), s.Name, metav1.GetOptions{})
	if err != nil {
		t.Errorf("ingress of the session: %v", err)
	} else if host := ing.Spec.Rules[0].Host; host != "lifecycle-run-alice."+testIngressDomain {
		t.Errorf("ingress host %q", host)
	}
	claim, err := kube.CoreV1().PersistentVolumeClaims("alice").Get(context.Background(), "home-alice", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("home claim: %v", err)
	}
	if len(claim.OwnerReferences) != 0 {
		t.Errorf("home claim has owners %+v; it must outlive sessions", claim.OwnerReferences)
	}
	waitEvent(t, kube, s, "PodReady")
}

// TestConnectHeartbeatAndDisconnect: the connect subresource creates a
// Connection for the caller and answers the old API's shape; heartbeats move
// lastHeartbeat; the session counts its viewer and records the disconnect.
func TestConnectHeartbeatAndDisconnect(t *testing.T) {
	t.Parallel()
	ss, _ := clients(t, "bob")
	s := newSession(t, ss, "bob", "lifecycle-connect", "firefox", never, 0)
	s = waitSession(t, ss, "bob", s.Name, startTimeout, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))

	resp, err := ss.StreamV1alpha1().Sessions("bob").Connect(context.Background(), s.Name,
		&streamv1alpha1.SessionConnectRequest{ClientIP: "192.0.2.7", UserAgent: "e2e"}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if resp.ConnectionID == "" || resp.State != "Running" || resp.SessionURL != s.Status.URL {
		t.Errorf("connect answered %+v, want a connection id, state Running and url %q", resp, s.Status.URL)
	}
	conn, err := ss.StreamV1alpha1().Connections("bob").Get(context.Background(), resp.ConnectionID, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the connection connect made: %v", err)
	}
	if conn.Spec.User != "bob" || conn.Spec.Session != s.Name || conn.Spec.ClientIP != "192.0.2.7" {
		t.Errorf("connection spec %+v", conn.Spec)
	}
	s = waitSession(t, ss, "bob", s.Name, 30*time.Second, "one active connection", func(s *streamv1alpha1.Session) bool {
		return s.Status.ActiveConnections == 1 && s.Status.LastConnection != nil
	})
	if s.Status.HibernateAt != nil {
		t.Errorf("hibernateAt %v while a viewer is connected", s.Status.HibernateAt)
	}

	time.Sleep(1100 * time.Millisecond) // heartbeat times have a resolution of one second
	beat, err := ss.StreamV1alpha1().Connections("bob").Heartbeat(context.Background(), conn.Name, &streamv1alpha1.ConnectionHeartbeat{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if !beat.Status.LastHeartbeat.After(conn.Status.LastHeartbeat.Time) {
		t.Errorf("lastHeartbeat %v did not move past %v", beat.Status.LastHeartbeat, conn.Status.LastHeartbeat)
	}
	// A heartbeat carries no resourceVersion: it never conflicts, even with a stale client copy.
	for range 3 {
		if _, err := ss.StreamV1alpha1().Connections("bob").Heartbeat(context.Background(), conn.Name, &streamv1alpha1.ConnectionHeartbeat{}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("repeated heartbeat: %v", err)
		}
	}
	// So does kubectl, as the old client did with its REST call.
	mustKubectl(t, "bob", "{}", "create", "--raw", "/apis/stream.space/v1alpha1/namespaces/bob/connections/"+conn.Name+"/heartbeat", "-f", "-")

	if err := ss.StreamV1alpha1().Connections("bob").Delete(context.Background(), conn.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	waitSession(t, ss, "bob", s.Name, 30*time.Second, "no connection and a lastDisconnect", func(s *streamv1alpha1.Session) bool {
		return s.Status.ActiveConnections == 0 && s.Status.LastDisconnect != nil
	})

	// Another user cannot connect to bob's session: RBAC on sessions/connect.
	alice, _ := clients(t, "alice")
	if _, err := alice.StreamV1alpha1().Sessions("bob").Connect(context.Background(), s.Name, &streamv1alpha1.SessionConnectRequest{}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("alice connecting to bob's session: %v, want Forbidden", err)
	}
	// Bad input names the field.
	_, err = ss.StreamV1alpha1().Sessions("bob").Connect(context.Background(), s.Name, &streamv1alpha1.SessionConnectRequest{ClientIP: "not-an-ip"}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "clientIP") {
		t.Errorf("connect with a bad clientIP: %v, want 422 naming clientIP", err)
	}
}

// TestStaleConnectionRemoved: a connection whose heartbeats stop is deleted
// after the stale timeout (6s on the test stack), with an Event on the session.
func TestStaleConnectionRemoved(t *testing.T) {
	t.Parallel()
	ss, _ := clients(t, "alice")
	_, kube := clients(t, "admin")
	s := newSession(t, ss, "alice", "lifecycle-stale", "vscode", never, 0)
	conn, err := ss.StreamV1alpha1().Connections("alice").Create(context.Background(), &streamv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{Name: "lifecycle-stale-viewer"},
		Spec:       streamv1alpha1.ConnectionSpec{Session: s.Name},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create connection: %v", err)
	}
	eventually(t, 45*time.Second, "the silent connection to be removed", func() (bool, error) {
		_, err := ss.StreamV1alpha1().Connections("alice").Get(context.Background(), conn.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
	if msg := waitEvent(t, kube, s, "StaleConnectionRemoved"); !strings.Contains(msg, conn.Name) {
		t.Errorf("event %q does not name the connection", msg)
	}
	waitSession(t, ss, "alice", s.Name, 30*time.Second, "no connection", func(s *streamv1alpha1.Session) bool {
		return s.Status.ActiveConnections == 0 && s.Status.LastDisconnect != nil
	})
}

// TestConnectWakesHibernatedSession: connecting to a hibernated session
// says it is starting, and the session runs again; the wake is measured.
func TestConnectWakesHibernatedSession(t *testing.T) {
	t.Parallel()
	ss, _ := clients(t, "bob")
	_, kube := clients(t, "admin")
	s := newSession(t, ss, "bob", "lifecycle-wake", "vscode", never, 0)
	waitSession(t, ss, "bob", s.Name, startTimeout, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	mustKubectl(t, "bob", "", "-n", "bob", "patch", "session", s.Name, "--type=merge", "-p", `{"spec":{"state":"hibernated"}}`)
	s = waitSession(t, ss, "bob", s.Name, startTimeout, "Hibernated", phaseIs(streamv1alpha1.SessionPhaseHibernated))
	if pods := sessionPods(t, kube, s); len(pods) != 0 {
		t.Errorf("hibernated session still has pods: %d", len(pods))
	}
	wakesBefore := controllerMetric(t, "streamspace_session_wake_duration_seconds_count")

	resp, err := ss.StreamV1alpha1().Sessions("bob").Connect(context.Background(), s.Name, &streamv1alpha1.SessionConnectRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if resp.State != "Starting" || !strings.Contains(resp.Message, "starting") {
		t.Errorf("connect to a hibernated session answered %+v, want state Starting", resp)
	}
	s = waitSession(t, ss, "bob", s.Name, startTimeout, "Running again", phaseIs(streamv1alpha1.SessionPhaseRunning))
	if s.Spec.State != streamv1alpha1.SessionStateRunning {
		t.Errorf("spec.state %s after connect", s.Spec.State)
	}
	eventually(t, 10*time.Second, "the wake to be measured", func() (bool, error) {
		return controllerMetric(t, "streamspace_session_wake_duration_seconds_count") > wakesBefore, nil
	})
	waitEvent(t, kube, s, "Woke")
}

// TestMaxSessionDurationTerminates: a session that reaches its
// maxSessionDuration is terminated, its workload removed, and an Event says why.
func TestMaxSessionDurationTerminates(t *testing.T) {
	t.Parallel()
	ss, _ := clients(t, "alice")
	_, kube := clients(t, "admin")
	s := newSession(t, ss, "alice", "lifecycle-maxduration", "vscode", never, 8*time.Second)
	s = waitSession(t, ss, "alice", s.Name, startTimeout, "Terminated", phaseIs(streamv1alpha1.SessionPhaseTerminated))
	if s.Spec.State != streamv1alpha1.SessionStateTerminated || s.Status.Reason != "MaxSessionDurationExceeded" {
		t.Errorf("state %s, reason %s; want terminated, MaxSessionDurationExceeded", s.Spec.State, s.Status.Reason)
	}
	if _, err := kube.AppsV1().Deployments("alice").Get(context.Background(), s.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("deployment of a terminated session: %v, want NotFound", err)
	}
	if msg := waitEvent(t, kube, s, "MaxSessionDurationExceeded"); !strings.Contains(msg, "8s") {
		t.Errorf("event %q does not give the limit", msg)
	}
}

// TestDeletedSessionChildrenCollectedHomeKept: deleting a session removes
// its Deployment, Service, Ingress and pod; the user's home claim stays.
func TestDeletedSessionChildrenCollectedHomeKept(t *testing.T) {
	t.Parallel()
	ss, _ := clients(t, "bob")
	_, kube := clients(t, "admin")
	s := newSession(t, ss, "bob", "lifecycle-delete", "firefox", never, 0)
	waitSession(t, ss, "bob", s.Name, startTimeout, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	if err := ss.StreamV1alpha1().Sessions("bob").Delete(context.Background(), s.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the session's children to be garbage-collected", func() (bool, error) {
		for what, get := range map[string]func() error{
			"deployment": func() error {
				_, err := kube.AppsV1().Deployments("bob").Get(context.Background(), s.Name, metav1.GetOptions{})
				return err
			},
			"service": func() error {
				_, err := kube.CoreV1().Services("bob").Get(context.Background(), s.Name, metav1.GetOptions{})
				return err
			},
			"ingress": func() error {
				_, err := kube.NetworkingV1().Ingresses("bob").Get(context.Background(), s.Name, metav1.GetOptions{})
				return err
			},
		} {
			if err := get(); !apierrors.IsNotFound(err) {
				return false, fmt.Errorf("%s still there (%v)", what, err)
			}
		}
		if pods := sessionPods(t, kube, s); len(pods) > 0 {
			return false, fmt.Errorf("%d pods left", len(pods))
		}
		return true, nil
	})
	if _, err := kube.CoreV1().PersistentVolumeClaims("bob").Get(context.Background(), "home-bob", metav1.GetOptions{}); err != nil {
		t.Errorf("home claim after the session was deleted: %v", err)
	}
}

// TestTwoSessionsOfOneTemplateCoexist: the old controller named workloads
// by user and template, so a second session broke the first.
func TestTwoSessionsOfOneTemplateCoexist(t *testing.T) {
	t.Parallel()
	ss, _ := clients(t, "alice")
	first := newSession(t, ss, "alice", "lifecycle-twin-a", "vscode", never, 0)
	second := newSession(t, ss, "alice", "lifecycle-twin-b", "vscode", never, 0)
	a := waitSession(t, ss, "alice", first.Name, startTimeout, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	b := waitSession(t, ss, "alice", second.Name, startTimeout, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	if a.Status.PodName == b.Status.PodName || a.Status.URL == b.Status.URL {
		t.Errorf("the two sessions share a pod (%s, %s) or url (%s, %s)", a.Status.PodName, b.Status.PodName, a.Status.URL, b.Status.URL)
	}
	// Both stay Running: neither took the other's workload over.
	time.Sleep(2 * time.Second)
	for _, name := range []string{first.Name, second.Name} {
		s, err := ss.StreamV1alpha1().Sessions("alice").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil || s.Status.Phase != streamv1alpha1.SessionPhaseRunning {
			t.Errorf("session %s: %v, phase %v", name, err, s.Status.Phase)
		}
	}
}
