package sessionworkload

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/naming"
	"github.com/streamspace/controlplane/pkg/controller/sessionpod"
)

// ChildName is the name of a session's Deployment, Service and Ingress.
func ChildName(s *streamv1alpha1.Session) string { return sessionpod.ChildName(s) }

// selectorLabels select the pods of one session.
func selectorLabels(s *streamv1alpha1.Session) map[string]string {
	return map[string]string{stream.SessionLabel: naming.LabelValue(s.Name)}
}

func childMeta(s *streamv1alpha1.Session) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            ChildName(s),
		Namespace:       s.Namespace,
		Labels:          sessionpod.SessionLabels(s),
		Annotations:     map[string]string{stream.SessionNameAnnotation: s.Name},
		OwnerReferences: []metav1.OwnerReference{sessionpod.OwnerReference(s)},
	}
}

// desiredDeployment runs one pod while the session runs and none while it
// hibernates. Recreate: the home claim may be ReadWriteOnce.
func desiredDeployment(s *streamv1alpha1.Session, t *streamv1alpha1.Template) *appsv1.Deployment {
	pod := sessionpod.PodTemplate(s, t)
	replicas := int32(1)
	if s.Spec.State != streamv1alpha1.SessionStateRunning {
		replicas = 0
	}
	meta := childMeta(s)
	meta.Annotations[stream.SpecHashAnnotation] = sessionpod.SpecHash(pod)
	return &appsv1.Deployment{
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas:             &replicas,
			Selector:             &metav1.LabelSelector{MatchLabels: selectorLabels(s)},
			Template:             pod,
			Strategy:             appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			RevisionHistoryLimit: ptr.To(int32(2)),
		},
	}
}

// desiredService exposes every container port of the session's pod.
func desiredService(s *streamv1alpha1.Session, t *streamv1alpha1.Template) *corev1.Service {
	var ports []corev1.ServicePort
	for i, p := range sessionpod.ContainerPorts(t) {
		name := p.Name
		if name == "" {
			name = fmt.Sprintf("port-%d", i)
		}
		ports = append(ports, corev1.ServicePort{Name: strings.ToLower(name), Port: p.ContainerPort, TargetPort: intstr.FromInt32(p.ContainerPort), Protocol: p.Protocol})
	}
	svc := &corev1.Service{
		ObjectMeta: childMeta(s),
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: selectorLabels(s), Ports: ports},
	}
	svc.Annotations[stream.SpecHashAnnotation] = sessionpod.SpecHash(svc.Spec)
	return svc
}

// IngressHost is <session>-<namespace>.<domain> as one DNS label, so that
// sessions of the same name in two namespaces never share a host.
func IngressHost(s *streamv1alpha1.Session, domain string) string {
	return naming.DNSLabel(s.Name+"-"+s.Namespace) + "." + domain
}

// SessionURL is where a viewer reaches the session through the ingress.
func SessionURL(s *streamv1alpha1.Session, t *streamv1alpha1.Template, domain string) string {
	if domain == "" {
		return ""
	}
	path := "/"
	if ep, ok := sessionpod.PrimaryEndpoint(t); ok {
		path = ep.Path
	}
	return "https://" + IngressHost(s, domain) + path
}

// desiredIngress routes the session's host to its primary endpoint, behind
// forward-auth when configured (forwardAuthAnnotations).
func desiredIngress(s *streamv1alpha1.Session, t *streamv1alpha1.Template, opts Options) *networkingv1.Ingress {
	domain, class := opts.IngressDomain, opts.IngressClassName
	ep, ok := sessionpod.PrimaryEndpoint(t)
	if !ok {
		return nil
	}
	ing := &networkingv1.Ingress{
		ObjectMeta: childMeta(s),
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{
				Host: IngressHost(s, domain),
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: ptr.To(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: ChildName(s), Port: networkingv1.ServiceBackendPort{Number: ep.Port},
						}},
					}},
				}},
			}},
		},
	}
	if class != "" {
		ing.Spec.IngressClassName = &class
	}
	auth := forwardAuthAnnotations(s, opts)
	for k, v := range auth {
		ing.Annotations[k] = v
	}
	// The annotations are part of what the ingress controller does, so a
	// change of the auth flags updates existing Ingresses too.
	ing.Annotations[stream.SpecHashAnnotation] = sessionpod.SpecHash(struct {
		Spec        networkingv1.IngressSpec
		Annotations map[string]string
	}{ing.Spec, auth})
	return ing
}

// givenResources are the requests and limits of the session's container in
// its Deployment, for status.resources (usage records the requests).
func givenResources(d *appsv1.Deployment) streamv1alpha1.ResourceRequirements {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == sessionpod.ContainerName {
			r := c.Resources.DeepCopy()
			return streamv1alpha1.ResourceRequirements{Requests: r.Requests, Limits: r.Limits}
		}
	}
	return streamv1alpha1.ResourceRequirements{}
}
