package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// TestTemplateValidationAndSessionFailures: the controller writes its
// verdict on each template; a session of an invalid or missing template is
// Failed with the reason, and starts once its template exists.
func TestTemplateValidationAndSessionFailures(t *testing.T) {
	t.Parallel()
	ss, _ := clients(t, "bob")
	templates := ss.StreamV1alpha1().Templates("bob")
	eventually(t, 30*time.Second, "sample template firefox validated", func() (bool, error) {
		tpl, err := templates.Get(context.Background(), "firefox", metav1.GetOptions{})
		return err == nil && tpl.Status.Valid && meta.IsStatusConditionTrue(tpl.Status.Conditions, "Valid"), err
	})

	// The API accepts this image (no whitespace); it is not a valid reference.
	bad := &streamv1alpha1.Template{
		ObjectMeta: metav1.ObjectMeta{Name: "validation-bad-image"},
		Spec: streamv1alpha1.TemplateSpec{
			DisplayName: "Bad", BaseImage: "Registry.Example.com/UPPER/Case::tag",
			VNC: &streamv1alpha1.VNCConfig{Enabled: true},
		},
	}
	if _, err := templates.Create(context.Background(), bad, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create template: %v", err)
	}
	t.Cleanup(func() { _ = templates.Delete(context.Background(), bad.Name, metav1.DeleteOptions{}) })
	var tpl *streamv1alpha1.Template
	eventually(t, 30*time.Second, "the bad template marked invalid", func() (bool, error) {
		var err error
		tpl, err = templates.Get(context.Background(), bad.Name, metav1.GetOptions{})
		return err == nil && tpl.Status.ObservedGeneration == tpl.Generation && !tpl.Status.Valid, err
	})
	if !strings.Contains(tpl.Status.Message, "spec.baseImage") || meta.IsStatusConditionTrue(tpl.Status.Conditions, "Valid") {
		t.Errorf("status of the bad template: message %q, conditions %+v", tpl.Status.Message, tpl.Status.Conditions)
	}

	invalid := newSession(t, ss, "bob", "validation-invalid", bad.Name, never, 0)
	s := waitSession(t, ss, "bob", invalid.Name, 30*time.Second, "Failed", phaseIs(streamv1alpha1.SessionPhaseFailed))
	if s.Status.Reason != "TemplateInvalid" || !strings.Contains(s.Status.Message, "baseImage") {
		t.Errorf("session of an invalid template: reason %s, message %q", s.Status.Reason, s.Status.Message)
	}

	missing := newSession(t, ss, "bob", "validation-missing", "validation-later", never, 0)
	s = waitSession(t, ss, "bob", missing.Name, 30*time.Second, "Failed", phaseIs(streamv1alpha1.SessionPhaseFailed))
	if s.Status.Reason != "TemplateNotFound" || meta.IsStatusConditionTrue(s.Status.Conditions, "TemplateResolved") {
		t.Errorf("session of a missing template: reason %s, conditions %+v", s.Status.Reason, s.Status.Conditions)
	}
	later := bad.DeepCopy()
	later.Name, later.Spec.BaseImage = "validation-later", "lscr.io/linuxserver/firefox:latest"
	if _, err := templates.Create(context.Background(), later, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create the missing template: %v", err)
	}
	t.Cleanup(func() { _ = templates.Delete(context.Background(), later.Name, metav1.DeleteOptions{}) })
	waitSession(t, ss, "bob", missing.Name, startTimeout, "Running once its template exists", phaseIs(streamv1alpha1.SessionPhaseRunning))
}
