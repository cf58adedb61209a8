// Package hibernation is the controller that puts idle sessions to sleep,
// warns of it beforehand (the IdleWarning condition and an Event), and wakes
// them when a viewer connects. Deadlines come from persisted timestamps
// (status and conditions), never from in-memory timers, so a restarted
// controller, or a new leader, warns and hibernates on time.
package hibernation

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/connectionindex"
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/metrics"
	"github.com/streamspace/controlplane/pkg/controller/platformconfig"
	"github.com/streamspace/controlplane/pkg/controller/statusapply"
	"github.com/streamspace/controlplane/pkg/controller/worker"
	streamapply "github.com/streamspace/controlplane/pkg/generated/applyconfiguration/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	streaminformers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions/stream/v1alpha1"
	streamlisters "github.com/streamspace/controlplane/pkg/generated/listers/stream/v1alpha1"
)

// Name is the controller's name in --controllers.
const Name = "hibernation"

// Event reasons.
const (
	ReasonIdleHibernation = "IdleTimeout"
	ReasonWaking          = "Waking"
	ReasonIdleWarning     = "IdleWarning"
)

// DefaultIdleWarningLead is how long before an idle session hibernates its
// owner is warned, unless --idle-warning-lead says otherwise.
const DefaultIdleWarningLead = 5 * time.Minute

// Options configure hibernation.
type Options struct {
	// DefaultIdleTimeout applies to sessions without spec.idleTimeout
	// (the API defaults it to 30m, so only sessions stored without one).
	DefaultIdleTimeout time.Duration
	// IdleWarningLead is how long before hibernating an idle session the
	// session gets the IdleWarning condition and an Event; 0 never warns.
	IdleWarningLead time.Duration
}

// AddFlags adds the hibernation controller's flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.DefaultIdleTimeout, "default-idle-timeout", o.DefaultIdleTimeout, "Idle timeout of sessions without spec.idleTimeout; 0 never hibernates them.")
	fs.DurationVar(&o.IdleWarningLead, "idle-warning-lead", o.IdleWarningLead, "How long before an idle session hibernates it gets the IdleWarning condition and Event, which the bridge forwards to its owner's feeds; 0 never warns.")
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.DefaultIdleTimeout < 0 {
		return fmt.Errorf("--default-idle-timeout must not be negative, got %s", o.DefaultIdleTimeout)
	}
	if o.IdleWarningLead < 0 {
		return fmt.Errorf("--idle-warning-lead must not be negative (0 never warns), got %s", o.IdleWarningLead)
	}
	return nil
}

// Registration registers the controller with its default options.
func Registration() manager.Registration {
	opts := &Options{DefaultIdleTimeout: streamv1alpha1.DefaultIdleTimeout, IdleWarningLead: DefaultIdleWarningLead}
	return manager.Registration{Name: Name, Options: opts, New: func(c manager.Context) (manager.Controller, error) {
		return New(c, *opts)
	}}
}

// Controller hibernates idle sessions and wakes hibernated ones on connect.
type Controller struct {
	opts     Options
	stream   clientset.Interface
	clock    clock.Clock
	recorder record.EventRecorder
	sessions streamlisters.SessionLister
	connInf  streaminformers.ConnectionInformer
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	// config holds the platform's default idle timeout and whether idle
	// sessions hibernate at all, over opts.
	config *platformconfig.Source
}

// New builds the controller.
func New(c manager.Context, opts Options) (*Controller, error) {
	sessionInf := c.StreamInformers.Stream().V1alpha1().Sessions()
	connInf := c.StreamInformers.Stream().V1alpha1().Connections()
	if err := connectionindex.IndexBySession(connInf); err != nil {
		return nil, err
	}
	config := platformconfig.New(c.StreamInformers)
	ctrl := &Controller{
		opts: opts, stream: c.StreamClient, clock: c.Clock, recorder: c.EventRecorder(Name),
		sessions: sessionInf.Lister(), connInf: connInf, config: config,
		synced: []cache.InformerSynced{sessionInf.Informer().HasSynced, connInf.Informer().HasSynced, config.HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name, Clock: c.Clock}),
	}
	enqueueSession := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			ctrl.queue.Add(key)
		}
	}
	enqueueConnectionSession := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if conn, ok := obj.(*streamv1alpha1.Connection); ok {
			ctrl.queue.Add(conn.Namespace + "/" + conn.Spec.Session)
		}
	}
	if _, err := sessionInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueueSession, UpdateFunc: func(_, obj any) { enqueueSession(obj) },
	}); err != nil {
		return nil, fmt.Errorf("watch sessions: %w", err)
	}
	if _, err := connInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueueConnectionSession, DeleteFunc: enqueueConnectionSession,
	}); err != nil {
		return nil, fmt.Errorf("watch connections: %w", err)
	}
	// A new default idle timeout, or hibernation turned off or on, moves
	// every session's deadline.
	if err := platformconfig.RequeueOnChange(config, ctrl.sessions.List,
		func(s *streamv1alpha1.Session) { enqueueSession(s) }); err != nil {
		return nil, err
	}
	return ctrl, nil
}

// Run implements manager.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return worker.Run(ctx, Name, c.synced, worker.Queue{Queue: c.queue, Workers: workers, What: "sync hibernation", Sync: c.sync})
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.sessions.Sessions(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	conns, err := connectionindex.OfSession(c.connInf, namespace, name)
	if err != nil {
		return err
	}
	if waking := WakingConnection(cached, conns); waking != nil {
		return c.wake(ctx, cached.DeepCopy(), waking)
	}

	now := c.clock.Now()
	next := cached.Status.DeepCopy()
	next.HibernateAt = nil
	stored := meta.FindStatusCondition(cached.Status.Conditions, stream.SessionConditionIdleWarning)
	var warning *metav1.Condition
	if at, ok := HibernateAt(cached, len(conns), c.config.DefaultIdleTimeout(c.opts.DefaultIdleTimeout)); ok && c.config.AutoHibernation() {
		if !now.Before(at) {
			return c.hibernate(ctx, cached.DeepCopy(), now)
		}
		mt := metav1.NewTime(at)
		next.HibernateAt = &mt
		warning = IdleWarning(stored, at, c.opts.IdleWarningLead, now)
		c.queue.AddAfter(key, NextCheck(at, c.opts.IdleWarningLead, now).Sub(now))
	}
	meta.RemoveStatusCondition(&next.Conditions, stream.SessionConditionIdleWarning)
	if warning != nil {
		next.Conditions = append(next.Conditions, *warning)
	}
	desired := statusApply(next)
	changed, err := statusapply.Changed(statusApply(&cached.Status), desired)
	if err != nil || !changed {
		return err
	}
	apply := streamapply.Session(name, namespace).WithStatus(desired)
	newWarning := warning != nil && !SameIdleWarning(stored, warning)
	if newWarning {
		// Applied only onto the resourceVersion it was computed from, so
		// that a reconcile from a stale cache conflicts instead of
		// recording the Event again.
		apply.WithResourceVersion(cached.ResourceVersion)
	}
	if _, err := c.stream.StreamV1alpha1().Sessions(namespace).ApplyStatus(ctx, apply, statusapply.Options(fieldManager)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("update hibernateAt and idle warning of session %s: %w", key, err)
	}
	if newWarning {
		klog.FromContext(ctx).V(2).Info("warned of idle hibernation", "session", klog.KObj(cached), "hibernateAt", next.HibernateAt.Time)
		c.recorder.Event(cached, corev1.EventTypeNormal, ReasonIdleWarning, warning.Message)
	}
	return nil
}

// fieldManager owns status.hibernateAt and the IdleWarning condition.
const fieldManager = "hibernation-controller"

// statusApply is the apply configuration of status.hibernateAt and the
// IdleWarning condition: applying it without one removes it.
func statusApply(st *streamv1alpha1.SessionStatus) *streamapply.SessionStatusApplyConfiguration {
	a := streamapply.SessionStatus()
	if st.HibernateAt != nil {
		a.WithHibernateAt(*st.HibernateAt)
	}
	if warning := meta.FindStatusCondition(st.Conditions, stream.SessionConditionIdleWarning); warning != nil {
		a.WithConditions(statusapply.Conditions([]metav1.Condition{*warning})...)
	}
	return a
}

// hibernate scales an idle session to zero. The update carries the cached
// resourceVersion: if a viewer connected meanwhile, it conflicts and the
// session is looked at again.
func (c *Controller) hibernate(ctx context.Context, s *streamv1alpha1.Session, now time.Time) error {
	idle := IdleTimeout(s, c.config.DefaultIdleTimeout(c.opts.DefaultIdleTimeout))
	idleFor := now.Sub(IdleSince(s)).Round(time.Second)
	s.Spec.State = streamv1alpha1.SessionStateHibernated
	if _, err := c.stream.StreamV1alpha1().Sessions(s.Namespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("hibernate idle session %s/%s: %w", s.Namespace, s.Name, err)
	}
	metrics.Hibernations.WithLabelValues("idle").Inc()
	klog.FromContext(ctx).Info("hibernated idle session", "session", klog.KObj(s), "idleFor", idleFor, "idleTimeout", idle)
	c.recorder.Eventf(s, corev1.EventTypeNormal, ReasonIdleHibernation, "Hibernating: no connection for %s (idleTimeout %s)", idleFor, idle)
	return nil
}

// wake starts a hibernated session a viewer connected to.
func (c *Controller) wake(ctx context.Context, s *streamv1alpha1.Session, by *streamv1alpha1.Connection) error {
	s.Spec.State = streamv1alpha1.SessionStateRunning
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[stream.WokenAtAnnotation] = by.CreationTimestamp.UTC().Format(time.RFC3339Nano)
	if _, err := c.stream.StreamV1alpha1().Sessions(s.Namespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("wake session %s/%s: %w", s.Namespace, s.Name, err)
	}
	klog.FromContext(ctx).Info("woke hibernated session", "session", klog.KObj(s), "connection", by.Name, "user", by.Spec.User)
	c.recorder.Eventf(s, corev1.EventTypeNormal, ReasonWaking, "Starting: connection %s of %s attached to the hibernated session", by.Name, by.Spec.User)
	return nil
}
