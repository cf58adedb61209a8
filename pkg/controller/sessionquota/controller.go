// Package sessionquota is the controller that recomputes each SessionQuota's
// usage from the sessions and home claims that exist, so the status is true
// after deletes, hibernations, creates that failed after admission charged
// them, and restarts. Admission charges the status ahead of the stored
// change (pending charges); this controller drops a pending charge once the
// session shows it, or after a grace period.
//
// The status is written with an update carrying the quota's resourceVersion,
// not with server-side apply: admission charges the same fields
// concurrently, and a recomputation from a stale quota must lose (conflict,
// retry) rather than overwrite a charge it did not see.
//
// Home storage counts the claims that exist and, at the size of a new
// claim, those the session controller is about to make for sessions whose
// user has none in their namespace yet: the platform configuration's
// spec.home.volumeSize, else the default of --home-size (10Gi). This
// controller does not see the session controller's flag; when
// streamspace-controller runs with another --home-size and the
// configuration sets no size, a claim not yet made counts at 10Gi until it
// exists.
package sessionquota

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/platformconfig"
	"github.com/streamspace/controlplane/pkg/controller/worker"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	streamlisters "github.com/streamspace/controlplane/pkg/generated/listers/stream/v1alpha1"
	quota "github.com/streamspace/controlplane/pkg/sessionquota"
)

// Name is the controller's name in --controllers.
const Name = "sessionquota"

// ConditionUsageComputed says the usage was last computed from the stored sessions.
const ConditionUsageComputed = "UsageComputed"

// Registration registers the controller; it has no flags.
func Registration() manager.Registration {
	return manager.Registration{Name: Name, New: func(c manager.Context) (manager.Controller, error) { return New(c) }}
}

// Controller recomputes SessionQuota usage.
type Controller struct {
	stream   clientset.Interface
	quotas   streamlisters.SessionQuotaLister
	sessions streamlisters.SessionLister
	claims   corelisters.PersistentVolumeClaimLister
	config   *platformconfig.Source
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	clock    clock.Clock
}

// New builds the controller.
func New(c manager.Context) (*Controller, error) {
	quotas := c.StreamInformers.Stream().V1alpha1().SessionQuotas()
	sessions := c.StreamInformers.Stream().V1alpha1().Sessions()
	claims := c.ManagedKubeInformers.Core().V1().PersistentVolumeClaims()
	config := platformconfig.New(c.StreamInformers)
	ctrl := &Controller{
		stream: c.StreamClient, quotas: quotas.Lister(), sessions: sessions.Lister(), claims: claims.Lister(), config: config,
		synced: []cache.InformerSynced{quotas.Informer().HasSynced, sessions.Informer().HasSynced, claims.Informer().HasSynced, config.HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name, Clock: c.Clock}),
		clock: c.Clock,
	}
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			ctrl.queue.Add(key)
		}
	}
	if _, err := quotas.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return nil, fmt.Errorf("watch session quotas: %w", err)
	}
	// Any session or home claim may change any quota's usage; quotas are few.
	all := func(any) { ctrl.enqueueAll(c.Logger) }
	handler := cache.ResourceEventHandlerFuncs{AddFunc: all, UpdateFunc: func(_, obj any) { all(obj) }, DeleteFunc: all}
	if _, err := sessions.Informer().AddEventHandler(handler); err != nil {
		return nil, fmt.Errorf("watch sessions: %w", err)
	}
	if _, err := claims.Informer().AddEventHandler(handler); err != nil {
		return nil, fmt.Errorf("watch home claims: %w", err)
	}
	// The size of a claim not yet made is the configuration's.
	if err := platformconfig.RequeueOnChange(config, quotas.Lister().List,
		func(q *streamv1alpha1.SessionQuota) { ctrl.queue.Add(q.Name) }); err != nil {
		return nil, err
	}
	return ctrl, nil
}

func (c *Controller) enqueueAll(logger klog.Logger) {
	all, err := c.quotas.List(labels.Everything())
	if err != nil {
		logger.Error(err, "list session quotas")
		return
	}
	for _, q := range all {
		c.queue.Add(q.Name)
	}
}

// Run implements manager.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return worker.Run(ctx, Name, c.synced, worker.Queue{Queue: c.queue, Workers: workers, What: "recompute session quota", Sync: c.sync})
}

func (c *Controller) sync(ctx context.Context, name string) error {
	q, err := c.quotas.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	sessions, err := c.sessions.List(labels.Everything())
	if err != nil {
		return err
	}
	claims, err := c.claims.List(quota.HomeClaimSelector)
	if err != nil {
		return err
	}
	now := c.clock.Now()
	newClaim, _ := c.config.Home(resource.MustParse(streamv1alpha1.DefaultHomeVolumeSize), "")
	status := quota.Recompute(q, sessions, quota.HomeClaims(claims), newClaim, now)
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type: ConditionUsageComputed, Status: metav1.ConditionTrue, Reason: "Computed",
		Message:            fmt.Sprintf("usage of %d people computed from the stored sessions", len(status.Usage)),
		ObservedGeneration: q.Generation, LastTransitionTime: metav1.NewTime(now),
	})
	if len(status.Pending) > 0 {
		// Pending charges expire: look again when the oldest may have.
		c.queue.AddAfter(name, quota.PendingGrace)
	}
	if apiequality.Semantic.DeepEqual(q.Status, status) {
		return nil
	}
	updated := q.DeepCopy()
	updated.Status = status
	if _, err := c.stream.StreamV1alpha1().SessionQuotas().UpdateStatus(ctx, updated, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		// A conflict means admission charged meanwhile: recompute from the newer quota.
		return fmt.Errorf("update status of session quota %s: %w", name, err)
	}
	klog.FromContext(ctx).V(2).Info("recomputed session quota", "quota", name, "people", len(status.Usage), "pending", len(status.Pending))
	return nil
}

const fieldManager = "sessionquota-controller"
