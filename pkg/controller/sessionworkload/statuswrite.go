package sessionworkload

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/metrics"
	"github.com/streamspace/controlplane/pkg/controller/statusapply"
	streamapply "github.com/streamspace/controlplane/pkg/generated/applyconfiguration/stream/v1alpha1"
)

// recordTransition records an Event when the phase or its reason changed
// from what the session's stored status said.
func (c *Controller) recordTransition(ctx context.Context, s *streamv1alpha1.Session, next *streamv1alpha1.SessionStatus) {
	if !phaseChanged(s, next) {
		return
	}
	kind := corev1.EventTypeNormal
	if next.Phase == streamv1alpha1.SessionPhaseFailed || next.Reason == stream.SessionReasonUnschedulable {
		kind = corev1.EventTypeWarning
	}
	klog.FromContext(ctx).Info("session phase changed", "session", klog.KObj(s), "from", s.Status.Phase, "to", next.Phase, "reason", next.Reason)
	c.recorder.Eventf(s, kind, next.Reason, "%s: %s", next.Phase, next.Message)
	c.observeFirstStart(ctx, s, next)
}

// observeFirstStart records how long a new session took from the
// controller's first sight of it to Running, by path (pool or cold). The
// creation timestamp is stored in whole seconds, too coarse for a start
// under a second; the first sight is later than the creation by the watch's
// delay only. A session whose spec changed before (generation above 1:
// hibernated, woken) is not a first start.
func (c *Controller) observeFirstStart(ctx context.Context, s *streamv1alpha1.Session, next *streamv1alpha1.SessionStatus) {
	if s.Generation != 1 || s.Status.Phase == streamv1alpha1.SessionPhaseRunning || next.Phase != streamv1alpha1.SessionPhaseRunning {
		return
	}
	key := s.Namespace + "/" + s.Name
	seen, ok := c.firstSeen.LoadAndDelete(key)
	if !ok || seen.(sightOf).uid != s.UID {
		return // first seen before this controller started
	}
	path := "cold"
	if next.Pool != "" {
		path = "pool"
	}
	took := c.clock.Since(seen.(sightOf).at)
	metrics.StartDuration.WithLabelValues(path).Observe(took.Seconds())
	klog.FromContext(ctx).V(2).Info("new session is running", "session", klog.KObj(s), "path", path, "took", took)
}

func phaseChanged(s *streamv1alpha1.Session, next *streamv1alpha1.SessionStatus) bool {
	return s.Status.Phase != next.Phase || s.Status.Reason != next.Reason
}

// fieldManager owns the status fields this controller applies: phase,
// reason, message, podName, url, conditions, observedGeneration and
// resources.
const fieldManager = "session-controller"

// ownConditions are the condition types this controller sets. Other
// controllers own the others (the hibernation controller IdleWarning):
// applying those too would make this controller a co-owner, and they
// would outlive their owner's removal.
var ownConditions = sets.New(
	stream.SessionConditionTemplateResolved, stream.SessionConditionDeploymentReady,
	stream.SessionConditionPVCBound, stream.SessionConditionReady,
)

// statusApply is the apply configuration of the status fields this
// controller owns; an empty field is left out, so applying it removes it.
func statusApply(st *streamv1alpha1.SessionStatus) *streamapply.SessionStatusApplyConfiguration {
	var conditions []metav1.Condition
	for _, c := range st.Conditions {
		if ownConditions.Has(c.Type) {
			conditions = append(conditions, c)
		}
	}
	a := streamapply.SessionStatus().WithConditions(statusapply.Conditions(conditions)...)
	if st.Phase != "" {
		a.WithPhase(st.Phase)
	}
	if st.Reason != "" {
		a.WithReason(st.Reason)
	}
	if st.Pool != "" {
		a.WithPool(st.Pool)
	}
	if st.Message != "" {
		a.WithMessage(st.Message)
	}
	if st.PodName != "" {
		a.WithPodName(st.PodName)
	}
	if st.URL != "" {
		a.WithURL(st.URL)
	}
	if st.ObservedGeneration != 0 {
		a.WithObservedGeneration(st.ObservedGeneration)
	}
	if r := st.Resources; len(r.Requests) > 0 || len(r.Limits) > 0 {
		given := streamapply.ResourceRequirements()
		if len(r.Requests) > 0 {
			given.WithRequests(r.Requests)
		}
		if len(r.Limits) > 0 {
			given.WithLimits(r.Limits)
		}
		a.WithResources(given)
	}
	return a
}

// applyStatus writes the fields this controller owns and returns the
// session as stored afterwards (cached when nothing changed). A phase
// transition is applied only onto the resourceVersion it was computed
// from: when the cache is behind, the apply answers 409 Conflict and the
// session is looked at again.
func (c *Controller) applyStatus(ctx context.Context, cached *streamv1alpha1.Session, status *streamv1alpha1.SessionStatus) (*streamv1alpha1.Session, error) {
	desired := statusApply(status)
	changed, err := statusapply.Changed(statusApply(&cached.Status), desired)
	if err != nil || !changed {
		return cached, err
	}
	apply := streamapply.Session(cached.Name, cached.Namespace).WithStatus(desired)
	if phaseChanged(cached, status) {
		apply.WithResourceVersion(cached.ResourceVersion)
	}
	written, err := c.stream.StreamV1alpha1().Sessions(cached.Namespace).ApplyStatus(ctx, apply, statusapply.Options(fieldManager))
	if err != nil {
		return nil, fmt.Errorf("update status of session %s/%s: %w", cached.Namespace, cached.Name, err)
	}
	return written, nil
}

// observeWake measures a wake (connect on a hibernated session → Running)
// and removes its mark once the session runs or no longer wants to. The
// mark is removed on the resourceVersion s was read at, and the wake is
// counted only when that removal succeeds: a retried or stale reconcile
// finds the mark gone, or conflicts, so one wake is counted once.
func (c *Controller) observeWake(ctx context.Context, s *streamv1alpha1.Session, status *streamv1alpha1.SessionStatus, now time.Time) error {
	mark, ok := s.Annotations[stream.WokenAtAnnotation]
	if !ok {
		return nil
	}
	running := status.Phase == streamv1alpha1.SessionPhaseRunning
	if !running && s.Spec.State == streamv1alpha1.SessionStateRunning {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": s.ResourceVersion,
		"annotations":     map[string]any{stream.WokenAtAnnotation: nil},
	}})
	if err != nil {
		return fmt.Errorf("encode the removal of the wake mark: %w", err)
	}
	if _, err := c.stream.StreamV1alpha1().Sessions(s.Namespace).Patch(ctx, s.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("remove wake mark of session %s/%s: %w", s.Namespace, s.Name, err)
	}
	if !running {
		return nil
	}
	logger := klog.FromContext(ctx)
	wokenAt, err := time.Parse(time.RFC3339Nano, mark)
	if err != nil {
		logger.Info("ignoring an unreadable wake mark", "session", klog.KObj(s), "mark", mark)
		return nil
	}
	took := now.Sub(wokenAt)
	metrics.Wakes.Inc()
	metrics.WakeDuration.Observe(took.Seconds())
	logger.Info("woken session is running", "session", klog.KObj(s), "took", took)
	c.recorder.Eventf(s, corev1.EventTypeNormal, ReasonWoke, "Running %s after a connection woke the session", took.Round(10*time.Millisecond))
	return nil
}
