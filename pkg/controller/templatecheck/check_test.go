package templatecheck

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

func TestCheck(t *testing.T) {
	valid := func() *streamv1alpha1.Template {
		return &streamv1alpha1.Template{Spec: streamv1alpha1.TemplateSpec{
			DisplayName: "Firefox", BaseImage: "lscr.io/linuxserver/firefox:latest", AppType: streamv1alpha1.AppTypeDesktop,
			VNC: &streamv1alpha1.VNCConfig{Enabled: true, Port: 3000, Protocol: "websocket"},
		}}
	}
	cases := []struct {
		name   string
		mutate func(*streamv1alpha1.Template)
		field  string // "" = valid
	}{
		{"valid", func(*streamv1alpha1.Template) {}, ""},
		{"image with digest and registry port", func(t *streamv1alpha1.Template) {
			t.Spec.BaseImage = "registry.local:5000/apps/firefox@sha256:" + strings.Repeat("a", 64)
		}, ""},
		{"stored before defaulting (kasmvnc, no appType)", func(t *streamv1alpha1.Template) {
			t.Spec.AppType, t.Spec.VNC, t.Spec.KasmVNC = "", nil, &streamv1alpha1.VNCConfig{Enabled: true}
		}, ""},
		{"not an image reference", func(t *streamv1alpha1.Template) { t.Spec.BaseImage = "Firefox::Latest" }, "spec.baseImage"},
		{"requests over limits", func(t *streamv1alpha1.Template) {
			t.Spec.DefaultResources = streamv1alpha1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
			}
		}, "spec.defaultResources.requests[cpu]"},
		{"vnc port declared as UDP", func(t *streamv1alpha1.Template) {
			t.Spec.Ports = []streamv1alpha1.TemplatePort{{ContainerPort: 3000, Protocol: corev1.ProtocolUDP}}
		}, "spec.ports[0].protocol"},
		{"webapp without its endpoint", func(t *streamv1alpha1.Template) { t.Spec.AppType = streamv1alpha1.AppTypeWebApp }, "spec.webapp"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tpl := valid()
			c.mutate(tpl)
			errs := Check(tpl)
			if c.field == "" {
				if len(errs) > 0 {
					t.Errorf("Check = %v, want valid", errs)
				}
				return
			}
			if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), c.field) {
				t.Errorf("Check = %v, want a problem at %s", errs, c.field)
			}
		})
	}
}
