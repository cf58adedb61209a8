// Package sessionworkload is the controller that turns a Session into its workload
// (Deployment, Service, home PersistentVolumeClaim, Ingress) and writes the
// truth about it into the Session's status: phase, pod, url, conditions.
// It also enforces maxSessionDuration.
package sessionworkload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/metrics"
	"github.com/streamspace/controlplane/pkg/controller/naming"
	"github.com/streamspace/controlplane/pkg/controller/platformconfig"
	"github.com/streamspace/controlplane/pkg/controller/sessionpod"
	"github.com/streamspace/controlplane/pkg/controller/templatecheck"
	"github.com/streamspace/controlplane/pkg/controller/worker"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	streamlisters "github.com/streamspace/controlplane/pkg/generated/listers/stream/v1alpha1"
)

// Name is the controller's name in --controllers.
const Name = "session"

// Options configure the session workloads.
type Options struct {
	// IngressDomain, when set, gives every session an Ingress at
	// https://<session>-<namespace>.<domain>/ and that status.url.
	IngressDomain string
	// IngressClassName is the Ingress class of those Ingresses.
	IngressClassName string
	// SessionAuth is how session Ingresses authenticate their requests:
	// SessionAuthForward (the default) or SessionAuthNone.
	SessionAuth string
	// SessionAuthURL is the bridge's forward-auth endpoint as the ingress
	// controller reaches it (…/auth/sessions); each session Ingress asks
	// <SessionAuthURL>/<namespace>/<name> before every request.
	SessionAuthURL string
	// SessionSigninURL is the bridge's public sign-in page, where a browser
	// without a valid credential is sent (with ?rd= the URL it asked for).
	SessionSigninURL string
	// HomeStorageClass is the StorageClass of home claims ("" = the cluster default).
	HomeStorageClass string
	// HomeSize is the requested size of a home claim.
	HomeSize string
}

// AddFlags adds the session controller's flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.IngressDomain, "ingress-domain", o.IngressDomain, "When set, each session gets an Ingress at https://<session>-<namespace>.<domain>/, which becomes its status.url.")
	fs.StringVar(&o.IngressClassName, "ingress-class", o.IngressClassName, "IngressClass of session Ingresses (empty: the cluster default).")
	fs.StringVar(&o.SessionAuth, "session-auth", o.SessionAuth, "How session Ingresses authenticate requests: \"forward\" (ask the bridge at --session-auth-url before every request; required with --ingress-domain) or \"none\" (anyone who knows a session's host reaches its desktop: only for networks where that is acceptable).")
	fs.StringVar(&o.SessionAuthURL, "session-auth-url", o.SessionAuthURL, "The bridge's forward-auth endpoint as the ingress controller reaches it, e.g. http://streamspace-bridge.streamspace-system.svc:8080/auth/sessions; session Ingresses carry ingress-nginx auth-url <this>/<namespace>/<name>.")
	fs.StringVar(&o.SessionSigninURL, "session-signin-url", o.SessionSigninURL, "The bridge's public sign-in page, e.g. https://streamspace.example.org/auth/login; browsers without a valid credential are redirected there (ingress-nginx auth-signin, with ?rd=<the URL they asked for>).")
	fs.StringVar(&o.HomeStorageClass, "home-storage-class", o.HomeStorageClass, "StorageClass of the home-<user> PersistentVolumeClaims (empty: the cluster default).")
	fs.StringVar(&o.HomeSize, "home-size", o.HomeSize, "Requested size of a home-<user> PersistentVolumeClaim.")
}

// Validate checks the options.
func (o *Options) Validate() error {
	var errs []error
	if o.IngressDomain != "" {
		for _, msg := range validation.IsDNS1123Subdomain(o.IngressDomain) {
			errs = append(errs, fmt.Errorf("--ingress-domain %q: %s", o.IngressDomain, msg))
		}
	}
	errs = append(errs, o.validateSessionAuth()...)
	if q, err := resource.ParseQuantity(o.HomeSize); err != nil {
		errs = append(errs, fmt.Errorf("--home-size %q: %w", o.HomeSize, err))
	} else if q.Sign() <= 0 {
		errs = append(errs, fmt.Errorf("--home-size %q: must be positive", o.HomeSize))
	}
	return errors.Join(errs...)
}

// Registration registers the controller with its default options.
func Registration() manager.Registration {
	opts := &Options{HomeSize: streamv1alpha1.DefaultHomeVolumeSize, SessionAuth: SessionAuthForward}
	return manager.Registration{Name: Name, Options: opts, New: func(c manager.Context) (manager.Controller, error) {
		return New(c, *opts)
	}}
}

// Controller reconciles Sessions into workloads and status.
type Controller struct {
	opts     Options
	homeSize resource.Quantity
	// config may override the ingress, home and default-resource flags.
	config   *platformconfig.Source
	kube     kubernetes.Interface
	stream   clientset.Interface
	clock    clock.Clock
	recorder record.EventRecorder
	queue    workqueue.TypedRateLimitingInterface[string]

	sessions    streamlisters.SessionLister
	templates   streamlisters.TemplateLister
	deployments appslisters.DeploymentLister
	services    corelisters.ServiceLister
	claims      corelisters.PersistentVolumeClaimLister
	ingresses   networkinglisters.IngressLister
	pods        corelisters.PodLister
	pools       streamlisters.SessionPoolLister
	synced      []cache.InformerSynced
	// firstSeen holds, by key, when the controller first saw a new
	// session not yet started (a sightOf), for the start-duration metric.
	firstSeen sync.Map
	// claimsInFlight holds, by key, the pod claimed for a session until
	// the pod cache shows the claim.
	claimsInFlight sync.Map
}

// sightOf is when the controller first saw the session of a UID.
type sightOf struct {
	uid types.UID
	at  time.Time
}

// New builds the controller and registers its informers.
func New(c manager.Context, opts Options) (*Controller, error) {
	size, err := resource.ParseQuantity(opts.HomeSize)
	if err != nil {
		return nil, fmt.Errorf("--home-size: %w", err)
	}
	sessionInformer := c.StreamInformers.Stream().V1alpha1().Sessions()
	templateInformer := c.StreamInformers.Stream().V1alpha1().Templates()
	kubeInformers := c.ManagedKubeInformers
	deploymentInformer := kubeInformers.Apps().V1().Deployments()
	serviceInformer := kubeInformers.Core().V1().Services()
	claimInformer := kubeInformers.Core().V1().PersistentVolumeClaims()
	ingressInformer := kubeInformers.Networking().V1().Ingresses()
	podInformer := kubeInformers.Core().V1().Pods()
	poolInformer := c.StreamInformers.Stream().V1alpha1().SessionPools()

	config := platformconfig.New(c.StreamInformers)
	ctrl := &Controller{
		opts: opts, homeSize: size, config: config,
		kube: c.KubeClient, stream: c.StreamClient, clock: c.Clock,
		recorder: c.EventRecorder(Name),
		sessions: sessionInformer.Lister(), templates: templateInformer.Lister(),
		deployments: deploymentInformer.Lister(), services: serviceInformer.Lister(),
		claims: claimInformer.Lister(), ingresses: ingressInformer.Lister(), pods: podInformer.Lister(),
		pools: poolInformer.Lister(),
	}
	ctrl.queue = worker.NewUrgentFirstQueue(Name, c.Clock, ctrl.started)
	ctrl.synced = append(ctrl.synced, poolInformer.Informer().HasSynced)
	handlers := []struct {
		informer cache.SharedIndexInformer
		handler  cache.ResourceEventHandler
	}{
		{sessionInformer.Informer(), eventHandler(ctrl.enqueueSession)},
		{templateInformer.Informer(), eventHandler(ctrl.enqueueTemplateUsers)},
		{deploymentInformer.Informer(), eventHandler(ctrl.enqueueChildOwner)},
		{serviceInformer.Informer(), eventHandler(ctrl.enqueueChildOwner)},
		{ingressInformer.Informer(), eventHandler(ctrl.enqueueChildOwner)},
		{podInformer.Informer(), eventHandler(ctrl.enqueueChildOwner)},
		{claimInformer.Informer(), eventHandler(ctrl.enqueueClaimUsers)},
	}
	for _, h := range handlers {
		if _, err := h.informer.AddEventHandler(h.handler); err != nil {
			return nil, fmt.Errorf("watch for the session controller: %w", err)
		}
		ctrl.synced = append(ctrl.synced, h.informer.HasSynced)
	}
	// A new ingress domain or class reaches every session's Ingress and URL.
	if err := platformconfig.RequeueOnChange(config, ctrl.sessions.List,
		func(s *streamv1alpha1.Session) { ctrl.enqueueSession(s) }); err != nil {
		return nil, err
	}
	ctrl.synced = append(ctrl.synced, config.HasSynced)
	return ctrl, nil
}

// effective are the options with what the platform configuration sets in
// place of the flags.
func (c *Controller) effective() Options {
	o := c.opts
	o.IngressDomain, o.IngressClassName = c.config.Ingress(c.opts.IngressDomain, c.opts.IngressClassName)
	return o
}

// withPlatformDefaults gives a template without default resources the
// platform's, so that a session naming none gets them.
func (c *Controller) withPlatformDefaults(tpl *streamv1alpha1.Template) *streamv1alpha1.Template {
	return sessionpod.WithPlatformDefaults(c.config, tpl)
}

// eventHandler calls f with the object of every add, update and delete.
func eventHandler(f func(obj any)) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    f,
		UpdateFunc: func(_, obj any) { f(obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			f(obj)
		},
	}
}

func (c *Controller) enqueueSession(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// enqueueChildOwner enqueues the session named in a child's annotation.
func (c *Controller) enqueueChildOwner(obj any) {
	m, err := objectMeta(obj)
	if err != nil {
		return
	}
	if name := m.GetAnnotations()[stream.SessionNameAnnotation]; name != "" {
		c.queue.Add(m.GetNamespace() + "/" + name)
	}
}

func (c *Controller) enqueueTemplateUsers(obj any) {
	m, err := objectMeta(obj)
	if err != nil {
		return
	}
	c.enqueueSessionsWhere(m.GetNamespace(), func(s *streamv1alpha1.Session) bool { return s.Spec.Template == m.GetName() })
}

func (c *Controller) enqueueClaimUsers(obj any) {
	m, err := objectMeta(obj)
	if err != nil {
		return
	}
	c.enqueueSessionsWhere(m.GetNamespace(), func(s *streamv1alpha1.Session) bool {
		return naming.HomeClaimName(s.Spec.User) == m.GetName()
	})
}

func (c *Controller) enqueueSessionsWhere(namespace string, match func(*streamv1alpha1.Session) bool) {
	sessions, err := c.sessions.Sessions(namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range sessions {
		if match(s) {
			c.queue.Add(s.Namespace + "/" + s.Name)
		}
	}
}

func objectMeta(obj any) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("not an object: %T", obj)
	}
	return m, nil
}

// Run implements manager.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	if c.opts.IngressDomain != "" && c.opts.SessionAuth == SessionAuthNone {
		klog.FromContext(ctx).Info("Warning: session Ingresses have no authentication (--session-auth=none): anyone who reaches the ingress and knows a session's host reaches its desktop",
			"ingressDomain", c.opts.IngressDomain)
	}
	return worker.Run(ctx, Name, c.synced, worker.Queue{Queue: c.queue, Workers: workers, What: "sync session", Sync: c.sync})
}

// started tells the sessions this controller has reconciled before (their
// status records the generation it saw) from new ones, for the order of the
// queue: a started session waits for its state to be observed and written,
// the step that makes it Running once its pod is ready, wakes it, or acts
// on a changed spec; a new one needs its children created first, several
// round trips through kube-apiserver. When hundreds of sessions are created
// at once, the started ones go first, so a session whose pod became ready is
// not queued behind every new session's first reconcile (first in, first
// out, it waited for all of them). A session gone from the cache is urgent
// too: its reconcile only forgets it.
func (c *Controller) started(key string) bool {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return true
	}
	s, err := c.sessions.Sessions(namespace).Get(name)
	if err != nil {
		return true
	}
	return s.Status.ObservedGeneration != 0 || s.DeletionTimestamp != nil
}

// sync moves one session one step toward its spec and records the truth.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.sessions.Sessions(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.firstSeen.Delete(key)
		return nil // its children are garbage-collected through their owner references
	}
	if err != nil {
		return err
	}
	if cached.DeletionTimestamp != nil {
		c.firstSeen.Delete(key)
		return nil
	}
	if cached.Generation == 1 && (cached.Status.Phase == "" || cached.Status.Phase == streamv1alpha1.SessionPhasePending) {
		if seen, loaded := c.firstSeen.LoadOrStore(key, sightOf{cached.UID, c.clock.Now()}); loaded && seen.(sightOf).uid != cached.UID {
			c.firstSeen.Store(key, sightOf{cached.UID, c.clock.Now()}) // a new session of an old name
		}
	}
	s := cached.DeepCopy()
	now := c.clock.Now()

	if s.Spec.State != streamv1alpha1.SessionStateTerminated {
		if deadline, ok := MaxDurationDeadline(s); ok {
			if !now.Before(deadline) {
				return c.terminateForMaxDuration(ctx, s, now)
			}
			c.queue.AddAfter(key, deadline.Sub(now))
		}
	}

	status := s.Status.DeepCopy()
	if s.Spec.State == streamv1alpha1.SessionStateTerminated {
		if err := c.removeWorkload(ctx, s, status, now); err != nil {
			return err
		}
	} else if err := c.syncWorkload(ctx, s, status, now); err != nil {
		if apierrors.IsForbidden(err) {
			return c.failForbiddenWorkload(ctx, cached, status, now, err)
		}
		if !apierrors.IsConflict(err) {
			c.recorder.Eventf(s, corev1.EventTypeWarning, ReasonWorkloadSyncFailed, "Syncing the session's workload failed: %v", err)
		}
		return err
	}
	status.ObservedGeneration = s.Generation
	written, err := c.applyStatus(ctx, cached, status)
	if err != nil {
		return err
	}
	// Only now, once the status that records it is stored: a reconcile from
	// a stale cache computes the same transition again, but its write
	// conflicts, so no Event is recorded twice.
	c.recordTransition(ctx, cached, status)
	return c.observeWake(ctx, written, status, now)
}

// failForbiddenWorkload records that the API refused the controller the
// session's workload, typically because the namespace is not labelled
// stream.space/sessions=enabled: Failed with the API's message, so that the
// user sees why, and the error back to the queue, so that the session
// starts (with backoff) once an admin enables the namespace.
func (c *Controller) failForbiddenWorkload(ctx context.Context, cached *streamv1alpha1.Session, status *streamv1alpha1.SessionStatus, now time.Time, refused error) error {
	msg := fmt.Sprintf("streamspace-controller may not create this session's workload in namespace %s (an admin enables a namespace with the label %s=%s): %v",
		cached.Namespace, stream.SessionsNamespaceLabel, stream.SessionsNamespaceEnabled, refused)
	failedBefore := cached.Status.Phase == streamv1alpha1.SessionPhaseFailed && cached.Status.Reason == stream.SessionReasonWorkloadForbidden
	setFailed(status, cached.Generation, now, stream.SessionConditionDeploymentReady, stream.SessionReasonWorkloadForbidden, msg)
	status.ObservedGeneration = cached.Generation
	if _, err := c.applyStatus(ctx, cached, status); err != nil {
		return err
	}
	if !failedBefore {
		c.recorder.Event(cached, corev1.EventTypeWarning, stream.SessionReasonWorkloadForbidden, msg)
	}
	return refused
}

// MaxDurationDeadline is creation + maxSessionDuration, when there is a limit.
func MaxDurationDeadline(s *streamv1alpha1.Session) (time.Time, bool) {
	if s.Spec.MaxSessionDuration == nil || s.Spec.MaxSessionDuration.Duration <= 0 {
		return time.Time{}, false
	}
	return s.CreationTimestamp.Add(s.Spec.MaxSessionDuration.Duration), true
}

func (c *Controller) terminateForMaxDuration(ctx context.Context, s *streamv1alpha1.Session, now time.Time) error {
	s.Spec.State = streamv1alpha1.SessionStateTerminated
	if _, err := c.stream.StreamV1alpha1().Sessions(s.Namespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("terminate session %s/%s at its maxSessionDuration: %w", s.Namespace, s.Name, err)
	}
	ran := now.Sub(s.CreationTimestamp.Time).Round(time.Second)
	klog.FromContext(ctx).Info("terminated session at its maxSessionDuration", "session", klog.KObj(s), "ran", ran, "maxSessionDuration", s.Spec.MaxSessionDuration.Duration)
	c.recorder.Eventf(s, corev1.EventTypeNormal, stream.SessionReasonMaxDuration, "Terminating: the session has existed for %s, its maxSessionDuration is %s",
		ran, s.Spec.MaxSessionDuration.Duration)
	metrics.MaxDurationTerminations.Inc()
	return nil
}

// syncWorkload creates or updates the workload of a running or hibernated
// session and fills status from what exists.
func (c *Controller) syncWorkload(ctx context.Context, s *streamv1alpha1.Session, status *streamv1alpha1.SessionStatus, now time.Time) error {
	gen := s.Generation
	tpl, err := c.templates.Templates(s.Namespace).Get(s.Spec.Template)
	if apierrors.IsNotFound(err) {
		msg := fmt.Sprintf("template %q does not exist in namespace %s", s.Spec.Template, s.Namespace)
		setFailed(status, gen, now, stream.SessionConditionTemplateResolved, stream.SessionReasonTemplateNotFound, msg)
		return nil
	}
	if err != nil {
		return err
	}
	if problems := templatecheck.Check(tpl); len(problems) > 0 {
		msg := fmt.Sprintf("template %q is invalid: %s", tpl.Name, problems.ToAggregate().Error())
		setFailed(status, gen, now, stream.SessionConditionTemplateResolved, stream.SessionReasonTemplateInvalid, msg)
		return nil
	}
	setCondition(status, gen, now, stream.SessionConditionTemplateResolved, true, "Found", fmt.Sprintf("template %q", tpl.Name))

	if streamv1alpha1.UsesHome(s) {
		claim, err := c.ensureHomeClaim(ctx, s)
		if err != nil {
			return err
		}
		bound := claim != nil && claim.Status.Phase == corev1.ClaimBound
		msg := fmt.Sprintf("claim %s is %s", naming.HomeClaimName(s.Spec.User), claimPhase(claim))
		setCondition(status, gen, now, stream.SessionConditionPVCBound, bound, map[bool]string{true: string(corev1.ClaimBound), false: "NotBound"}[bound], msg)
	} else {
		meta.RemoveStatusCondition(&status.Conditions, stream.SessionConditionPVCBound)
	}

	// A session that is to run and has no pod claims a ready pool
	// workload when a pool of its template fits; one that is not to run
	// gives its claimed workload up.
	pods, err := c.podsOf(s)
	if err != nil {
		return err
	}
	if inFlight, ok := c.claimInFlight(s); ok {
		pods = append(pods, inFlight)
	}
	if s.Spec.State != streamv1alpha1.SessionStateRunning {
		if err := c.releaseClaimedPods(ctx, s, pods); err != nil {
			return err
		}
	} else if c.claimable(s, pods) {
		claimed, _, err := c.claimFromPool(ctx, s, c.withPlatformDefaults(tpl), now)
		if err != nil {
			return err
		}
		if claimed != nil {
			pods = append(pods, claimed)
		}
	}
	onClaim := runsOnClaim(s, pods)
	switch {
	case onClaim:
		status.Pool = claimedFrom(s, pods)
	case s.Spec.State == streamv1alpha1.SessionStateRunning:
		status.Pool = ""
	}

	deployment, err := c.ensureDeployment(ctx, s, tpl, onClaim)
	var conflict *nameConflictError
	if asConflict(err, &conflict) {
		setFailed(status, gen, now, stream.SessionConditionDeploymentReady, stream.SessionReasonNameConflict, conflict.Error())
		return nil
	}
	if err != nil {
		return err
	}
	status.Resources = givenResources(deployment)
	if err := c.ensureService(ctx, s, tpl); asConflict(err, &conflict) {
		setFailed(status, gen, now, stream.SessionConditionReady, stream.SessionReasonNameConflict, conflict.Error())
		return nil
	} else if err != nil {
		return err
	}
	if err := c.ensureIngress(ctx, s, tpl); asConflict(err, &conflict) {
		setFailed(status, gen, now, stream.SessionConditionReady, stream.SessionReasonNameConflict, conflict.Error())
		return nil
	} else if err != nil {
		return err
	}
	status.URL = SessionURL(s, tpl, c.effective().IngressDomain)

	want := int32(0)
	if deployment.Spec.Replicas != nil {
		want = *deployment.Spec.Replicas
	}
	ready := deployment.Status.ReadyReplicas
	depReady := ready == want && (want > 0 || deployment.Status.Replicas == 0)
	setCondition(status, gen, now, stream.SessionConditionDeploymentReady, depReady, map[bool]string{true: "ReplicasReady", false: "ReplicasNotReady"}[depReady],
		fmt.Sprintf("deployment %s: %d of %d replicas ready", deployment.Name, ready, want))

	status.Phase, status.Reason, status.Message, status.PodName = phaseOf(s, viewPods(pods))
	if status.Phase == streamv1alpha1.SessionPhaseRunning && !depReady {
		// The pod is ready before its Deployment counts it: Running waits
		// for both, so Running never shows beside DeploymentReady=False.
		status.Phase, status.Reason = streamv1alpha1.SessionPhasePending, stream.SessionReasonStarting
		status.Message = fmt.Sprintf("pod %s is ready; waiting for deployment %s to count it", status.PodName, deployment.Name)
	}
	setCondition(status, gen, now, stream.SessionConditionReady, status.Phase == streamv1alpha1.SessionPhaseRunning, status.Reason, status.Message)
	return nil
}

func setFailed(status *streamv1alpha1.SessionStatus, gen int64, now time.Time, condition, reason, msg string) {
	status.Phase, status.Reason, status.Message = streamv1alpha1.SessionPhaseFailed, reason, msg
	setCondition(status, gen, now, condition, false, reason, msg)
	setCondition(status, gen, now, stream.SessionConditionReady, false, reason, msg)
}

// removeWorkload deletes the Deployment, Service and Ingress of a
// terminated session (the home claim stays) and reports Terminated once
// they and the pod are gone.
func (c *Controller) removeWorkload(ctx context.Context, s *streamv1alpha1.Session, status *streamv1alpha1.SessionStatus, now time.Time) error {
	name := ChildName(s)
	remaining := 0
	background := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &background}
	if d, err := c.deployments.Deployments(s.Namespace).Get(name); err == nil && metav1.IsControlledBy(d, s) {
		remaining++
		if d.DeletionTimestamp == nil {
			if err := c.kube.AppsV1().Deployments(s.Namespace).Delete(ctx, name, del); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete deployment %s/%s: %w", s.Namespace, name, err)
			}
		}
	}
	if svc, err := c.services.Services(s.Namespace).Get(name); err == nil && metav1.IsControlledBy(svc, s) {
		remaining++
		if svc.DeletionTimestamp == nil {
			if err := c.kube.CoreV1().Services(s.Namespace).Delete(ctx, name, del); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete service %s/%s: %w", s.Namespace, name, err)
			}
		}
	}
	if ing, err := c.ingresses.Ingresses(s.Namespace).Get(name); err == nil && metav1.IsControlledBy(ing, s) {
		remaining++
		if ing.DeletionTimestamp == nil {
			if err := c.kube.NetworkingV1().Ingresses(s.Namespace).Delete(ctx, name, del); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete ingress %s/%s: %w", s.Namespace, name, err)
			}
		}
	}
	pods, err := c.podsOf(s)
	if err != nil {
		return err
	}
	if err := c.releaseClaimedPods(ctx, s, pods); err != nil {
		return err
	}
	gen := s.Generation
	reason := stream.SessionReasonTerminated
	why := "terminated on request"
	if deadline, ok := MaxDurationDeadline(s); ok && !now.Before(deadline) {
		reason, why = stream.SessionReasonMaxDuration, fmt.Sprintf("terminated after its maxSessionDuration of %s", s.Spec.MaxSessionDuration.Duration)
	}
	if remaining > 0 || len(pods) > 0 {
		if status.Phase == "" || status.Phase == streamv1alpha1.SessionPhaseTerminated {
			status.Phase = streamv1alpha1.SessionPhasePending
		}
		status.Reason, status.Message = stream.SessionReasonTerminating, why+"; removing its workload"
	} else {
		status.Phase, status.Reason, status.Message = streamv1alpha1.SessionPhaseTerminated, reason, why+"; workload removed, home kept"
		status.PodName, status.URL = "", ""
	}
	setCondition(status, gen, now, stream.SessionConditionDeploymentReady, false, "Deleted", "the session is terminated")
	setCondition(status, gen, now, stream.SessionConditionReady, false, status.Reason, status.Message)
	return nil
}
