// Package templatevalidation is the controller that checks every Template
// and writes the verdict into status.valid, status.message and a Valid
// condition, so people see why a template cannot start sessions.
package templatevalidation

import (
	"context"
	"fmt"

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
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/statusapply"
	"github.com/streamspace/controlplane/pkg/controller/templatecheck"
	"github.com/streamspace/controlplane/pkg/controller/worker"
	streamapply "github.com/streamspace/controlplane/pkg/generated/applyconfiguration/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	streamlisters "github.com/streamspace/controlplane/pkg/generated/listers/stream/v1alpha1"
)

// Name is the controller's name in --controllers.
const Name = "templatevalidation"

// Registration registers the controller; it has no flags.
func Registration() manager.Registration {
	return manager.Registration{Name: Name, New: func(c manager.Context) (manager.Controller, error) { return New(c) }}
}

// Controller validates Templates into their status.
type Controller struct {
	stream    clientset.Interface
	templates streamlisters.TemplateLister
	synced    cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	recorder  record.EventRecorder
	clock     clock.Clock
}

// New builds the controller.
func New(c manager.Context) (*Controller, error) {
	informer := c.StreamInformers.Stream().V1alpha1().Templates()
	ctrl := &Controller{
		stream: c.StreamClient, templates: informer.Lister(), synced: informer.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name, Clock: c.Clock}),
		recorder: c.EventRecorder(Name), clock: c.Clock,
	}
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			ctrl.queue.Add(key)
		}
	}
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return nil, fmt.Errorf("watch templates: %w", err)
	}
	return ctrl, nil
}

// Run implements manager.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return worker.Run(ctx, Name, []cache.InformerSynced{c.synced}, worker.Queue{Queue: c.queue, Workers: workers, What: "validate template", Sync: c.sync})
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	t, err := c.templates.Templates(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	status := t.Status.DeepCopy()
	problems := templatecheck.Check(t)
	status.Valid = len(problems) == 0
	cond := metav1.Condition{Type: stream.TemplateConditionValid, Status: metav1.ConditionTrue, Reason: "Valid",
		Message: "sessions can start from this template", ObservedGeneration: t.Generation, LastTransitionTime: metav1.NewTime(c.clock.Now())}
	status.Message = "valid"
	if !status.Valid {
		status.Message = problems.ToAggregate().Error()
		if len(status.Message) > 4000 {
			status.Message = status.Message[:4000]
		}
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "Invalid", status.Message
	}
	meta.SetStatusCondition(&status.Conditions, cond)
	status.ObservedGeneration = t.Generation

	desired := statusApply(status)
	changed, err := statusapply.Changed(statusApply(&t.Status), desired)
	if err != nil || !changed {
		return err
	}
	apply := streamapply.Template(name, namespace).WithStatus(desired)
	if _, err := c.stream.StreamV1alpha1().Templates(namespace).ApplyStatus(ctx, apply, statusapply.Options(fieldManager)); err != nil {
		return fmt.Errorf("update status of template %s: %w", key, err)
	}
	if t.Status.Valid != status.Valid || t.Status.ObservedGeneration == 0 {
		klog.FromContext(ctx).Info("validated template", "template", klog.KObj(t), "valid", status.Valid, "message", status.Message)
		if !status.Valid {
			c.recorder.Eventf(t, corev1.EventTypeWarning, "Invalid", "Template is invalid: %s", status.Message)
		}
	}
	return nil
}

// fieldManager owns a Template's status: valid, message, conditions and
// observedGeneration.
const fieldManager = "templatevalidation-controller"

// statusApply is the apply configuration of a Template's status.
func statusApply(st *streamv1alpha1.TemplateStatus) *streamapply.TemplateStatusApplyConfiguration {
	a := streamapply.TemplateStatus().WithValid(st.Valid).WithConditions(statusapply.Conditions(st.Conditions)...)
	if st.Message != "" {
		a.WithMessage(st.Message)
	}
	if st.ObservedGeneration != 0 {
		a.WithObservedGeneration(st.ObservedGeneration)
	}
	return a
}
