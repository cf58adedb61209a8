package webhook

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned/fake"
)

// Two bridge replicas (two handlers, each with its own memory) share the
// TemplateRepositories: a delivery one of them served is a replay on the other.
func TestReplayAcrossReplicas(t *testing.T) {
	client := fake.NewSimpleClientset(&catalogv1alpha1.TemplateRepository{
		ObjectMeta: metav1.ObjectMeta{Name: "catalog"},
		Spec:       catalogv1alpha1.TemplateRepositorySpec{URL: "https://github.com/org/templates.git", Branch: "main"},
	})
	replica := func() *Handler {
		h, _ := newHandler(t, &AnnotationTrigger{Client: client})
		return h
	}
	first, second := replica(), replica()
	body := `{"ref":"refs/heads/main","repository":{"clone_url":"https://github.com/org/templates.git"}}`
	header := map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": "sha256=" + sign(body)}
	if rec := post(first, body, header); rec.Code != 202 || !strings.Contains(rec.Body.String(), `"catalog"`) {
		t.Fatalf("first replica: %d %s, want 202", rec.Code, rec.Body)
	}
	if rec := post(second, body, header); rec.Code != 409 || !strings.Contains(rec.Body.String(), "already received by repositories catalog") {
		t.Fatalf("second replica: %d %s, want 409", rec.Code, rec.Body)
	}
	if rec := post(second, body, with(header, "X-GitHub-Delivery", "d-2")); rec.Code != 409 {
		t.Fatalf("second replica, new delivery ID for the same body: %d %s, want 409", rec.Code, rec.Body)
	}
	other := `{"ref":"refs/heads/main","after":"2","repository":{"clone_url":"https://github.com/org/templates.git"}}`
	if rec := post(second, other, with(header, "X-GitHub-Delivery", "d-3", "X-Hub-Signature-256", "sha256="+sign(other))); rec.Code != 202 {
		t.Fatalf("second replica, a new push: %d %s, want 202", rec.Code, rec.Body)
	}
	r, err := client.CatalogV1alpha1().TemplateRepositories().Get(t.Context(), "catalog", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(r.Annotations[catalog.WebhookDeliveriesAnnotation])); n != 4 {
		t.Errorf("%d deliveries remembered, want 4 (ID and body of two pushes): %q", n, r.Annotations[catalog.WebhookDeliveriesAnnotation])
	}
	if r.Annotations[catalog.SyncRequestedAnnotation] == "" {
		t.Errorf("no sync requested")
	}
}

func TestRememberedDeliveriesAreBounded(t *testing.T) {
	client := fake.NewSimpleClientset(&catalogv1alpha1.TemplateRepository{
		ObjectMeta: metav1.ObjectMeta{Name: "catalog"},
		Spec:       catalogv1alpha1.TemplateRepositorySpec{URL: "https://github.com/org/templates.git", Branch: "main"},
	})
	trigger := &AnnotationTrigger{Client: client}
	for i := 0; i < 3*maxRememberedDeliveries; i++ {
		if got, _, err := trigger.RequestSync(t.Context(), "github.com/org/templates", "main", []string{"github/id/" + string(rune('a'+i%26)) + strings.Repeat("x", i)}); err != nil || len(got) != 1 {
			t.Fatalf("delivery %d: %v %v", i, got, err)
		}
	}
	r, _ := client.CatalogV1alpha1().TemplateRepositories().Get(t.Context(), "catalog", metav1.GetOptions{})
	if n := len(strings.Fields(r.Annotations[catalog.WebhookDeliveriesAnnotation])); n != maxRememberedDeliveries {
		t.Errorf("%d deliveries remembered, want %d", n, maxRememberedDeliveries)
	}
}
