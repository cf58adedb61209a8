package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// TestSessionPool: an admin keeps a pool of two ready workloads of a
// template for alice. alice's new session of that template claims one: it
// is Running on the pool's pod (status.pool), personalised (alice's home
// claim mounted, her name in the pod's identity annotations, owned by the
// session) and the pool refills to two. The start is counted in the
// controller's start-duration histogram as a pool start. Hibernating the
// session gives the pod up; a session the pool does not fit (no persistent
// home) starts cold. The example manifest is accepted as it is.
func TestSessionPool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	adminSS, adminKube := clients(t, "admin")
	aliceSS, _ := clients(t, "alice")

	// A template of its own, so that the sessions of other tests (firefox)
	// never claim from this pool.
	firefox, err := adminSS.StreamV1alpha1().Templates("alice").Get(ctx, "firefox", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tpl := &streamv1alpha1.Template{ObjectMeta: metav1.ObjectMeta{Name: "pooled-firefox"}, Spec: firefox.Spec}
	if _, err := adminSS.StreamV1alpha1().Templates("alice").Create(ctx, tpl, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = adminSS.StreamV1alpha1().Templates("alice").Delete(context.Background(), tpl.Name, metav1.DeleteOptions{})
	})
	pool := &streamv1alpha1.SessionPool{
		ObjectMeta: metav1.ObjectMeta{Name: "pooled"},
		Spec:       streamv1alpha1.SessionPoolSpec{Template: tpl.Name, Replicas: 2, User: "alice"},
	}
	if _, err := aliceSS.StreamV1alpha1().SessionPools("alice").Create(ctx, pool, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("alice created a pool (pods kept running at the namespace's cost): %v, want 403", err)
	}
	if _, err := adminSS.StreamV1alpha1().SessionPools("alice").Create(ctx, pool, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = adminSS.StreamV1alpha1().SessionPools("alice").Delete(context.Background(), pool.Name, metav1.DeleteOptions{})
	})
	waitPool := func(what string, cond func(*streamv1alpha1.SessionPool) bool) *streamv1alpha1.SessionPool {
		t.Helper()
		var last *streamv1alpha1.SessionPool
		eventually(t, 90*time.Second, "pool: "+what, func() (bool, error) {
			p, err := adminSS.StreamV1alpha1().SessionPools("alice").Get(ctx, pool.Name, metav1.GetOptions{})
			last = p
			return err == nil && cond(p), err
		})
		return last
	}
	full := func(p *streamv1alpha1.SessionPool) bool { return p.Status.ReadyReplicas == 2 }
	waitPool("two ready workloads", full)
	out := mustKubectl(t, "alice", "", "get", "sessionpools", "-n", "alice", pool.Name)
	if !strings.Contains(out, "pooled-firefox") || !strings.Contains(out, "READY") {
		t.Errorf("kubectl get sessionpools:\n%s", out)
	}
	before := controllerMetric(t, `streamspace_session_start_duration_seconds_count{path="pool"}`)

	s := newSession(t, aliceSS, "alice", "from-pool", tpl.Name, 0, 0)
	running := waitSession(t, aliceSS, "alice", s.Name, 60*time.Second, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	if running.Status.Pool != pool.Name {
		t.Fatalf("status.pool = %q, want %q: the session did not start on the pool's workload", running.Status.Pool, pool.Name)
	}
	pod, err := adminKube.CoreV1().Pods("alice").Get(ctx, running.Status.PodName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !metav1.IsControlledBy(pod, running) {
		t.Errorf("claimed pod %s is controlled by %v, want the session", pod.Name, metav1.GetControllerOf(pod))
	}
	if pod.Annotations[stream.UserNameAnnotation] != "alice" || pod.Annotations[stream.SessionNameAnnotation] != s.Name || pod.Labels[stream.PoolLabel] != "" {
		t.Errorf("claimed pod is not personalised: labels %v, annotations %v", pod.Labels, pod.Annotations)
	}
	home := false
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "home-alice" {
			home = true
		}
	}
	if !home {
		t.Errorf("claimed pod %s does not mount alice's home claim: %+v", pod.Name, pod.Spec.Volumes)
	}
	if d, err := deploymentReplicas(t, adminKube, "alice", s.Name); err != nil || d != 0 {
		t.Errorf("the session's own Deployment: %d replicas (%v), want 0 while it runs on the claimed pod", d, err)
	}
	waitPool("refilled to two, one claimed", func(p *streamv1alpha1.SessionPool) bool { return full(p) && p.Status.Claimed == 1 })
	eventually(t, 30*time.Second, "the start counted as a pool start", func() (bool, error) {
		return controllerMetric(t, `streamspace_session_start_duration_seconds_count{path="pool"}`) >= before+1, nil
	})

	// Hibernated, the session gives its pod up.
	if _, err := aliceSS.StreamV1alpha1().Sessions("alice").Patch(ctx, s.Name, "application/merge-patch+json", []byte(`{"spec":{"state":"hibernated"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSession(t, aliceSS, "alice", s.Name, 60*time.Second, "Hibernated", phaseIs(streamv1alpha1.SessionPhaseHibernated))
	eventually(t, 60*time.Second, "the claimed pod is gone", func() (bool, error) {
		p, err := adminKube.CoreV1().Pods("alice").Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err) || (err == nil && p.DeletionTimestamp != nil), nil
	})
	waitPool("no workload claimed", func(p *streamv1alpha1.SessionPool) bool { return p.Status.Claimed == 0 })

	// Woken, it claims again; terminated, it gives the pod up too.
	if _, err := aliceSS.StreamV1alpha1().Sessions("alice").Patch(ctx, s.Name, "application/merge-patch+json", []byte(`{"spec":{"state":"running"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	woken := waitSession(t, aliceSS, "alice", s.Name, 60*time.Second, "Running again", phaseIs(streamv1alpha1.SessionPhaseRunning))
	if woken.Status.Pool != pool.Name {
		t.Errorf("woken session: status.pool = %q, want %q", woken.Status.Pool, pool.Name)
	}
	if _, err := aliceSS.StreamV1alpha1().Sessions("alice").Patch(ctx, s.Name, "application/merge-patch+json", []byte(`{"spec":{"state":"terminated"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSession(t, aliceSS, "alice", s.Name, 60*time.Second, "Terminated", phaseIs(streamv1alpha1.SessionPhaseTerminated))
	waitPool("no workload claimed after the termination", func(p *streamv1alpha1.SessionPool) bool { return p.Status.Claimed == 0 })

	// Without a persistent home the pool (alice's home mounted) does not fit.
	cold := &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "cold-start"},
		Spec:       streamv1alpha1.SessionSpec{Template: tpl.Name, PersistentHome: ptr.To(false)},
	}
	if _, err := aliceSS.StreamV1alpha1().Sessions("alice").Create(ctx, cold, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = aliceSS.StreamV1alpha1().Sessions("alice").Delete(context.Background(), cold.Name, metav1.DeleteOptions{})
	})
	coldRunning := waitSession(t, aliceSS, "alice", cold.Name, 60*time.Second, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	if coldRunning.Status.Pool != "" {
		t.Errorf("a session without a persistent home claimed from pool %s, whose pods mount alice's home", coldRunning.Status.Pool)
	}

	// The example is accepted as it is (server-side dry run: the shared
	// stack's firefox sessions are not to claim from it).
	mustKubectl(t, "admin", "", "apply", "--dry-run=server", "-f", "../../artifacts/examples/pool-firefox.yaml")
}
