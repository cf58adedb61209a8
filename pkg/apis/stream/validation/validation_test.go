package validation

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

func validSession() *stream.Session {
	home := true
	return &stream.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-firefox", Namespace: "alice"},
		Spec: stream.SessionSpec{
			User: "alice@example.org", Template: "firefox", State: stream.SessionStateRunning, PersistentHome: &home,
			IdleTimeout: &metav1.Duration{Duration: 30 * time.Minute}, MaxSessionDuration: &metav1.Duration{Duration: 8 * time.Hour},
		},
	}
}

func TestValidateSession(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*stream.Session)
		want   string // a field path in the error, "" for valid
	}{
		{"valid", func(*stream.Session) {}, ""},
		{"e-mail user", func(s *stream.Session) { s.Spec.User = "first.last+tag@example.org" }, ""},
		{"service account user", func(s *stream.Session) { s.Spec.User = "system:serviceaccount:ns:sa" }, ""},
		{"no user", func(s *stream.Session) { s.Spec.User = "" }, "spec.user"},
		{"user with newline", func(s *stream.Session) { s.Spec.User = "alice\nroot" }, "spec.user"},
		{"user too long", func(s *stream.Session) { s.Spec.User = strings.Repeat("a", 300) }, "spec.user"},
		{"no template", func(s *stream.Session) { s.Spec.Template = "" }, "spec.template"},
		{"template path traversal", func(s *stream.Session) { s.Spec.Template = "../etc" }, "spec.template"},
		{"unknown state", func(s *stream.Session) { s.Spec.State = "paused" }, "spec.state"},
		{"negative idle timeout", func(s *stream.Session) { s.Spec.IdleTimeout.Duration = -time.Second }, "spec.idleTimeout"},
		{"zero idle timeout means never", func(s *stream.Session) { s.Spec.IdleTimeout.Duration = 0 }, ""},
		{"negative max duration", func(s *stream.Session) { s.Spec.MaxSessionDuration.Duration = -time.Hour }, "spec.maxSessionDuration"},
		{"gpu resource", func(s *stream.Session) {
			s.Spec.Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
		}, "spec.resources.limits[nvidia.com/gpu]"},
		{"negative memory", func(s *stream.Session) {
			s.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("-1Gi")}
		}, "spec.resources.requests[memory]"},
		{"empty tag", func(s *stream.Session) { s.Spec.Tags = []string{""} }, "spec.tags[0]"},
		{"bad name", func(s *stream.Session) { s.Name = "Alice_Firefox" }, "metadata.name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validSession()
			tc.mutate(s)
			errs := ValidateSession(s)
			if tc.want == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Fatalf("errors %v do not name %s", errs, tc.want)
			}
		})
	}
}

func TestSessionOwnerAndTemplateAreImmutable(t *testing.T) {
	old := validSession()
	old.ResourceVersion = "1"
	s := validSession()
	s.ResourceVersion = "1"
	s.Spec.User = "mallory"
	s.Spec.Template = "vscode"
	s.Spec.State = stream.SessionStateHibernated
	msg := ValidateSessionUpdate(s, old).ToAggregate().Error()
	for _, want := range []string{"spec.user", "spec.template"} {
		if !strings.Contains(msg, want) {
			t.Errorf("update errors %q do not name %s", msg, want)
		}
	}
	if strings.Contains(msg, "spec.state") {
		t.Errorf("changing state must be allowed: %s", msg)
	}
}

func validTemplate() *stream.TemplateSpec {
	return &stream.TemplateSpec{
		DisplayName: "Firefox", BaseImage: "lscr.io/linuxserver/firefox:latest", AppType: stream.AppTypeDesktop,
		Icon:         "https://example.org/firefox.png",
		Ports:        []stream.TemplatePort{{Name: "vnc", ContainerPort: 3000, Protocol: corev1.ProtocolTCP}},
		Env:          []stream.EnvVar{{Name: "PUID", Value: "1000"}},
		VolumeMounts: []stream.VolumeMount{{Name: "user-home", MountPath: "/config"}},
		VNC:          &stream.VNCConfig{Enabled: true, Port: 3000, Protocol: "websocket"},
	}
}

func TestValidateTemplateSpec(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*stream.TemplateSpec)
		want   string
	}{
		{"valid", func(*stream.TemplateSpec) {}, ""},
		{"no display name", func(s *stream.TemplateSpec) { s.DisplayName = " " }, "spec.displayName"},
		{"image with space", func(s *stream.TemplateSpec) { s.BaseImage = "nginx; rm -rf /" }, "spec.baseImage"},
		{"javascript icon", func(s *stream.TemplateSpec) { s.Icon = "javascript:alert(1)" }, "spec.icon"},
		{"port out of range", func(s *stream.TemplateSpec) { s.Ports[0].ContainerPort = 70000 }, "spec.ports[0].containerPort"},
		{"duplicate env", func(s *stream.TemplateSpec) { s.Env = append(s.Env, s.Env[0]) }, "spec.env[1].name"},
		{"bad env name", func(s *stream.TemplateSpec) { s.Env[0].Name = "A=B" }, "spec.env[0].name"},
		{"relative mount", func(s *stream.TemplateSpec) { s.VolumeMounts[0].MountPath = "config/../.." }, "spec.volumeMounts[0].mountPath"},
		{"vnc protocol", func(s *stream.TemplateSpec) { s.VNC.Protocol = "telnet" }, "spec.vnc.protocol"},
		{"desktop without endpoint", func(s *stream.TemplateSpec) { s.VNC = nil; s.Ports = nil }, "spec.vnc"},
		{"webapp without webapp", func(s *stream.TemplateSpec) { s.AppType = stream.AppTypeWebApp }, "spec.webapp"},
		{"webapp", func(s *stream.TemplateSpec) {
			s.AppType = stream.AppTypeWebApp
			s.WebApp = &stream.WebAppConfig{Enabled: true, Port: 8443, Path: "/"}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validTemplate()
			tc.mutate(s)
			errs := ValidateTemplateSpec(s, nil)
			if tc.want == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if !strings.Contains(errs.ToAggregate().Error(), strings.TrimPrefix(tc.want, "spec.")) {
				t.Fatalf("errors %v do not name %s", errs, tc.want)
			}
		})
	}
}

func TestValidateUser(t *testing.T) {
	valid := func(name string) *stream.User {
		return &stream.User{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: stream.UserStatus{Role: stream.UserRoleUser}}
	}
	for _, name := range []string{"oidc:carol", "alice", "carol@example.com", "Carol Cooper"} {
		if errs := ValidateUser(valid(name)); len(errs) != 0 {
			t.Errorf("User %q: %v", name, errs)
		}
	}
	for _, name := range []string{"", "a/b", "..", "a%b", "a\nb"} {
		if errs := ValidateUser(valid(name)); len(errs) == 0 || errs[0].Field != "metadata.name" {
			t.Errorf("User %q: errors %v, want one on metadata.name", name, errs)
		}
	}
	u := valid("alice")
	u.Status.Role = "root"
	if errs := ValidateUser(u); len(errs) != 1 || errs[0].Field != "status.role" {
		t.Errorf("role root: %v", errs)
	}
}

func TestValidateAPIKey(t *testing.T) {
	created := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	key := func(user string, expires time.Duration) *stream.APIKey {
		k := &stream.APIKey{ObjectMeta: metav1.ObjectMeta{Name: "ci", CreationTimestamp: metav1.NewTime(created)},
			Spec: stream.APIKeySpec{User: user}}
		if expires != 0 {
			at := metav1.NewTime(created.Add(expires))
			k.Spec.ExpiresAt = &at
		}
		return k
	}
	if errs := ValidateAPIKey(key("oidc:carol", 90*24*time.Hour)); len(errs) != 0 {
		t.Errorf("a 90-day key: %v", errs)
	}
	for what, tc := range map[string]struct {
		key   *stream.APIKey
		field string
	}{
		"no expiry":          {key("oidc:carol", 0), "spec.expiresAt"},
		"expired":            {key("oidc:carol", -time.Hour), "spec.expiresAt"},
		"91 days":            {key("oidc:carol", 91*24*time.Hour), "spec.expiresAt"},
		"a ServiceAccount":   {key("system:serviceaccount:ns:sa", time.Hour), "spec.user"},
		"no user":            {key("", time.Hour), "spec.user"},
		"underscore in name": {func() *stream.APIKey { k := key("oidc:carol", time.Hour); k.Name = "a_b"; return k }(), "metadata.name"},
	} {
		errs := ValidateAPIKey(tc.key)
		found := false
		for _, e := range errs {
			found = found || e.Field == tc.field
		}
		if !found {
			t.Errorf("%s: errors %v, want one on %s", what, errs, tc.field)
		}
	}
}
