package repository

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
)

func TestCredentialsNeedTheSecretToNameTheRepository(t *testing.T) {
	secret := func(annotation *string) *corev1.Secret {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "token", Namespace: DefaultSecretNamespace},
			Data:       map[string][]byte{"token": []byte("ghp_0123456789")},
		}
		if annotation != nil {
			s.Annotations = map[string]string{catalog.RepositoriesAnnotation: *annotation}
		}
		return s
	}
	ptr := func(s string) *string { return &s }
	cases := []struct {
		name       string
		secret     *corev1.Secret
		wantAllow  bool
		wantReason string
	}{
		{name: "unmarked", secret: secret(nil)},
		{name: "marked for another repository", secret: secret(ptr("other"))},
		{name: "a name that only contains it", secret: secret(ptr("community-mirror"))},
		{name: "empty annotation", secret: secret(ptr(""))},
		{name: "marked for it", secret: secret(ptr("community")), wantAllow: true},
		{name: "one of several", secret: secret(ptr("other, community ,third")), wantAllow: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Controller{kubeClient: fake.NewClientset(tc.secret), opts: *NewOptions()}
			repo := &catalogv1alpha1.TemplateRepository{
				ObjectMeta: metav1.ObjectMeta{Name: "community"},
				Spec: catalogv1alpha1.TemplateRepositorySpec{URL: "https://git.example.org/t.git", Branch: "main",
					Auth: catalogv1alpha1.RepositoryAuth{Type: catalogv1alpha1.AuthTypeToken, SecretRef: &catalogv1alpha1.SecretReference{Name: "token"}}},
			}
			creds, err := c.credentials(context.Background(), repo)
			if tc.wantAllow {
				if err != nil || creds.Password != "ghp_0123456789" {
					t.Fatalf("credentials %v, %v; want the token", creds, err)
				}
				return
			}
			var notAllowed *credentialsNotAllowedError
			if !errors.As(err, &notAllowed) || creds != nil {
				t.Fatalf("credentials %v, error %v; want a credentialsNotAllowedError", creds, err)
			}
			if msg := err.Error(); !strings.Contains(msg, "streamspace-system/token") || !strings.Contains(msg, catalog.RepositoriesAnnotation) || strings.Contains(msg, "ghp_") {
				t.Errorf("message %q should name the Secret and the annotation, and no value", msg)
			}
		})
	}
}
