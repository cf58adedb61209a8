package sessionworkload

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/naming"
)

const (
	containerName = "session"
	homeVolume    = "user-home"
)

// ChildName is the name of a session's Deployment, Service and Ingress: the
// session name when it is a DNS-1035 label, else a safe name with a hash.
func ChildName(s *streamv1alpha1.Session) string { return naming.DNSLabel(s.Name) }

// selectorLabels select the pods of one session.
func selectorLabels(s *streamv1alpha1.Session) map[string]string {
	return map[string]string{stream.SessionLabel: naming.LabelValue(s.Name)}
}

// sessionLabels are the labels of every object of a session.
func sessionLabels(s *streamv1alpha1.Session) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "streamspace-session",
		"app.kubernetes.io/instance":  ChildName(s),
		"app.kubernetes.io/component": "session",
		"app.kubernetes.io/part-of":   "streamspace",
		manager.ManagedByLabel:        manager.ManagedByValue,
		stream.SessionLabel:           naming.LabelValue(s.Name),
		stream.UserLabel:              naming.LabelValue(s.Spec.User),
		stream.TemplateLabel:          naming.LabelValue(s.Spec.Template),
	}
}

func ownerReference(s *streamv1alpha1.Session) metav1.OwnerReference {
	return *metav1.NewControllerRef(s, streamv1alpha1.SchemeGroupVersion.WithKind("Session"))
}

func childMeta(s *streamv1alpha1.Session) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            ChildName(s),
		Namespace:       s.Namespace,
		Labels:          sessionLabels(s),
		Annotations:     map[string]string{stream.SessionNameAnnotation: s.Name},
		OwnerReferences: []metav1.OwnerReference{ownerReference(s)},
	}
}

// endpoint is the port a viewer reaches: the webapp's, else the VNC
// server's, else the template's first port.
type endpoint struct {
	port int32
	path string
}

func primaryEndpoint(t *streamv1alpha1.Template) (endpoint, bool) {
	spec := &t.Spec
	if w := spec.WebApp; w != nil && w.Enabled && w.Port > 0 {
		path := w.Path
		if path == "" {
			path = "/"
		}
		return endpoint{port: w.Port, path: path}, true
	}
	if v := vncConfig(spec); v != nil && v.Enabled {
		port := v.Port
		if port == 0 {
			port = streamv1alpha1.DefaultVNCPort
		}
		return endpoint{port: port, path: "/"}, true
	}
	if len(spec.Ports) > 0 {
		return endpoint{port: spec.Ports[0].ContainerPort, path: "/"}, true
	}
	return endpoint{}, false
}

// vncConfig returns vnc, or the old kasmvnc key of templates stored before
// defaulting moved it.
func vncConfig(spec *streamv1alpha1.TemplateSpec) *streamv1alpha1.VNCConfig {
	if spec.VNC != nil {
		return spec.VNC
	}
	return spec.KasmVNC
}

// containerPorts are the template's ports plus its VNC and webapp ports.
func containerPorts(t *streamv1alpha1.Template) []corev1.ContainerPort {
	var ports []corev1.ContainerPort
	has := map[int32]bool{}
	names := map[string]bool{}
	for _, p := range t.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		ports = append(ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.ContainerPort, Protocol: proto})
		has[p.ContainerPort] = true
		names[p.Name] = true
	}
	add := func(name string, port int32) {
		if port == 0 || has[port] {
			return
		}
		if names[name] {
			name = ""
		}
		ports = append(ports, corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP})
		has[port] = true
		names[name] = true
	}
	if v := vncConfig(&t.Spec); v != nil && v.Enabled {
		port := v.Port
		if port == 0 {
			port = streamv1alpha1.DefaultVNCPort
		}
		add("vnc", port)
	}
	if w := t.Spec.WebApp; w != nil && w.Enabled {
		add("http", w.Port)
	}
	return ports
}

// containerResources are the session's resources, else the template's defaults.
func containerResources(s *streamv1alpha1.Session, t *streamv1alpha1.Template) corev1.ResourceRequirements {
	pick := s.Spec.Resources
	if len(pick.Requests) == 0 && len(pick.Limits) == 0 && pick.CPU == nil && pick.Memory == nil {
		pick = t.Spec.DefaultResources
	}
	out := corev1.ResourceRequirements{Requests: copyList(pick.Requests), Limits: copyList(pick.Limits)}
	// The old flat form, where the server has not already folded it in.
	for name, q := range map[corev1.ResourceName]*resource.Quantity{corev1.ResourceCPU: pick.CPU, corev1.ResourceMemory: pick.Memory} {
		if q == nil {
			continue
		}
		for _, list := range []*corev1.ResourceList{&out.Requests, &out.Limits} {
			if *list == nil {
				*list = corev1.ResourceList{}
			}
			if _, ok := (*list)[name]; !ok {
				(*list)[name] = q.DeepCopy()
			}
		}
	}
	return out
}

// givenResources are the requests and limits of the session's container in
// its Deployment, for status.resources (usage records the requests).
func givenResources(d *appsv1.Deployment) streamv1alpha1.ResourceRequirements {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == containerName {
			return streamv1alpha1.ResourceRequirements{Requests: copyList(c.Resources.Requests), Limits: copyList(c.Resources.Limits)}
		}
	}
	return streamv1alpha1.ResourceRequirements{}
}

func copyList(l corev1.ResourceList) corev1.ResourceList {
	if len(l) == 0 {
		return nil
	}
	out := corev1.ResourceList{}
	for k, v := range l {
		out[k] = v.DeepCopy()
	}
	return out
}

// podTemplate is the session's pod: the template's image, ports, env,
// volume mounts (user-home is the home claim, or an emptyDir without a
// persistent home) and resources.
func podTemplate(s *streamv1alpha1.Session, t *streamv1alpha1.Template) corev1.PodTemplateSpec {
	persistent := s.Spec.PersistentHome == nil || *s.Spec.PersistentHome
	var env []corev1.EnvVar
	for _, e := range t.Spec.Env {
		env = append(env, corev1.EnvVar{Name: e.Name, Value: e.Value})
	}
	var mounts []corev1.VolumeMount
	var volumes []corev1.Volume
	seen := map[string]bool{}
	for _, m := range t.Spec.VolumeMounts {
		mounts = append(mounts, corev1.VolumeMount{Name: m.Name, MountPath: m.MountPath, ReadOnly: m.ReadOnly})
		if seen[m.Name] {
			continue
		}
		seen[m.Name] = true
		source := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		if m.Name == homeVolume && persistent {
			source = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: naming.HomeClaimName(s.Spec.User)}}
		}
		volumes = append(volumes, corev1.Volume{Name: m.Name, VolumeSource: source})
	}
	container := corev1.Container{
		Name:         containerName,
		Image:        t.Spec.BaseImage,
		Ports:        containerPorts(t),
		Env:          env,
		VolumeMounts: mounts,
		Resources:    containerResources(s, t),
	}
	if ep, ok := primaryEndpoint(t); ok {
		handler := corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(ep.port)}}
		if w := t.Spec.WebApp; w != nil && w.Enabled && w.HealthCheck != "" {
			handler = corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: w.HealthCheck, Port: intstr.FromInt32(ep.port)}}
		}
		container.ReadinessProbe = &corev1.Probe{ProbeHandler: handler, PeriodSeconds: 5, FailureThreshold: 3}
	}
	labels := sessionLabels(s)
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{stream.SessionNameAnnotation: s.Name}},
		Spec: corev1.PodSpec{
			Containers:                   []corev1.Container{container},
			Volumes:                      volumes,
			EnableServiceLinks:           ptr.To(false),
			AutomountServiceAccountToken: ptr.To(false),
		},
	}
}

// desiredDeployment runs one pod while the session runs and none while it
// hibernates. Recreate: the home claim may be ReadWriteOnce.
func desiredDeployment(s *streamv1alpha1.Session, t *streamv1alpha1.Template) *appsv1.Deployment {
	pod := podTemplate(s, t)
	replicas := int32(1)
	if s.Spec.State != streamv1alpha1.SessionStateRunning {
		replicas = 0
	}
	meta := childMeta(s)
	meta.Annotations[stream.SpecHashAnnotation] = specHash(pod)
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

// specHash fingerprints a desired spec (JSON of Go values is deterministic).
func specHash(spec any) string {
	data, _ := json.Marshal(spec)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:16]
}

// desiredService exposes every container port of the session's pod.
func desiredService(s *streamv1alpha1.Session, t *streamv1alpha1.Template) *corev1.Service {
	var ports []corev1.ServicePort
	for i, p := range containerPorts(t) {
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
	svc.Annotations[stream.SpecHashAnnotation] = specHash(svc.Spec)
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
	if ep, ok := primaryEndpoint(t); ok {
		path = ep.path
	}
	return "https://" + IngressHost(s, domain) + path
}

// desiredIngress routes the session's host to its primary endpoint, behind
// forward-auth when configured (forwardAuthAnnotations).
func desiredIngress(s *streamv1alpha1.Session, t *streamv1alpha1.Template, opts Options) *networkingv1.Ingress {
	domain, class := opts.IngressDomain, opts.IngressClassName
	ep, ok := primaryEndpoint(t)
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
							Name: ChildName(s), Port: networkingv1.ServiceBackendPort{Number: ep.port},
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
	ing.Annotations[stream.SpecHashAnnotation] = specHash(struct {
		Spec        networkingv1.IngressSpec
		Annotations map[string]string
	}{ing.Spec, auth})
	return ing
}

// desiredHomeClaim is the user's home, shared by the user's sessions in the
// namespace and kept when they end: it has no owner reference.
func desiredHomeClaim(s *streamv1alpha1.Session, size resource.Quantity, storageClass string) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:      naming.HomeClaimName(s.Spec.User),
			Namespace: s.Namespace,
			Labels: map[string]string{
				"app.kubernetes.io/name":      "streamspace-home",
				"app.kubernetes.io/component": "home",
				"app.kubernetes.io/part-of":   "streamspace",
				manager.ManagedByLabel:        manager.ManagedByValue,
				stream.UserLabel:              naming.LabelValue(s.Spec.User),
			},
			Annotations: map[string]string{stream.UserNameAnnotation: s.Spec.User},
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
	if storageClass != "" {
		pvc.Spec.StorageClassName = &storageClass
	}
	return pvc
}
