package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// TestSessionSharing: alice applies the example (her session demo and its
// share with bob as view); bob may read and connect to it, as view, and
// may not change or delete it; carol may not share alice's session; when
// alice revokes the share, bob's connection is closed within seconds and he
// can no longer connect. Share and revoke are in the audit trail.
func TestSessionSharing(t *testing.T) {
	ctx := context.Background()
	adminSS, adminKube := clients(t, "admin")
	bobSS, _ := clients(t, "bob")
	mustKubectl(t, "alice", "", "apply", "-f", "../../artifacts/examples/share-demo.yaml")
	t.Cleanup(func() {
		_, _ = kubectl(t, "alice", "", "delete", "--ignore-not-found", "-f", "../../artifacts/examples/share-demo.yaml")
	})
	share, err := adminSS.StreamV1alpha1().SessionShares("alice").Get(ctx, "demo-bob", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if share.Status.Owner != "alice" || len(share.OwnerReferences) != 1 || share.OwnerReferences[0].Name != "demo" {
		t.Errorf("share: owner %q, owner references %v; want alice and the session demo", share.Status.Owner, share.OwnerReferences)
	}

	// bob reads the one session once the controller has granted it.
	eventually(t, 30*time.Second, "bob may read session demo", func() (bool, error) {
		_, err := kubectl(t, "bob", "", "get", "session", "demo", "-n", "alice")
		return err == nil, nil
	})
	out := mustKubectl(t, "bob", "", "get", "sessions", "-n", "alice", "--field-selector", "metadata.name=demo", "-o", "name")
	if strings.TrimSpace(out) != "session.stream.space/demo" {
		t.Errorf("bob's list of alice's sessions by name: %q", out)
	}
	if _, err := kubectl(t, "bob", "", "get", "sessions", "-n", "alice"); err == nil {
		t.Error("bob listed all of alice's sessions; the share grants one")
	}
	out = mustKubectl(t, "alice", "", "get", "sessionshares", "-n", "alice")
	if !strings.Contains(out, "user:bob") || !strings.Contains(out, "view") {
		t.Errorf("kubectl get sessionshares:\n%s", out)
	}

	// bob connects, as view.
	resp, err := bobSS.StreamV1alpha1().Sessions("alice").Connect(ctx, "demo", &streamv1alpha1.SessionConnectRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("bob connects to the shared session: %v", err)
	}
	if resp.Role != streamv1alpha1.ConnectionRoleView {
		t.Errorf("connect answered role %q, want view", resp.Role)
	}
	conn, err := adminSS.StreamV1alpha1().Connections("alice").Get(ctx, resp.ConnectionID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if conn.Spec.User != "bob" || conn.Spec.Role != streamv1alpha1.ConnectionRoleView || conn.Spec.Share != "demo-bob" {
		t.Errorf("bob's connection: user %q role %q share %q", conn.Spec.User, conn.Spec.Role, conn.Spec.Share)
	}
	if _, err := bobSS.StreamV1alpha1().Connections("alice").Heartbeat(ctx, conn.Name, &streamv1alpha1.ConnectionHeartbeat{}, metav1.CreateOptions{}); err != nil {
		t.Errorf("bob's heartbeat on his connection: %v", err)
	}
	// Nothing else.
	_, err = bobSS.StreamV1alpha1().Sessions("alice").Patch(ctx, "demo", types.MergePatchType, []byte(`{"spec":{"state":"hibernated"}}`), metav1.PatchOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("bob patches the shared session: %v, want 403", err)
	}
	if err := bobSS.StreamV1alpha1().Sessions("alice").Delete(ctx, "demo", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("bob deletes the shared session: %v, want 403", err)
	}
	// bob may not share it on, nor may anyone but alice (or an admin).
	if _, err := kubectl(t, "bob", `{"apiVersion":"stream.space/v1alpha1","kind":"SessionShare","metadata":{"name":"onward","namespace":"alice"},"spec":{"session":"demo","user":"carol","role":"control"}}`,
		"create", "-f", "-"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("bob shares alice's session on: %v, want Forbidden", err)
	}
	// Bad input: the field and the reason.
	if _, err := kubectl(t, "alice", `{"apiVersion":"stream.space/v1alpha1","kind":"SessionShare","metadata":{"name":"bad","namespace":"alice"},"spec":{"session":"demo","user":"bob","group":"staff","role":"edit"}}`,
		"create", "-f", "-"); err == nil || !strings.Contains(err.Error(), "spec.role") || !strings.Contains(err.Error(), "spec.group") {
		t.Errorf("an invalid share: %v, want 422 naming spec.role and spec.group", err)
	}

	// Revoke: bob's connection is closed within seconds, and he cannot connect again.
	mustKubectl(t, "alice", "", "delete", "sessionshare", "demo-bob", "-n", "alice")
	eventually(t, 15*time.Second, "bob's connection closed after the revoke", func() (bool, error) {
		_, err := adminSS.StreamV1alpha1().Connections("alice").Get(ctx, conn.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if _, err := bobSS.StreamV1alpha1().Sessions("alice").Connect(ctx, "demo", &streamv1alpha1.SessionConnectRequest{}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("bob connects after the revoke: %v, want 403", err)
	}
	eventually(t, 30*time.Second, "bob's read access gone with the share's RoleBinding", func() (bool, error) {
		_, err := kubectl(t, "bob", "", "get", "session", "demo", "-n", "alice")
		return err != nil, nil
	})
	if _, err := adminKube.RbacV1().RoleBindings("alice").Get(ctx, "sessionshare-demo-bob", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the revoked share's RoleBinding: %v, want it gone", err)
	}

	// Both are in the audit trail.
	for _, verb := range []string{"create", "delete"} {
		eventually(t, 30*time.Second, "audit of the share's "+verb, func() (bool, error) {
			out, err := kubectl(t, "admin", "", "get", "auditevents", "--field-selector",
				"resource=sessionshares,verb="+verb+",name=demo-bob", "-o", "name")
			return err == nil && strings.TrimSpace(out) != "", nil
		})
	}
}
