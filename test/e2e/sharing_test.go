package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/streamspace/controlplane/internal/devstack"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
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

	// Both are in the audit trail, as alice's, and the share's record holds
	// whom it was for.
	created := auditedShareWrite(t, "create", "alice", "demo-bob", "alice")
	var recorded streamv1alpha1.SessionShare
	if created.Changes != nil {
		_ = json.Unmarshal(created.Changes.Raw, &recorded)
	}
	if created.Code != 201 || recorded.Spec.User != "bob" || recorded.Spec.Session != "demo" {
		t.Errorf("audit of the share: code %d, changes %v; want 201 and the share of demo naming bob", created.Code, created.Changes)
	}
	auditedShareWrite(t, "delete", "alice", "demo-bob", "alice")
}

// auditedShareWrite waits for the audit trail to hold user's successful
// verb of the share namespace/name, and returns the newest such event.
func auditedShareWrite(t *testing.T, verb, namespace, name, user string) streamv1alpha1.AuditEvent {
	t.Helper()
	admin, _ := clients(t, "admin")
	var found streamv1alpha1.AuditEvent
	eventually(t, time.Minute, "the audit of "+user+"'s "+verb+" of share "+namespace+"/"+name, func() (bool, error) {
		list, err := admin.StreamV1alpha1().AuditEvents().List(context.Background(), metav1.ListOptions{FieldSelector: fields.Set{
			"resource": "sessionshares", "verb": verb, "namespace": namespace, "name": name, "user": user,
		}.String()})
		if err != nil {
			return false, err
		}
		for _, e := range list.Items {
			if e.Code >= 200 && e.Code < 300 {
				found = e
				return true, nil
			}
		}
		return false, nil
	})
	return found
}

// newShare is a SessionShare of session for user or group.
func newShare(name, session, user, group string, role streamv1alpha1.ShareRole, expiresAt *time.Time) *streamv1alpha1.SessionShare {
	s := &streamv1alpha1.SessionShare{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       streamv1alpha1.SessionShareSpec{Session: session, User: user, Group: group, Role: role},
	}
	if expiresAt != nil {
		s.Spec.ExpiresAt = &metav1.Time{Time: *expiresAt}
	}
	return s
}

// createSessionAndShare creates, as alice, a session of her own and a share
// of it, deleted when the test ends.
func createSessionAndShare(t *testing.T, session string, share *streamv1alpha1.SessionShare) {
	t.Helper()
	ctx := context.Background()
	alice, _ := clients(t, "alice")
	createAliceSession(t, session)
	share.Spec.Session = session
	if _, err := alice.StreamV1alpha1().SessionShares("alice").Create(ctx, share, metav1.CreateOptions{}); err != nil {
		t.Fatalf("alice shares %s: %v", session, err)
	}
	t.Cleanup(func() {
		_ = alice.StreamV1alpha1().SessionShares("alice").Delete(context.Background(), share.Name, metav1.DeleteOptions{})
	})
}

// createAliceSession creates a session of alice's, deleted when the test
// ends (and its shares with it).
func createAliceSession(t *testing.T, name string) {
	t.Helper()
	alice, _ := clients(t, "alice")
	if _, err := alice.StreamV1alpha1().Sessions("alice").Create(context.Background(), &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: streamv1alpha1.SessionSpec{Template: "firefox"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("alice creates session %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = alice.StreamV1alpha1().Sessions("alice").Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// tokenClient is the StreamSpace clientset acting with a bearer token.
func tokenClient(t *testing.T, token string) clientset.Interface {
	t.Helper()
	client, err := clientset.NewForConfig(&rest.Config{Host: stack.KubeAPIServerURL, BearerToken: token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: stack.CACert}})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// TestSessionShareOfAMissingSession: a share of a session that does not
// exist is refused with 422 naming spec.session, and is not stored.
func TestSessionShareOfAMissingSession(t *testing.T) {
	ctx := context.Background()
	alice, _ := clients(t, "alice")
	name, missing := uniqueName("share-missing"), uniqueName("no-such-session")
	_, err := alice.StreamV1alpha1().SessionShares("alice").Create(ctx, newShare(name, missing, "bob", "", streamv1alpha1.ShareRoleView, nil), metav1.CreateOptions{})
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		t.Fatalf("a share of a missing session: %v, want 422", err)
	}
	causes := status.Status().Details.Causes
	if len(causes) != 1 || causes[0].Field != "spec.session" || causes[0].Type != metav1.CauseTypeFieldValueNotFound || !strings.Contains(err.Error(), missing) {
		t.Errorf("the refusal names %+v (%v), want spec.session not found, with the session's name", causes, err)
	}
	if _, err := alice.StreamV1alpha1().SessionShares("alice").Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused share: %v, want not stored", err)
	}
}

// TestSessionShareWithAGroup: alice shares a session with the group
// streamspace-users as control. carol, a member (signed in at the
// provider: oidc:carol), may read it and connects with control; bob, who
// is not in the group, may not. Revoking closes carol's connection and
// takes her access away.
func TestSessionShareWithAGroup(t *testing.T) {
	ctx := context.Background()
	admin, _ := clients(t, "admin")
	bob, _ := clients(t, "bob")
	session, shareName := uniqueName("group-desk"), uniqueName("group-share")
	createSessionAndShare(t, session, newShare(shareName, "", "", devstack.UsersGroup, streamv1alpha1.ShareRoleControl, nil))
	carol := tokenClient(t, oidcIDToken(t, "carol"))

	eventually(t, 30*time.Second, "carol may read the session shared with her group", func() (bool, error) {
		_, err := carol.StreamV1alpha1().Sessions("alice").Get(ctx, session, metav1.GetOptions{})
		return err == nil, err
	})
	if out, err := oidcKubectl(t, "carol", "", "get", "sessionshare", shareName, "-n", "alice", "-o", "jsonpath={.spec.role}"); err != nil || out != "control" {
		t.Errorf("carol reads the share of her group: %q, %v; want control", out, err)
	}
	resp, err := carol.StreamV1alpha1().Sessions("alice").Connect(ctx, session, &streamv1alpha1.SessionConnectRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("carol connects to the session shared with her group: %v", err)
	}
	if resp.Role != streamv1alpha1.ConnectionRoleControl {
		t.Errorf("carol's connect answered role %q, want control", resp.Role)
	}
	conn, err := admin.StreamV1alpha1().Connections("alice").Get(ctx, resp.ConnectionID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if conn.Spec.User != devstack.OIDCUser("carol") || conn.Spec.Role != streamv1alpha1.ConnectionRoleControl || conn.Spec.Share != shareName {
		t.Errorf("carol's connection: user %q role %q share %q", conn.Spec.User, conn.Spec.Role, conn.Spec.Share)
	}
	// bob (a token user, in no group) is not a member.
	if _, err := bob.StreamV1alpha1().Sessions("alice").Get(ctx, session, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("bob reads a session shared with a group he is not in: %v, want 403", err)
	}
	if _, err := bob.StreamV1alpha1().Sessions("alice").Connect(ctx, session, &streamv1alpha1.SessionConnectRequest{}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("bob connects to a session shared with a group he is not in: %v, want 403", err)
	}

	alice, _ := clients(t, "alice")
	if err := alice.StreamV1alpha1().SessionShares("alice").Delete(ctx, shareName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "carol's connection closed after the revoke", func() (bool, error) {
		_, err := admin.StreamV1alpha1().Connections("alice").Get(ctx, conn.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	eventually(t, 30*time.Second, "carol's read access gone", func() (bool, error) {
		_, err := carol.StreamV1alpha1().Sessions("alice").Get(ctx, session, metav1.GetOptions{})
		return apierrors.IsForbidden(err), nil
	})
	auditedShareWrite(t, "create", "alice", shareName, "alice")
	auditedShareWrite(t, "delete", "alice", shareName, "alice")
}

// TestSessionShareExpires: a share whose expiresAt is seconds ahead ends by
// itself. The controller deletes it (in the audit trail under the
// controller's identity), bob's connection through it is closed, his feed
// drops the session, and he may no longer read it or connect.
func TestSessionShareExpires(t *testing.T) {
	ctx := context.Background()
	admin, _ := clients(t, "admin")
	bob, _ := clients(t, "bob")
	session, shareName := uniqueName("expiring-desk"), uniqueName("expiring-share")
	feed := mustDialFeed(t, "bob", "/api/v1/ws/sessions")
	feed.next(t, feedTimeout, "bob's first snapshot", func(m feedMessage) bool { return m.Type == "sessions_update" })
	// Long enough for bob to connect first on a busy machine.
	expires := time.Now().Add(15 * time.Second)
	createSessionAndShare(t, session, newShare(shareName, "", "bob", "", streamv1alpha1.ShareRoleView, &expires))

	added, _ := feed.next(t, feedTimeout, "the shared session on bob's feed", isChange("added", session))
	if added.Session.SharedRole != "view" || added.Session.Owner != "alice" {
		t.Errorf("bob's feed shows the shared session as %s", added.raw)
	}
	var resp *streamv1alpha1.SessionConnectResponse
	eventually(t, 30*time.Second, "bob connects to the session shared with him", func() (bool, error) {
		var err error
		resp, err = bob.StreamV1alpha1().Sessions("alice").Connect(ctx, session, &streamv1alpha1.SessionConnectRequest{}, metav1.CreateOptions{})
		return err == nil, err
	})

	eventually(t, time.Minute, "the expired share deleted", func() (bool, error) {
		_, err := admin.StreamV1alpha1().SessionShares("alice").Get(ctx, shareName, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	eventually(t, time.Minute, "bob's connection closed at the expiry", func() (bool, error) {
		_, err := admin.StreamV1alpha1().Connections("alice").Get(ctx, resp.ConnectionID, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	feed.next(t, time.Minute, "the shared session off bob's feed", isChange("deleted", session))
	if _, err := bob.StreamV1alpha1().Sessions("alice").Connect(ctx, session, &streamv1alpha1.SessionConnectRequest{}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("bob connects after the expiry: %v, want 403", err)
	}
	eventually(t, 30*time.Second, "bob's read access gone", func() (bool, error) {
		_, err := bob.StreamV1alpha1().Sessions("alice").Get(ctx, session, metav1.GetOptions{})
		return apierrors.IsForbidden(err), nil
	})
	auditedShareWrite(t, "delete", "alice", shareName, "system:serviceaccount:streamspace-system:streamspace-controller")
}
