package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// configurationRow reads one setting from the configuration view in psql.
func configurationRow(t *testing.T, key string) (value, updatedBy string, updatedAt *time.Time) {
	t.Helper()
	ctx := context.Background()
	conn := stackDatabase(t)
	var v, by *string
	if err := conn.QueryRow(ctx, "SELECT value, updated_by, updated_at FROM configuration WHERE key = $1", key).Scan(&v, &by, &updatedAt); err != nil {
		t.Fatalf("select %s from configuration: %v", key, err)
	}
	if v != nil {
		value = *v
	}
	if by != nil {
		updatedBy = *by
	}
	return value, updatedBy, updatedAt
}

// The platform configuration as an API: the example applies as is and
// changes nothing; psql shows the settings under the old keys with who
// changed them; a new default idle timeout reaches new sessions and their
// hibernation deadline without a restart; turning auto-hibernation off
// clears the deadlines within seconds; nonsense is refused with the field;
// users may not change it.
func TestPlatformConfiguration(t *testing.T) {
	ctx := context.Background()
	ss, _ := clients(t, "admin")
	t.Cleanup(func() {
		_, _ = kubectl(t, "admin", "", "delete", "platformconfiguration", "cluster", "--ignore-not-found")
	})

	mustKubectl(t, "admin", "", "apply", "-f", "../../artifacts/examples/configuration.yaml")
	value, by, at := configurationRow(t, "session.defaultIdleTimeout")
	if value != "30m0s" || by == "" || at == nil {
		t.Errorf("configuration session.defaultIdleTimeout = %q by %q at %v, want 30m0s with who and when", value, by, at)
	}
	if v, _, _ := configurationRow(t, "ingress.domain"); v != "" {
		t.Errorf("configuration ingress.domain = %q, want empty", v)
	}
	if v, _, _ := configurationRow(t, "session.enableAutoHibernation"); v != "true" {
		t.Errorf("configuration session.enableAutoHibernation = %q, want true", v)
	}

	// alice may read nothing of it and change nothing.
	if _, err := kubectl(t, "alice", `{"apiVersion":"stream.space/v1alpha1","kind":"PlatformConfiguration","metadata":{"name":"cluster"},"spec":{"sessions":{"defaultIdleTimeout":"1m"}}}`, "apply", "-f", "-"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("alice changing the platform configuration: %v, want forbidden", err)
	}

	// Nonsense is refused, naming the field.
	for manifest, want := range map[string]string{
		`{"apiVersion":"stream.space/v1alpha1","kind":"PlatformConfiguration","metadata":{"name":"cluster"},"spec":{"sessions":{"defaultIdleTimeout":"-1m"}}}`: "spec.sessions.defaultIdleTimeout: Invalid value",
		`{"apiVersion":"stream.space/v1alpha1","kind":"PlatformConfiguration","metadata":{"name":"cluster"},"spec":{"ingress":{"domain":"Not A Domain"}}}`:     "spec.ingress.domain: Invalid value",
		`{"apiVersion":"stream.space/v1alpha1","kind":"PlatformConfiguration","metadata":{"name":"cluster"},"spec":{"home":{"volumeSize":"0"}}}`:               "spec.home.volumeSize: Invalid value",
		`{"apiVersion":"stream.space/v1alpha1","kind":"PlatformConfiguration","metadata":{"name":"second"},"spec":{}}`:                                         "metadata.name: Invalid value",
	} {
		verb := "apply"
		if strings.Contains(manifest, `"second"`) {
			verb = "create"
		}
		if _, err := kubectl(t, "admin", manifest, verb, "-f", "-"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s was not refused with %q: %v", manifest, want, err)
		}
	}

	// A new default reaches new sessions, and their deadline.
	mustKubectl(t, "admin", "", "patch", "platformconfiguration", "cluster", "--type=merge", "-p", `{"spec":{"sessions":{"defaultIdleTimeout":"7m"}}}`)
	if value, by, _ := configurationRow(t, "session.defaultIdleTimeout"); value != "7m0s" || by != "streamspace-dev-admin" {
		t.Errorf("after the patch configuration says %q by %q, want 7m0s by streamspace-dev-admin", value, by)
	}
	name := uniqueName("platform-idle")
	mustKubectl(t, "alice", sessionYAML(name, "firefox"), "create", "-n", "alice", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, "alice", "", "-n", "alice", "delete", "session", name, "--ignore-not-found", "--wait=false")
	})
	var s *streamv1alpha1.Session
	eventually(t, time.Minute, "the new session's hibernation deadline", func() (bool, error) {
		var err error
		s, err = ss.StreamV1alpha1().Sessions("alice").Get(ctx, name, metav1.GetOptions{})
		return err == nil && s.Status.HibernateAt != nil, err
	})
	if s.Spec.IdleTimeout == nil || s.Spec.IdleTimeout.Duration != 7*time.Minute {
		t.Errorf("the new session's idleTimeout is %v, want the configured 7m", s.Spec.IdleTimeout)
	}
	if d := s.Status.HibernateAt.Sub(s.CreationTimestamp.Time); d < 7*time.Minute || d > 9*time.Minute {
		t.Errorf("the new session hibernates %s after its creation, want about the configured 7m", d)
	}

	// Turning auto-hibernation off takes the deadline away, on again brings it back.
	mustKubectl(t, "admin", "", "patch", "platformconfiguration", "cluster", "--type=merge", "-p", `{"spec":{"sessions":{"autoHibernation":false}}}`)
	eventually(t, 30*time.Second, "no hibernation deadline with auto-hibernation off", func() (bool, error) {
		s, err := ss.StreamV1alpha1().Sessions("alice").Get(ctx, name, metav1.GetOptions{})
		return err == nil && s.Status.HibernateAt == nil, err
	})
	mustKubectl(t, "admin", "", "patch", "platformconfiguration", "cluster", "--type=merge", "-p", `{"spec":{"sessions":{"autoHibernation":true}}}`)
	eventually(t, 30*time.Second, "the hibernation deadline back with auto-hibernation on", func() (bool, error) {
		s, err := ss.StreamV1alpha1().Sessions("alice").Get(ctx, name, metav1.GetOptions{})
		return err == nil && s.Status.HibernateAt != nil, err
	})

	// Without a configuration the old default applies again.
	mustKubectl(t, "admin", "", "delete", "platformconfiguration", "cluster")
	other := uniqueName("platform-default")
	mustKubectl(t, "alice", sessionYAML(other, "firefox"), "create", "-n", "alice", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, "alice", "", "-n", "alice", "delete", "session", other, "--ignore-not-found", "--wait=false")
	})
	if out := mustKubectl(t, "alice", "", "get", "session", other, "-n", "alice", "-o", "jsonpath={.spec.idleTimeout}"); out != "30m0s" {
		t.Errorf("without a configuration a new session's idleTimeout is %q, want 30m0s", out)
	}
	if v, _, _ := configurationRow(t, "session.defaultIdleTimeout"); v != "" {
		t.Errorf("without a configuration psql shows %q, want NULL", v)
	}
}
