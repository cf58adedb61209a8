package sessionworkload

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/sessionpod"
)

// A pool serves sessions of its template whose home it has: its user's
// with a persistent home, or anyone's without one when it has no user.
func TestPoolServes(t *testing.T) {
	pool := func(user string) *streamv1alpha1.SessionPool {
		return &streamv1alpha1.SessionPool{Spec: streamv1alpha1.SessionPoolSpec{Template: "firefox", User: user}}
	}
	session := func(user, template string, home bool) *streamv1alpha1.Session {
		return &streamv1alpha1.Session{Spec: streamv1alpha1.SessionSpec{User: user, Template: template, PersistentHome: ptr.To(home)}}
	}
	cases := []struct {
		name string
		pool *streamv1alpha1.SessionPool
		s    *streamv1alpha1.Session
		want bool
	}{
		{"the pool's user with a home", pool("alice"), session("alice", "firefox", true), true},
		{"another user", pool("alice"), session("bob", "firefox", true), false},
		{"the pool's user without a home", pool("alice"), session("alice", "firefox", false), false},
		{"another template", pool("alice"), session("alice", "vscode", true), false},
		{"no pool user, no home", pool(""), session("bob", "firefox", false), true},
		{"no pool user, a home", pool(""), session("bob", "firefox", true), false},
	}
	for _, c := range cases {
		if got := poolServes(c.pool, c.s); got != c.want {
			t.Errorf("%s: poolServes = %v, want %v", c.name, got, c.want)
		}
	}
	deleting := pool("alice")
	deleting.DeletionTimestamp = &metav1.Time{}
	if poolServes(deleting, session("alice", "firefox", true)) {
		t.Error("a pool being deleted serves sessions")
	}
}

// A pool's pod is the session's pod made for the pool's user, plus the
// identity volume; a change of the template changes its hash, so that pods
// of the old template are not claimed.
func TestPoolPodTemplate(t *testing.T) {
	tpl := &streamv1alpha1.Template{ObjectMeta: metav1.ObjectMeta{Name: "firefox"}, Spec: streamv1alpha1.TemplateSpec{
		BaseImage:    "firefox:1",
		VolumeMounts: []streamv1alpha1.VolumeMount{{Name: sessionpod.HomeVolume, MountPath: "/home"}},
	}}
	p := &streamv1alpha1.SessionPool{ObjectMeta: metav1.ObjectMeta{Name: "warm", Namespace: "alice"},
		Spec: streamv1alpha1.SessionPoolSpec{Template: "firefox", User: "alice", Replicas: 2}}
	pod := sessionpod.PoolPodTemplate(p, tpl)
	if pod.Labels[stream.PoolLabel] != "warm" || pod.Labels[stream.SessionLabel] != "" {
		t.Errorf("labels %v: want the pool's, no session's", pod.Labels)
	}
	var home, identity bool
	for _, v := range pod.Spec.Volumes {
		home = home || (v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "home-alice")
		identity = identity || (v.Name == stream.IdentityVolume && v.DownwardAPI != nil)
	}
	if !home || !identity {
		t.Errorf("volumes %+v: want home-alice and the identity volume", pod.Spec.Volumes)
	}
	changed := tpl.DeepCopy()
	changed.Spec.BaseImage = "firefox:2"
	if sessionpod.PoolPodTemplate(p, changed).Annotations[stream.SpecHashAnnotation] == pod.Annotations[stream.SpecHashAnnotation] {
		t.Error("a new image leaves the pool pod's spec hash as it was")
	}
}
