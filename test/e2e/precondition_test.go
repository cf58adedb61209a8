package e2e

import (
	"context"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	streamapply "github.com/streamspace/controlplane/pkg/generated/applyconfiguration/stream/v1alpha1"
)

// TestPatchAtStaleResourceVersionConflicts: the controllers apply phase
// transitions (server-side apply of the status) and remove wake marks
// (merge patch) with the resourceVersion they were computed from, so that
// a stale cache records no Event and counts no wake twice. That only holds
// if the server refuses such a write, on the status subresource and on the
// object.
func TestPatchAtStaleResourceVersionConflicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ss, _ := clients(t, "admin")
	alice, _ := clients(t, "alice")
	s := newSession(t, alice, "alice", "precondition", "vscode", never, 0)
	stale := s.ResourceVersion
	// Any write moves the resourceVersion on.
	if _, err := ss.StreamV1alpha1().Sessions("alice").Patch(ctx, s.Name, types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"e2e":"moved"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"status", ""} {
		patch := fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"status":{"message":"from a stale cache"}}`, stale)
		if sub == "" {
			patch = fmt.Sprintf(`{"metadata":{"resourceVersion":%q,"annotations":{"stream.space/woken-at":null}}}`, stale)
		}
		var subresources []string
		if sub != "" {
			subresources = append(subresources, sub)
		}
		_, err := ss.StreamV1alpha1().Sessions("alice").Patch(ctx, s.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, subresources...)
		if !apierrors.IsConflict(err) {
			t.Errorf("merge patch of %q at a stale resourceVersion: %v, want 409 Conflict", "sessions/"+sub, err)
		}
	}
	apply := streamapply.Session(s.Name, "alice").WithResourceVersion(stale).
		WithStatus(streamapply.SessionStatus().WithMessage("from a stale cache"))
	if _, err := ss.StreamV1alpha1().Sessions("alice").ApplyStatus(ctx, apply, metav1.ApplyOptions{FieldManager: "e2e", Force: true}); !apierrors.IsConflict(err) {
		t.Errorf("server-side apply of sessions/status at a stale resourceVersion: %v, want 409 Conflict", err)
	}
	current, err := ss.StreamV1alpha1().Sessions("alice").Get(ctx, s.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"metadata":{"resourceVersion":%q,"annotations":{"e2e":"at the current version"}}}`, current.ResourceVersion)
	if _, err := ss.StreamV1alpha1().Sessions("alice").Patch(ctx, s.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil && !apierrors.IsConflict(err) {
		t.Errorf("merge patch at the current resourceVersion: %v", err)
	}
}
