package sessionworkload

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

func TestPhaseOf(t *testing.T) {
	pod := func(mutate func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
		mutate(p)
		return p
	}
	ready := pod(func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	})
	crashing := pod(func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "session", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "no such image"}}}}
	})
	unschedulable := pod(func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes"}}
	})
	running := &streamv1alpha1.Session{Spec: streamv1alpha1.SessionSpec{State: streamv1alpha1.SessionStateRunning}}
	hibernating := &streamv1alpha1.Session{Spec: streamv1alpha1.SessionSpec{State: streamv1alpha1.SessionStateHibernated},
		Status: streamv1alpha1.SessionStatus{Phase: streamv1alpha1.SessionPhaseRunning}}
	cases := []struct {
		name       string
		s          *streamv1alpha1.Session
		pods       podView
		wantPhase  streamv1alpha1.SessionPhase
		wantReason string
	}{
		{"no pod yet", running, podView{}, streamv1alpha1.SessionPhasePending, stream.SessionReasonStarting},
		{"pod not ready", running, podView{pod: pod(func(*corev1.Pod) {}), anyPods: true}, streamv1alpha1.SessionPhasePending, stream.SessionReasonStarting},
		{"pod ready", running, podView{pod: ready, anyPods: true}, streamv1alpha1.SessionPhaseRunning, stream.SessionReasonPodReady},
		{"image cannot be pulled", running, podView{pod: crashing, anyPods: true}, streamv1alpha1.SessionPhaseFailed, stream.SessionReasonPodFailing},
		{"unschedulable", running, podView{pod: unschedulable, anyPods: true}, streamv1alpha1.SessionPhasePending, stream.SessionReasonUnschedulable},
		{"scaling to zero", hibernating, podView{anyPods: true}, streamv1alpha1.SessionPhaseRunning, stream.SessionReasonHibernating},
		{"scaled to zero, pod gone", hibernating, podView{}, streamv1alpha1.SessionPhaseHibernated, stream.SessionReasonHibernated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			phase, reason, _, _ := phaseOf(c.s, c.pods)
			if phase != c.wantPhase || reason != c.wantReason {
				t.Errorf("phaseOf = %s/%s, want %s/%s", phase, reason, c.wantPhase, c.wantReason)
			}
		})
	}
}

func TestDeploymentFromTemplate(t *testing.T) {
	tpl := &streamv1alpha1.Template{Spec: streamv1alpha1.TemplateSpec{
		BaseImage:        "lscr.io/linuxserver/firefox:latest",
		DefaultResources: streamv1alpha1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}},
		Env:              []streamv1alpha1.EnvVar{{Name: "TZ", Value: "Etc/UTC"}},
		VolumeMounts:     []streamv1alpha1.VolumeMount{{Name: "user-home", MountPath: "/config"}, {Name: "cache", MountPath: "/cache"}},
		KasmVNC:          &streamv1alpha1.VNCConfig{Enabled: true},
	}}
	s := &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "alice.example.com-firefox", Namespace: "team"},
		Spec:       streamv1alpha1.SessionSpec{User: "alice@example.com", Template: "firefox", State: streamv1alpha1.SessionStateRunning},
	}
	d := desiredDeployment(s, tpl)
	c := d.Spec.Template.Spec.Containers[0]
	if *d.Spec.Replicas != 1 || c.Image != tpl.Spec.BaseImage || len(c.Env) != 1 {
		t.Errorf("replicas %d, image %s, env %v", *d.Spec.Replicas, c.Image, c.Env)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 3000 || c.Ports[0].Name != "vnc" {
		t.Errorf("ports %+v, want the old kasmvnc key's default port 3000", c.Ports)
	}
	if c.Resources.Limits.Memory().String() != "2Gi" {
		t.Errorf("resources %+v, want the template default", c.Resources)
	}
	claims := map[string]string{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims[v.Name] = v.PersistentVolumeClaim.ClaimName
		}
	}
	if len(claims) != 1 || claims["user-home"] == "" || claims["user-home"] == "home-alice@example.com" {
		t.Errorf("claims %v, want only user-home on a DNS-safe home claim", claims)
	}
	if d.Labels[stream.UserLabel] == "alice@example.com" || d.Name == s.Name {
		t.Errorf("label %q or name %q were not made valid", d.Labels[stream.UserLabel], d.Name)
	}

	s.Spec.Resources = streamv1alpha1.ResourceRequirements{CPU: ptr.To(resource.MustParse("500m"))}
	s.Spec.State = streamv1alpha1.SessionStateHibernated
	s.Spec.PersistentHome = ptr.To(false)
	d2 := desiredDeployment(s, tpl)
	c2 := d2.Spec.Template.Spec.Containers[0]
	if *d2.Spec.Replicas != 0 || c2.Resources.Requests.Cpu().String() != "500m" || c2.Resources.Limits.Cpu().String() != "500m" {
		t.Errorf("hibernated: replicas %d, resources %+v; want 0 and the session's flat cpu", *d2.Spec.Replicas, c2.Resources)
	}
	for _, v := range d2.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			t.Errorf("persistentHome false still mounts claim %s", v.PersistentVolumeClaim.ClaimName)
		}
	}
	if d.Annotations[stream.SpecHashAnnotation] == d2.Annotations[stream.SpecHashAnnotation] {
		t.Error("a different pod template has the same hash")
	}
	if given := givenResources(d2); given.Requests.Cpu().String() != "500m" || given.Limits.Cpu().String() != "500m" {
		t.Errorf("status.resources would be %+v, want the container's 500m", given)
	}
}
