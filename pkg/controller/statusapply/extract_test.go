package statusapply_test

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	applystreamv1alpha1 "github.com/streamspace/controlplane/pkg/generated/applyconfiguration/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned/fake"
)

// TestGeneratedApplySchemaKnowsTheKinds: the generated apply configurations
// embed a schema of the served types, so the fake clientset applies with real
// field ownership and Extract returns exactly what one manager applied.
func TestGeneratedApplySchemaKnowsTheKinds(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(&streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Namespace: "alice", Name: "s1"},
		Spec:       streamv1alpha1.SessionSpec{User: "alice", Template: "firefox"},
	})
	sessions := client.StreamV1alpha1().Sessions("alice")

	phase := applystreamv1alpha1.Session("s1", "alice").
		WithStatus(applystreamv1alpha1.SessionStatus().WithPhase(streamv1alpha1.SessionPhaseRunning))
	if _, err := sessions.ApplyStatus(ctx, phase, metav1.ApplyOptions{FieldManager: "phase-writer", Force: true}); err != nil {
		t.Fatalf("apply phase: %v", err)
	}
	url := applystreamv1alpha1.Session("s1", "alice").
		WithStatus(applystreamv1alpha1.SessionStatus().WithURL("https://s1.example"))
	if _, err := sessions.ApplyStatus(ctx, url, metav1.ApplyOptions{FieldManager: "url-writer", Force: true}); err != nil {
		t.Fatalf("apply url: %v", err)
	}

	got, err := sessions.Get(ctx, "s1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != streamv1alpha1.SessionPhaseRunning || got.Status.URL != "https://s1.example" {
		t.Fatalf("status after two managers applied = %+v, want both fields", got.Status)
	}
	// The fake records the manager without the status subresource the
	// server would name; extract from the entry as recorded.
	subresource := ""
	for _, m := range got.ManagedFields {
		if m.Manager == "url-writer" {
			subresource = m.Subresource
		}
	}
	extracted, err := applystreamv1alpha1.ExtractSessionFrom(got, "url-writer", subresource)
	if err != nil {
		t.Fatalf("extract url-writer's fields: %v", err)
	}
	if extracted.Status == nil || extracted.Status.URL == nil || *extracted.Status.URL != "https://s1.example" {
		t.Fatalf("url-writer's extracted status = %+v, want its URL", extracted.Status)
	}
	if extracted.Status.Phase != nil {
		t.Errorf("url-writer's extracted status holds phase %q, which phase-writer owns", *extracted.Status.Phase)
	}
}
