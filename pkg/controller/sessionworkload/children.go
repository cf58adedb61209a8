package sessionworkload

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/naming"
	"github.com/streamspace/controlplane/pkg/controller/sessionpod"
)

// nameConflictError: an object the session needs exists and belongs to
// something else; the controller never takes it over.
type nameConflictError struct{ kind, namespace, name string }

func (e *nameConflictError) Error() string {
	return fmt.Sprintf("%s %s/%s exists and does not belong to this session; rename or remove it", e.kind, e.namespace, e.name)
}

func asConflict(err error, target **nameConflictError) bool { return errors.As(err, target) }

// ensureHomeClaim creates home-<user> when missing. A claim made by someone
// else under that name (not in the filtered cache) is used as it is.
func (c *Controller) ensureHomeClaim(ctx context.Context, s *streamv1alpha1.Session) (*corev1.PersistentVolumeClaim, error) {
	name := naming.HomeClaimName(s.Spec.User)
	if claim, err := c.claims.PersistentVolumeClaims(s.Namespace).Get(name); err == nil {
		return claim, nil
	} else if !apierrors.IsNotFound(err) {
		return nil, err
	}
	size, class := c.config.Home(c.homeSize, c.opts.HomeStorageClass)
	claim, err := c.kube.CoreV1().PersistentVolumeClaims(s.Namespace).Create(ctx, sessionpod.HomeClaim(s, size, class), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return c.kube.CoreV1().PersistentVolumeClaims(s.Namespace).Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("create home claim %s/%s: %w", s.Namespace, name, err)
	}
	c.recorder.Eventf(s, corev1.EventTypeNormal, "HomeClaimCreated", "Created PersistentVolumeClaim %s for the home of %s", name, s.Spec.User)
	return claim, nil
}

func claimPhase(claim *corev1.PersistentVolumeClaim) string {
	if claim == nil || claim.Status.Phase == "" {
		return string(corev1.ClaimPending)
	}
	return string(claim.Status.Phase)
}

// ensureDeployment creates the session's Deployment or brings its replicas
// and pod template to what the session and template want.
func (c *Controller) ensureDeployment(ctx context.Context, s *streamv1alpha1.Session, tpl *streamv1alpha1.Template, onClaim bool) (*appsv1.Deployment, error) {
	desired := desiredDeployment(s, c.withPlatformDefaults(tpl))
	if onClaim {
		// The claimed pool workload serves the session; the Deployment
		// starts a pod of its own when that one is gone.
		desired.Spec.Replicas = ptr.To(int32(0))
	}
	client := c.kube.AppsV1().Deployments(s.Namespace)
	existing, err := c.deployments.Deployments(s.Namespace).Get(desired.Name)
	if apierrors.IsNotFound(err) {
		created, err := client.Create(ctx, desired, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			// Ours when the cache has not yet seen an earlier create.
			live, getErr := client.Get(ctx, desired.Name, metav1.GetOptions{})
			if getErr != nil {
				return nil, fmt.Errorf("read deployment %s/%s: %w", s.Namespace, desired.Name, getErr)
			}
			if metav1.IsControlledBy(live, s) {
				return live, nil
			}
			return nil, &nameConflictError{"Deployment", s.Namespace, desired.Name}
		}
		if err != nil {
			return nil, fmt.Errorf("create deployment %s/%s: %w", s.Namespace, desired.Name, err)
		}
		c.recorder.Eventf(s, corev1.EventTypeNormal, "DeploymentCreated", "Created Deployment %s", desired.Name)
		return created, nil
	}
	if err != nil {
		return nil, err
	}
	if !metav1.IsControlledBy(existing, s) {
		return nil, &nameConflictError{"Deployment", s.Namespace, desired.Name}
	}
	sameReplicas := existing.Spec.Replicas != nil && *existing.Spec.Replicas == *desired.Spec.Replicas
	if sameReplicas && existing.Annotations[stream.SpecHashAnnotation] == desired.Annotations[stream.SpecHashAnnotation] {
		return existing, nil
	}
	update := existing.DeepCopy()
	update.Spec.Replicas = desired.Spec.Replicas
	update.Spec.Template = desired.Spec.Template
	update.Spec.Strategy = desired.Spec.Strategy
	update.Labels = desired.Labels
	update.Annotations = desired.Annotations
	updated, err := client.Update(ctx, update, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update deployment %s/%s: %w", s.Namespace, desired.Name, err)
	}
	if !sameReplicas {
		c.recorder.Eventf(s, corev1.EventTypeNormal, "Scaled", "Scaled Deployment %s to %d", desired.Name, *desired.Spec.Replicas)
	}
	return updated, nil
}

func (c *Controller) ensureService(ctx context.Context, s *streamv1alpha1.Session, tpl *streamv1alpha1.Template) error {
	desired := desiredService(s, tpl)
	client := c.kube.CoreV1().Services(s.Namespace)
	existing, err := c.services.Services(s.Namespace).Get(desired.Name)
	if apierrors.IsNotFound(err) {
		_, err := client.Create(ctx, desired, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			live, getErr := client.Get(ctx, desired.Name, metav1.GetOptions{})
			if getErr != nil {
				return fmt.Errorf("read service %s/%s: %w", s.Namespace, desired.Name, getErr)
			}
			if metav1.IsControlledBy(live, s) {
				return nil // ours; the cache had not seen it yet
			}
			return &nameConflictError{"Service", s.Namespace, desired.Name}
		}
		if err != nil {
			return fmt.Errorf("create service %s/%s: %w", s.Namespace, desired.Name, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !metav1.IsControlledBy(existing, s) {
		return &nameConflictError{"Service", s.Namespace, desired.Name}
	}
	if existing.Annotations[stream.SpecHashAnnotation] == desired.Annotations[stream.SpecHashAnnotation] {
		return nil
	}
	update := existing.DeepCopy()
	update.Spec.Ports, update.Spec.Selector = desired.Spec.Ports, desired.Spec.Selector
	update.Labels, update.Annotations = desired.Labels, desired.Annotations
	if _, err := client.Update(ctx, update, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update service %s/%s: %w", s.Namespace, desired.Name, err)
	}
	return nil
}

// ensureIngress keeps an Ingress when an ingress domain is configured and
// removes the session's Ingress when none is.
func (c *Controller) ensureIngress(ctx context.Context, s *streamv1alpha1.Session, tpl *streamv1alpha1.Template) error {
	client := c.kube.NetworkingV1().Ingresses(s.Namespace)
	name := ChildName(s)
	existing, err := c.ingresses.Ingresses(s.Namespace).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	desired := desiredIngressOrNil(s, tpl, c.effective())
	if existing != nil && !metav1.IsControlledBy(existing, s) {
		if desired == nil {
			return nil // not ours, and we want none
		}
		return &nameConflictError{"Ingress", s.Namespace, name}
	}
	switch {
	case desired == nil && existing == nil:
		return nil
	case desired == nil:
		if err := client.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete ingress %s/%s: %w", s.Namespace, name, err)
		}
		return nil
	case existing == nil:
		_, err := client.Create(ctx, desired, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			live, getErr := client.Get(ctx, name, metav1.GetOptions{})
			if getErr != nil {
				return fmt.Errorf("read ingress %s/%s: %w", s.Namespace, name, getErr)
			}
			if metav1.IsControlledBy(live, s) {
				return nil // ours; the cache had not seen it yet
			}
			return &nameConflictError{"Ingress", s.Namespace, name}
		}
		if err != nil {
			return fmt.Errorf("create ingress %s/%s: %w", s.Namespace, name, err)
		}
		return nil
	case existing.Annotations[stream.SpecHashAnnotation] == desired.Annotations[stream.SpecHashAnnotation]:
		return nil
	}
	update := existing.DeepCopy()
	update.Spec, update.Labels, update.Annotations = desired.Spec, desired.Labels, desired.Annotations
	if _, err := client.Update(ctx, update, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update ingress %s/%s: %w", s.Namespace, name, err)
	}
	return nil
}

func desiredIngressOrNil(s *streamv1alpha1.Session, tpl *streamv1alpha1.Template, opts Options) *networkingv1.Ingress {
	if opts.IngressDomain == "" {
		return nil
	}
	return desiredIngress(s, tpl, opts)
}

// podsOf lists the session's pods, terminating ones included.
func (c *Controller) podsOf(s *streamv1alpha1.Session) ([]*corev1.Pod, error) {
	pods, err := c.pods.Pods(s.Namespace).List(labels.SelectorFromSet(selectorLabels(s)))
	if err != nil {
		return nil, err
	}
	out := pods[:0:0]
	for _, p := range pods {
		if p.Annotations[stream.SessionNameAnnotation] == s.Name {
			out = append(out, p)
		}
	}
	return out, nil
}
