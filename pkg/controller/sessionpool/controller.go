// Package sessionpool is the controller that keeps a SessionPool's
// workloads ready: a Deployment of the template's pod (made for the pool's
// user, or for nobody), which refills itself when a session claims a pod
// (the claim takes the pod out of the Deployment's selector), the home
// claim of the pool's user, the recycling of pods older than maxAge, and
// the pool's status. Claiming is the session controller's
// (pkg/controller/sessionworkload), which starts a session on a pool's pod.
package sessionpool

import (
	"context"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/naming"
	"github.com/streamspace/controlplane/pkg/controller/platformconfig"
	"github.com/streamspace/controlplane/pkg/controller/sessionpod"
	"github.com/streamspace/controlplane/pkg/controller/templatecheck"
	"github.com/streamspace/controlplane/pkg/controller/worker"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	streamlisters "github.com/streamspace/controlplane/pkg/generated/listers/stream/v1alpha1"
)

// Name is the controller's name in --controllers.
const Name = "pool"

// Event reasons.
const (
	ReasonRecycled = "Recycled"
)

// Registration registers the controller.
func Registration() manager.Registration {
	return manager.Registration{Name: Name, New: func(c manager.Context) (manager.Controller, error) {
		return New(c)
	}}
}

// Controller keeps pools filled.
type Controller struct {
	kube     kubernetes.Interface
	stream   clientset.Interface
	clock    clock.Clock
	recorder record.EventRecorder
	config   *platformconfig.Source
	queue    workqueue.TypedRateLimitingInterface[string]

	pools       streamlisters.SessionPoolLister
	templates   streamlisters.TemplateLister
	deployments appslisters.DeploymentLister
	pods        corelisters.PodLister
	claims      corelisters.PersistentVolumeClaimLister
	synced      []cache.InformerSynced
}

// New builds the controller and registers its informers.
func New(c manager.Context) (*Controller, error) {
	poolInf := c.StreamInformers.Stream().V1alpha1().SessionPools()
	templateInf := c.StreamInformers.Stream().V1alpha1().Templates()
	deploymentInf := c.ManagedKubeInformers.Apps().V1().Deployments()
	podInf := c.ManagedKubeInformers.Core().V1().Pods()
	claimInf := c.ManagedKubeInformers.Core().V1().PersistentVolumeClaims()
	config := platformconfig.New(c.StreamInformers)
	ctrl := &Controller{
		kube: c.KubeClient, stream: c.StreamClient, clock: c.Clock, recorder: c.EventRecorder(Name), config: config,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name, Clock: c.Clock}),
		pools: poolInf.Lister(), templates: templateInf.Lister(), deployments: deploymentInf.Lister(),
		pods: podInf.Lister(), claims: claimInf.Lister(),
	}
	handlers := []struct {
		informer cache.SharedIndexInformer
		enqueue  func(metav1.Object)
	}{
		{poolInf.Informer(), func(m metav1.Object) { ctrl.queue.Add(m.GetNamespace() + "/" + m.GetName()) }},
		{deploymentInf.Informer(), ctrl.enqueuePoolOf},
		{podInf.Informer(), ctrl.enqueuePoolOf},
		{templateInf.Informer(), ctrl.enqueueTemplatePools},
	}
	for _, h := range handlers {
		f := h.enqueue
		handler := func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if m, ok := obj.(metav1.Object); ok {
				f(m)
			}
		}
		if _, err := h.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: handler, UpdateFunc: func(_, obj any) { handler(obj) }, DeleteFunc: handler,
		}); err != nil {
			return nil, fmt.Errorf("watch for the pool controller: %w", err)
		}
		ctrl.synced = append(ctrl.synced, h.informer.HasSynced)
	}
	ctrl.synced = append(ctrl.synced, claimInf.Informer().HasSynced, config.HasSynced)
	return ctrl, nil
}

// enqueuePoolOf enqueues the pool named in an object's annotation: a
// pool's Deployment and pods, and pods claimed from it.
func (c *Controller) enqueuePoolOf(m metav1.Object) {
	if name := m.GetAnnotations()[stream.PoolNameAnnotation]; name != "" {
		c.queue.Add(m.GetNamespace() + "/" + name)
	}
}

func (c *Controller) enqueueTemplatePools(m metav1.Object) {
	pools, err := c.pools.SessionPools(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, p := range pools {
		if p.Spec.Template == m.GetName() {
			c.queue.Add(p.Namespace + "/" + p.Name)
		}
	}
}

// Run implements manager.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return worker.Run(ctx, Name, c.synced, worker.Queue{Queue: c.queue, Workers: workers, What: "sync pool", Sync: c.sync})
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.pools.SessionPools(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // its Deployment is garbage-collected through its owner reference
	}
	if err != nil || cached.DeletionTimestamp != nil {
		return err
	}
	pool := cached.DeepCopy()
	now := c.clock.Now()
	status := pool.Status.DeepCopy()
	status.ObservedGeneration = pool.Generation

	tpl, err := c.templates.Templates(namespace).Get(pool.Spec.Template)
	switch {
	case apierrors.IsNotFound(err):
		c.setReady(status, pool, false, "TemplateNotFound", fmt.Sprintf("template %q does not exist in namespace %s", pool.Spec.Template, namespace), now)
		return c.writeStatus(ctx, cached, status)
	case err != nil:
		return err
	}
	if problems := templatecheck.Check(tpl); len(problems) > 0 {
		c.setReady(status, pool, false, "TemplateInvalid", fmt.Sprintf("template %q is invalid: %s", tpl.Name, problems.ToAggregate().Error()), now)
		return c.writeStatus(ctx, cached, status)
	}
	tpl = sessionpod.WithPlatformDefaults(c.config, tpl)

	if pool.Spec.User != "" {
		if err := c.ensureHomeClaim(ctx, pool); err != nil {
			return err
		}
	}
	if err := c.ensureDeployment(ctx, pool, tpl); err != nil {
		if apierrors.IsForbidden(err) {
			c.setReady(status, pool, false, "WorkloadForbidden", err.Error(), now)
			if werr := c.writeStatus(ctx, cached, status); werr != nil {
				return werr
			}
		}
		return err
	}

	pods, err := c.pods.Pods(namespace).List(labels.SelectorFromSet(sessionpod.PoolSelector(pool)))
	if err != nil {
		return err
	}
	var live []*corev1.Pod
	ready := int32(0)
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Annotations[stream.PoolNameAnnotation] != pool.Name {
			continue
		}
		live = append(live, p)
		if sessionpod.Ready(p) {
			ready++
		}
	}
	if err := c.recycle(ctx, pool, live, ready, now, key); err != nil {
		return err
	}
	claimed, err := c.pods.Pods(namespace).List(labels.SelectorFromSet(map[string]string{stream.ClaimedFromLabel: naming.LabelValue(pool.Name)}))
	if err != nil {
		return err
	}
	status.Replicas, status.ReadyReplicas, status.Claimed = int32(len(live)), ready, 0
	for _, p := range claimed {
		if p.DeletionTimestamp == nil && p.Annotations[stream.PoolNameAnnotation] == pool.Name {
			status.Claimed++
		}
	}
	full := ready >= pool.Spec.Replicas
	c.setReady(status, pool, full, map[bool]string{true: "PoolFull", false: "Filling"}[full],
		fmt.Sprintf("%d of %d workloads ready to be claimed", ready, pool.Spec.Replicas), now)
	return c.writeStatus(ctx, cached, status)
}

// recycle replaces one unclaimed pod older than maxAge at a time, and only
// while the pool is full, so that recycling never leaves a session without
// a ready workload; the Deployment starts the replacement.
func (c *Controller) recycle(ctx context.Context, pool *streamv1alpha1.SessionPool, live []*corev1.Pod, ready int32, now time.Time, key string) error {
	if pool.Spec.MaxAge == nil || pool.Spec.MaxAge.Duration <= 0 || len(live) == 0 {
		return nil
	}
	maxAge := pool.Spec.MaxAge.Duration
	sort.Slice(live, func(i, j int) bool { return live[i].CreationTimestamp.Before(&live[j].CreationTimestamp) })
	oldest := live[0]
	expires := oldest.CreationTimestamp.Add(maxAge)
	if now.Before(expires) {
		c.queue.AddAfter(key, expires.Sub(now))
		return nil
	}
	if ready < pool.Spec.Replicas {
		c.queue.AddAfter(key, 5*time.Second) // once refilled
		return nil
	}
	err := c.kube.CoreV1().Pods(pool.Namespace).Delete(ctx, oldest.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &oldest.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("recycle pool pod %s/%s: %w", pool.Namespace, oldest.Name, err)
	}
	klog.FromContext(ctx).Info("recycled unclaimed pool workload", "pool", klog.KObj(pool), "pod", oldest.Name, "age", now.Sub(oldest.CreationTimestamp.Time).Round(time.Second))
	c.recorder.Eventf(pool, corev1.EventTypeNormal, ReasonRecycled, "Replacing pod %s, unclaimed for longer than maxAge %s", oldest.Name, maxAge)
	return nil
}

func (c *Controller) ensureHomeClaim(ctx context.Context, pool *streamv1alpha1.SessionPool) error {
	name := naming.HomeClaimName(pool.Spec.User)
	if _, err := c.claims.PersistentVolumeClaims(pool.Namespace).Get(name); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	size, class := c.config.Home(resource.MustParse(streamv1alpha1.DefaultHomeVolumeSize), "")
	_, err := c.kube.CoreV1().PersistentVolumeClaims(pool.Namespace).Create(ctx, sessionpod.DesiredPoolHomeClaim(pool, size, class), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create home claim %s/%s: %w", pool.Namespace, name, err)
	}
	return nil
}

func (c *Controller) ensureDeployment(ctx context.Context, pool *streamv1alpha1.SessionPool, tpl *streamv1alpha1.Template) error {
	pod := sessionpod.PoolPodTemplate(pool, tpl)
	desired := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: sessionpod.PoolChildName(pool), Namespace: pool.Namespace, Labels: sessionpod.PoolLabels(pool),
			Annotations: map[string]string{
				stream.PoolNameAnnotation: pool.Name,
				stream.SpecHashAnnotation: pod.Annotations[stream.SpecHashAnnotation],
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(pool, streamv1alpha1.SchemeGroupVersion.WithKind("SessionPool"))},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas:             ptr.To(pool.Spec.Replicas),
			Selector:             &metav1.LabelSelector{MatchLabels: sessionpod.PoolSelector(pool)},
			Template:             pod,
			RevisionHistoryLimit: ptr.To(int32(2)),
		},
	}
	client := c.kube.AppsV1().Deployments(pool.Namespace)
	existing, err := c.deployments.Deployments(pool.Namespace).Get(desired.Name)
	if apierrors.IsNotFound(err) {
		if _, err := client.Create(ctx, desired, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create pool deployment %s/%s: %w", pool.Namespace, desired.Name, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !metav1.IsControlledBy(existing, pool) {
		return fmt.Errorf("deployment %s/%s exists and is not the pool's", pool.Namespace, desired.Name)
	}
	if ptr.Deref(existing.Spec.Replicas, 0) == pool.Spec.Replicas &&
		existing.Annotations[stream.SpecHashAnnotation] == desired.Annotations[stream.SpecHashAnnotation] {
		return nil
	}
	update := existing.DeepCopy()
	update.Spec.Replicas, update.Spec.Template = desired.Spec.Replicas, desired.Spec.Template
	update.Labels, update.Annotations = desired.Labels, desired.Annotations
	if _, err := client.Update(ctx, update, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update pool deployment %s/%s: %w", pool.Namespace, desired.Name, err)
	}
	return nil
}

func (c *Controller) setReady(status *streamv1alpha1.SessionPoolStatus, pool *streamv1alpha1.SessionPool, ok bool, reason, msg string, now time.Time) {
	cond := metav1.Condition{Type: stream.SessionPoolConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: msg,
		ObservedGeneration: pool.Generation, LastTransitionTime: metav1.NewTime(now)}
	if ok {
		cond.Status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&status.Conditions, cond)
}

func (c *Controller) writeStatus(ctx context.Context, cached *streamv1alpha1.SessionPool, status *streamv1alpha1.SessionPoolStatus) error {
	if apiequality.Semantic.DeepEqual(&cached.Status, status) {
		return nil
	}
	update := cached.DeepCopy()
	update.Status = *status
	if _, err := c.stream.StreamV1alpha1().SessionPools(cached.Namespace).UpdateStatus(ctx, update, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of pool %s/%s: %w", cached.Namespace, cached.Name, err)
	}
	return nil
}
