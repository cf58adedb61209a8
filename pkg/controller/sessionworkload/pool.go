package sessionworkload

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/naming"
	"github.com/streamspace/controlplane/pkg/controller/sessionpod"
)

// poolServes tells whether a pool's workloads fit a session: the same
// template, and the same home (the pool's user's for a session of that
// user with a persistent home; none for a session without one).
func poolServes(p *streamv1alpha1.SessionPool, s *streamv1alpha1.Session) bool {
	if p.DeletionTimestamp != nil || p.Spec.Template != s.Spec.Template {
		return false
	}
	if p.Spec.User == "" {
		return !streamv1alpha1.UsesHome(s)
	}
	return p.Spec.User == s.Spec.User && streamv1alpha1.UsesHome(s)
}

// claimable tells whether a session should look for a pool workload: it
// wants to run, has no pod, and its Deployment is not starting one.
func (c *Controller) claimable(s *streamv1alpha1.Session, pods []*corev1.Pod) bool {
	if s.Spec.State != streamv1alpha1.SessionStateRunning {
		return false
	}
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			return false
		}
	}
	d, err := c.deployments.Deployments(s.Namespace).Get(ChildName(s))
	if err == nil {
		return d.Spec.Replicas != nil && *d.Spec.Replicas == 0
	}
	return apierrors.IsNotFound(err)
}

// claimFromPool hands a ready workload of a pool that fits the session to
// it: the pod leaves the pool (its ReplicaSet no longer selects it and
// starts another: the pool refills), carries the session's labels (its
// Service selects it), the session's identity in its annotations (the
// identity volume shows them to the application), and the session as its
// owner. The patch is conditional on the pod's resourceVersion, so two
// sessions never claim one pod. It returns the claimed pod and the pool's
// name, or nil when no pool has one.
func (c *Controller) claimFromPool(ctx context.Context, s *streamv1alpha1.Session, tpl *streamv1alpha1.Template, now time.Time) (*corev1.Pod, string, error) {
	pools, err := c.pools.SessionPools(s.Namespace).List(labels.Everything())
	if err != nil || len(pools) == 0 {
		return nil, "", err
	}
	want := sessionpod.ContainerResources(s, tpl)
	for _, pool := range pools {
		if !poolServes(pool, s) {
			continue
		}
		hash := sessionpod.PoolPodTemplate(pool, tpl).Annotations[stream.SpecHashAnnotation]
		candidates, err := c.pods.Pods(s.Namespace).List(labels.SelectorFromSet(sessionpod.PoolSelector(pool)))
		if err != nil {
			return nil, "", err
		}
		// The oldest ready one first: the next to be recycled.
		sort.Slice(candidates, func(i, j int) bool {
			return candidates[i].CreationTimestamp.Before(&candidates[j].CreationTimestamp)
		})
		for _, pod := range candidates {
			if pod.DeletionTimestamp != nil || !podReady(pod) || pod.Annotations[stream.SpecHashAnnotation] != hash ||
				pod.Annotations[stream.PoolNameAnnotation] != pool.Name || len(pod.Spec.Containers) == 0 ||
				!apiequality.Semantic.DeepEqual(pod.Spec.Containers[0].Resources, want) {
				continue
			}
			claimed, err := c.claimPod(ctx, s, pool, pod, now)
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				continue // claimed or changed by someone else meanwhile
			}
			if err != nil {
				return nil, "", err
			}
			c.claimsInFlight.Store(s.Namespace+"/"+s.Name, claimed)
			klog.FromContext(ctx).Info("claimed pool workload", "session", klog.KObj(s), "pool", pool.Name, "pod", pod.Name)
			c.recorder.Eventf(s, corev1.EventTypeNormal, ReasonClaimed, "Claimed pod %s, ready, from pool %s", pod.Name, pool.Name)
			return claimed, pool.Name, nil
		}
	}
	return nil, "", nil
}

func (c *Controller) claimPod(ctx context.Context, s *streamv1alpha1.Session, pool *streamv1alpha1.SessionPool, pod *corev1.Pod, now time.Time) (*corev1.Pod, error) {
	set := map[string]any{stream.PoolLabel: nil, stream.ClaimedFromLabel: naming.LabelValue(pool.Name)}
	for k, v := range sessionpod.SessionLabels(s) {
		set[k] = v
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": pod.ResourceVersion,
		"labels":          set,
		"annotations": map[string]any{
			stream.SessionNameAnnotation: s.Name,
			stream.UserNameAnnotation:    s.Spec.User,
			stream.ClaimedAtAnnotation:   now.UTC().Format(time.RFC3339Nano),
		},
		// The whole list: the pool's ReplicaSet is no longer its controller.
		"ownerReferences": []metav1.OwnerReference{sessionpod.OwnerReference(s)},
	}})
	if err != nil {
		return nil, fmt.Errorf("encode the claim of pod %s: %w", pod.Name, err)
	}
	return c.kube.CoreV1().Pods(s.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{})
}

// releaseClaimedPods deletes the pool workloads a session claimed once it
// no longer runs: they are its pods, not its Deployment's, so nothing else
// scales them to zero. A later start claims again or starts cold.
func (c *Controller) releaseClaimedPods(ctx context.Context, s *streamv1alpha1.Session, pods []*corev1.Pod) error {
	for _, p := range pods {
		if p.Labels[stream.ClaimedFromLabel] == "" || p.DeletionTimestamp != nil || !metav1.IsControlledBy(p, s) {
			continue
		}
		err := c.kube.CoreV1().Pods(s.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete claimed pod %s/%s: %w", s.Namespace, p.Name, err)
		}
	}
	return nil
}

// runsOnClaim tells whether a live pod the session claimed from a pool
// serves it, so that its Deployment stays at zero.
func runsOnClaim(s *streamv1alpha1.Session, pods []*corev1.Pod) bool {
	return claimedFrom(s, pods) != ""
}

// claimedFrom is the pool of the live pod the session claimed.
func claimedFrom(s *streamv1alpha1.Session, pods []*corev1.Pod) string {
	for _, p := range pods {
		if p.Labels[stream.ClaimedFromLabel] != "" && p.DeletionTimestamp == nil && metav1.IsControlledBy(p, s) {
			if name := p.Annotations[stream.PoolNameAnnotation]; name != "" {
				return name
			}
			return p.Labels[stream.ClaimedFromLabel]
		}
	}
	return ""
}

// claimInFlight returns the pod the controller claimed for the session
// when its pod cache does not show the claim yet: until it does, the
// session is served by that pod (no second claim, no cold start).
func (c *Controller) claimInFlight(s *streamv1alpha1.Session) (*corev1.Pod, bool) {
	key := s.Namespace + "/" + s.Name
	v, ok := c.claimsInFlight.Load(key)
	if !ok {
		return nil, false
	}
	claimed := v.(*corev1.Pod)
	cached, err := c.pods.Pods(s.Namespace).Get(claimed.Name)
	if err == nil && cached.UID == claimed.UID && cached.Labels[stream.ClaimedFromLabel] == "" && cached.DeletionTimestamp == nil {
		return claimed, true
	}
	c.claimsInFlight.Delete(key) // seen claimed, or gone
	return nil, false
}
