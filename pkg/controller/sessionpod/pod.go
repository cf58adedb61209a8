// Package sessionpod is what the pod of a session is: its template (image,
// ports, env, volumes, resources, readiness), labels, owner and home claim,
// and the pod of a SessionPool, made for the pool's user ahead of a claim.
// The session controller runs sessions on such pods; the pool controller
// keeps pools of them.
package sessionpod

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/naming"
	"github.com/streamspace/controlplane/pkg/controller/platformconfig"
)

const (
	ContainerName = "session"
	HomeVolume    = "user-home"
)

// ChildName is the name of a session's Deployment, Service and Ingress: the
// session name when it is a DNS-1035 label, else a safe name with a hash.
func ChildName(s *streamv1alpha1.Session) string { return naming.DNSLabel(s.Name) }

// SessionLabels are the labels of every object of a session.
func SessionLabels(s *streamv1alpha1.Session) map[string]string {
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

func OwnerReference(s *streamv1alpha1.Session) metav1.OwnerReference {
	return *metav1.NewControllerRef(s, streamv1alpha1.SchemeGroupVersion.WithKind("Session"))
}

// Endpoint is the port a viewer reaches: the webapp's, else the VNC
// server's, else the template's first port.
type Endpoint struct {
	Port int32
	Path string
}

func PrimaryEndpoint(t *streamv1alpha1.Template) (Endpoint, bool) {
	spec := &t.Spec
	if w := spec.WebApp; w != nil && w.Enabled && w.Port > 0 {
		path := w.Path
		if path == "" {
			path = "/"
		}
		return Endpoint{Port: w.Port, Path: path}, true
	}
	if v := VNCConfig(spec); v != nil && v.Enabled {
		port := v.Port
		if port == 0 {
			port = streamv1alpha1.DefaultVNCPort
		}
		return Endpoint{Port: port, Path: "/"}, true
	}
	if len(spec.Ports) > 0 {
		return Endpoint{Port: spec.Ports[0].ContainerPort, Path: "/"}, true
	}
	return Endpoint{}, false
}

// VNCConfig returns vnc, or the old kasmvnc key of templates stored before
// defaulting moved it.
func VNCConfig(spec *streamv1alpha1.TemplateSpec) *streamv1alpha1.VNCConfig {
	if spec.VNC != nil {
		return spec.VNC
	}
	return spec.KasmVNC
}

// ContainerPorts are the template's ports plus its VNC and webapp ports.
func ContainerPorts(t *streamv1alpha1.Template) []corev1.ContainerPort {
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
	if v := VNCConfig(&t.Spec); v != nil && v.Enabled {
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

// ContainerResources are the session's resources, else the template's defaults.
func ContainerResources(s *streamv1alpha1.Session, t *streamv1alpha1.Template) corev1.ResourceRequirements {
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

// PodTemplate is the session's pod: the template's image, ports, env,
// volume mounts (user-home is the home claim, or an emptyDir without a
// persistent home) and resources.
func PodTemplate(s *streamv1alpha1.Session, t *streamv1alpha1.Template) corev1.PodTemplateSpec {
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
		if m.Name == HomeVolume && persistent {
			source = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: naming.HomeClaimName(s.Spec.User)}}
		}
		volumes = append(volumes, corev1.Volume{Name: m.Name, VolumeSource: source})
	}
	container := corev1.Container{
		Name:         ContainerName,
		Image:        t.Spec.BaseImage,
		Ports:        ContainerPorts(t),
		Env:          env,
		VolumeMounts: mounts,
		Resources:    ContainerResources(s, t),
	}
	if ep, ok := PrimaryEndpoint(t); ok {
		handler := corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(ep.Port)}}
		if w := t.Spec.WebApp; w != nil && w.Enabled && w.HealthCheck != "" {
			handler = corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: w.HealthCheck, Port: intstr.FromInt32(ep.Port)}}
		}
		container.ReadinessProbe = &corev1.Probe{ProbeHandler: handler, PeriodSeconds: 5, FailureThreshold: 3}
	}
	labels := SessionLabels(s)
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

// SpecHash fingerprints a desired spec (JSON of Go values is deterministic).
func SpecHash(spec any) string {
	data, _ := json.Marshal(spec)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:16]
}

// HomeClaim is the user's home, shared by the user's sessions in the
// namespace and kept when they end: it has no owner reference.
func HomeClaim(s *streamv1alpha1.Session, size resource.Quantity, storageClass string) *corev1.PersistentVolumeClaim {
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

// poolSession is the session a pool's workloads are made for: the pool's
// user (with their home) or nobody (no persistent home), the template's
// resources.
func poolSession(p *streamv1alpha1.SessionPool) *streamv1alpha1.Session {
	home := p.Spec.User != ""
	return &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: PoolChildName(p), Namespace: p.Namespace},
		Spec: streamv1alpha1.SessionSpec{
			User: p.Spec.User, Template: p.Spec.Template, State: streamv1alpha1.SessionStateRunning, PersistentHome: &home,
		},
	}
}

// PoolChildName is the name of a pool's Deployment.
func PoolChildName(p *streamv1alpha1.SessionPool) string { return naming.DNSLabel("pool-" + p.Name) }

// PoolSelector selects the unclaimed pods of a pool.
func PoolSelector(p *streamv1alpha1.SessionPool) map[string]string {
	return map[string]string{stream.PoolLabel: naming.LabelValue(p.Name)}
}

// PoolLabels are the labels of a pool's Deployment and pods.
func PoolLabels(p *streamv1alpha1.SessionPool) map[string]string {
	l := map[string]string{
		"app.kubernetes.io/name":      "streamspace-session",
		"app.kubernetes.io/instance":  PoolChildName(p),
		"app.kubernetes.io/component": "pool",
		"app.kubernetes.io/part-of":   "streamspace",
		manager.ManagedByLabel:        manager.ManagedByValue,
		stream.PoolLabel:              naming.LabelValue(p.Name),
		stream.TemplateLabel:          naming.LabelValue(p.Spec.Template),
	}
	if p.Spec.User != "" {
		l[stream.UserLabel] = naming.LabelValue(p.Spec.User)
	}
	return l
}

// PoolPodTemplate is the pod of a pool's workloads: the pod a session of
// the template gets, made for the pool's user (or nobody), with the
// identity volume, labelled for the pool. Its spec hash annotation tells a
// claim whether a pod is of the template as it is now.
func PoolPodTemplate(p *streamv1alpha1.SessionPool, tpl *streamv1alpha1.Template) corev1.PodTemplateSpec {
	pod := PodTemplate(poolSession(p), tpl)
	pod.Labels = PoolLabels(p)
	identity := corev1.Volume{Name: stream.IdentityVolume, VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
		Items: []corev1.DownwardAPIVolumeFile{
			{Path: "user", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['" + stream.UserNameAnnotation + "']"}},
			{Path: "session", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['" + stream.SessionNameAnnotation + "']"}},
		},
	}}}
	pod.Spec.Volumes = append(pod.Spec.Volumes, identity)
	c := &pod.Spec.Containers[0]
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: stream.IdentityVolume, MountPath: stream.IdentityMountPath, ReadOnly: true})
	pod.Annotations = map[string]string{stream.PoolNameAnnotation: p.Name}
	pod.Annotations[stream.SpecHashAnnotation] = SpecHash(pod.Spec)
	return pod
}

// DesiredPoolHomeClaim is the home claim of a pool's user.
func DesiredPoolHomeClaim(p *streamv1alpha1.SessionPool, size resource.Quantity, class string) *corev1.PersistentVolumeClaim {
	return HomeClaim(poolSession(p), size, class)
}

// WithPlatformDefaults gives a template without default resources the
// platform configuration's.
func WithPlatformDefaults(config *platformconfig.Source, tpl *streamv1alpha1.Template) *streamv1alpha1.Template {
	d := tpl.Spec.DefaultResources
	if len(d.Requests) > 0 || len(d.Limits) > 0 || d.CPU != nil || d.Memory != nil {
		return tpl
	}
	platform := config.DefaultResources()
	if platform == nil {
		return tpl
	}
	out := tpl.DeepCopy()
	out.Spec.DefaultResources = *platform.DeepCopy()
	return out
}

// Ready reports the pod's Ready condition.
func Ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
