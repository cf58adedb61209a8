// Package sessionschedule is the controller that starts and stops sessions
// on their spec.schedule: at a start time it sets the session running (the
// session-quota admission refuses that when the owner's quota forbids it),
// at a stop time hibernated, and it shows the next start and stop in
// status.schedule. What it last acted on is persisted in the status, so a
// restarted controller, or a new leader, acts once on a time it missed.
package sessionschedule

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/statusapply"
	"github.com/streamspace/controlplane/pkg/controller/worker"
	streamapply "github.com/streamspace/controlplane/pkg/generated/applyconfiguration/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	streamlisters "github.com/streamspace/controlplane/pkg/generated/listers/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/sessionschedule"
)

// Name is the controller's name in --controllers.
const Name = "schedule"

// fieldManager owns status.schedule.
const fieldManager = "schedule-controller"

// Event reasons, and the results recorded in status.schedule.lastActionResult.
const (
	ReasonScheduledStart    = "ScheduledStart"
	ReasonScheduledStop     = "ScheduledStop"
	ReasonScheduleRefused   = "ScheduledStartRefused"
	ReasonScheduleInvalid   = "ScheduleInvalid"
	ResultStarted           = "Started"
	ResultStopped           = "Stopped"
	ResultUnchanged         = "Unchanged"
	ResultRefused           = "Refused"
	ResultSessionTerminated = "SessionTerminated"
)

// Registration registers the controller.
func Registration() manager.Registration {
	return manager.Registration{Name: Name, New: func(c manager.Context) (manager.Controller, error) {
		return New(c)
	}}
}

// Controller acts on session schedules.
type Controller struct {
	stream   clientset.Interface
	clock    clock.Clock
	recorder record.EventRecorder
	sessions streamlisters.SessionLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	// applied holds, by key, the status.schedule this controller last
	// applied: the session cache may not show it yet when the session's
	// own update (the action) triggers the next sync, and an older status
	// must neither act again nor be applied over the newer one.
	applied sync.Map
}

// New builds the controller.
func New(c manager.Context) (*Controller, error) {
	inf := c.StreamInformers.Stream().V1alpha1().Sessions()
	ctrl := &Controller{
		stream: c.StreamClient, clock: c.Clock, recorder: c.EventRecorder(Name),
		sessions: inf.Lister(), synced: []cache.InformerSynced{inf.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name, Clock: c.Clock}),
	}
	enqueue := func(obj any) {
		s, ok := obj.(*streamv1alpha1.Session)
		if !ok || (s.Spec.Schedule == nil && s.Status.Schedule == nil) {
			return
		}
		if key, err := cache.MetaNamespaceKeyFunc(s); err == nil {
			ctrl.queue.Add(key)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return nil, fmt.Errorf("watch sessions: %w", err)
	}
	return ctrl, nil
}

// Run implements manager.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return worker.Run(ctx, Name, c.synced, worker.Queue{Queue: c.queue, Workers: workers, What: "sync schedule", Sync: c.sync})
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.sessions.Sessions(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.applied.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	if cached.DeletionTimestamp != nil {
		return nil
	}
	spec := cached.Spec.Schedule
	if spec == nil {
		// The schedule was removed: so is what it showed.
		return c.applyStatus(ctx, cached, nil)
	}
	sched, err := sessionschedule.Parse(spec.Start, spec.Stop, spec.TimeZone)
	if err != nil {
		// Validation refuses such a schedule; one stored before a change of
		// the rules is reported, not acted on.
		c.recorder.Eventf(cached, corev1.EventTypeWarning, ReasonScheduleInvalid, "The schedule is not acted on: %v", err)
		return c.applyStatus(ctx, cached, nil)
	}

	now := c.clock.Now()
	status := cached.Status.Schedule.DeepCopy()
	if status == nil {
		status = &streamv1alpha1.SessionScheduleStatus{}
	}
	if v, ok := c.applied.Load(key); ok {
		if mine := v.(*streamv1alpha1.SessionScheduleStatus); mine.LastAction != nil &&
			(status.LastAction == nil || mine.LastAction.After(status.LastAction.Time)) {
			status = mine.DeepCopy()
		}
	}
	since := cached.CreationTimestamp.Time
	if status.LastAction != nil && status.LastAction.After(since) {
		since = status.LastAction.Time
	}
	if at, action, ok := sched.Due(since, now); ok {
		result, err := c.act(ctx, cached, action, at)
		if err != nil {
			return err
		}
		last := metav1.NewTime(at)
		status.LastAction, status.LastActionResult = &last, result
	}
	status.NextStart, status.NextStop = nil, nil
	start, stop := sched.Next(now)
	if !start.IsZero() {
		t := metav1.NewTime(start)
		status.NextStart = &t
	}
	if !stop.IsZero() {
		t := metav1.NewTime(stop)
		status.NextStop = &t
	}
	if err := c.applyStatus(ctx, cached, status); err != nil {
		return err
	}
	c.applied.Store(key, status)
	if next := earliest(start, stop); !next.IsZero() {
		c.queue.AddAfter(key, next.Sub(now))
	}
	return nil
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	default:
		return b
	}
}

// act applies one scheduled time to the session and returns what it did.
// The update carries the cached resourceVersion: if the session changed
// meanwhile, it conflicts and is looked at again.
func (c *Controller) act(ctx context.Context, cached *streamv1alpha1.Session, action sessionschedule.Action, at time.Time) (string, error) {
	logger := klog.FromContext(ctx)
	s := cached.DeepCopy()
	switch {
	case s.Spec.State == streamv1alpha1.SessionStateTerminated:
		return ResultSessionTerminated, nil
	case action == sessionschedule.Start && s.Spec.State == streamv1alpha1.SessionStateRunning,
		action == sessionschedule.Stop && s.Spec.State != streamv1alpha1.SessionStateRunning:
		return ResultUnchanged, nil
	}
	want, result, reason := streamv1alpha1.SessionStateRunning, ResultStarted, ReasonScheduledStart
	if action == sessionschedule.Stop {
		want, result, reason = streamv1alpha1.SessionStateHibernated, ResultStopped, ReasonScheduledStop
	}
	s.Spec.State = want
	_, err := c.stream.StreamV1alpha1().Sessions(s.Namespace).Update(ctx, s, metav1.UpdateOptions{FieldManager: fieldManager})
	switch {
	case err == nil:
	case apierrors.IsForbidden(err) && action == sessionschedule.Start:
		// The owner's quota (or a policy) forbids running it now: the
		// schedule does not force it; the next start tries again.
		logger.Info("scheduled start refused", "session", klog.KObj(s), "scheduledAt", at, "err", err)
		c.recorder.Eventf(cached, corev1.EventTypeWarning, ReasonScheduleRefused, "The start scheduled for %s was refused: %v", at.Format(time.RFC3339), err)
		return ResultRefused, nil
	default:
		return "", fmt.Errorf("%s session %s/%s on its schedule: %w", action, s.Namespace, s.Name, err)
	}
	logger.Info("acted on session schedule", "session", klog.KObj(s), "action", action, "scheduledAt", at)
	c.recorder.Eventf(cached, corev1.EventTypeNormal, reason, "%s on the schedule's time %s", map[sessionschedule.Action]string{
		sessionschedule.Start: "Starting", sessionschedule.Stop: "Hibernating"}[action], at.Format(time.RFC3339))
	return result, nil
}

// applyStatus applies status.schedule (none removes it) when it changed.
func (c *Controller) applyStatus(ctx context.Context, cached *streamv1alpha1.Session, st *streamv1alpha1.SessionScheduleStatus) error {
	desired := statusApply(st)
	changed, err := statusapply.Changed(statusApply(cached.Status.Schedule), desired)
	if err != nil || !changed {
		return err
	}
	apply := streamapply.Session(cached.Name, cached.Namespace).WithStatus(desired)
	if _, err := c.stream.StreamV1alpha1().Sessions(cached.Namespace).ApplyStatus(ctx, apply, statusapply.Options(fieldManager)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status.schedule of session %s/%s: %w", cached.Namespace, cached.Name, err)
	}
	return nil
}

func statusApply(st *streamv1alpha1.SessionScheduleStatus) *streamapply.SessionStatusApplyConfiguration {
	a := streamapply.SessionStatus()
	if st == nil {
		return a
	}
	s := streamapply.SessionScheduleStatus()
	if st.NextStart != nil {
		s.WithNextStart(*st.NextStart)
	}
	if st.NextStop != nil {
		s.WithNextStop(*st.NextStop)
	}
	if st.LastAction != nil {
		s.WithLastAction(*st.LastAction)
	}
	if st.LastActionResult != "" {
		s.WithLastActionResult(st.LastActionResult)
	}
	return a.WithSchedule(s)
}
