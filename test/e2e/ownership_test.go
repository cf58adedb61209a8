package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// TestOwnershipInASharedNamespace: where RBAC lets alice and bob both use
// StreamSpace (one namespace for everyone), bob may not change, delete or
// connect to alice's session by any route (patch, apply, update, status,
// deletecollection, connect); the admin, who has the assign verb, may;
// alice may patch and delete her own.
func TestOwnershipInASharedNamespace(t *testing.T) {
	t.Parallel()
	const namespace = "ownership-shared"
	ctx := context.Background()
	adminSS, adminKube := clients(t, "admin")
	aliceSS, _ := clients(t, "alice")
	bobSS, _ := clients(t, "bob")
	createSharedNamespace(t, namespace, "alice", "bob")
	// RBAC lets bob write session status here too, so that the owner rule,
	// not RBAC, is what refuses his status update of alice's session.
	if _, err := adminKube.RbacV1().Roles(namespace).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "session-status-writer"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"stream.space"}, Resources: []string{"sessions/status"}, Verbs: []string{"update", "patch"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := adminKube.RbacV1().RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bob-session-status-writer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "session-status-writer"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "bob"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	alices := createSession(t, aliceSS, namespace, "alices-desk", "firefox")
	if alices.Spec.User != "alice" {
		t.Fatalf("alice's session has spec.user %q", alices.Spec.User)
	}
	current := func() *streamv1alpha1.Session {
		t.Helper()
		s, err := adminSS.StreamV1alpha1().Sessions(namespace).Get(ctx, alices.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("alice's session after bob's attempts: %v", err)
		}
		return s
	}
	// forbidden: a 403 that names alice as the owner and the assign verb.
	forbidden := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: allowed, want 403", what)
			return
		}
		msg := err.Error()
		if !(apierrors.IsForbidden(err) || strings.Contains(msg, "Forbidden") || strings.Contains(msg, "forbidden")) ||
			!strings.Contains(msg, `belongs to user "alice"`) || !strings.Contains(msg, `"assign" verb`) {
			t.Errorf("%s: %v, want 403 naming alice as the owner and the assign verb", what, err)
		}
	}
	sessionPath := "/apis/stream.space/v1alpha1/namespaces/" + namespace + "/sessions/" + alices.Name

	t.Run("bob is refused", func(t *testing.T) {
		_, err := kubectl(t, "bob", "", "-n", namespace, "patch", "session", alices.Name, "--type=merge", "-p", `{"spec":{"state":"hibernated"}}`)
		forbidden("kubectl patch --type=merge", err)
		_, err = kubectl(t, "bob", "", "-n", namespace, "patch", "session", alices.Name, "--type=json", "-p", `[{"op":"replace","path":"/spec/state","value":"hibernated"}]`)
		forbidden("kubectl patch --type=json", err)
		_, err = kubectl(t, "bob", "", "-n", namespace, "delete", "session", alices.Name, "--wait=false")
		forbidden("kubectl delete", err)
		applied := fmt.Sprintf("apiVersion: stream.space/v1alpha1\nkind: Session\nmetadata: {name: %s, namespace: %s}\nspec: {user: alice, template: firefox, state: hibernated}\n", alices.Name, namespace)
		_, err = kubectl(t, "bob", applied, "apply", "--server-side", "--force-conflicts", "-f", "-")
		forbidden("kubectl apply --server-side", err)

		changed := current().DeepCopy()
		changed.Spec.State = streamv1alpha1.SessionStateHibernated
		_, err = bobSS.StreamV1alpha1().Sessions(namespace).Update(ctx, changed, metav1.UpdateOptions{})
		forbidden("client-go Update", err)
		status := current().DeepCopy()
		status.Status.Message = "bob was here"
		_, err = bobSS.StreamV1alpha1().Sessions(namespace).UpdateStatus(ctx, status, metav1.UpdateOptions{})
		forbidden("client-go UpdateStatus", err)
		_, err = bobSS.StreamV1alpha1().Sessions(namespace).Patch(ctx, alices.Name, types.MergePatchType, []byte(`{"metadata":{"labels":{"bob":"was-here"}}}`), metav1.PatchOptions{})
		forbidden("client-go merge patch of labels", err)

		_, err = kubectl(t, "bob", "", "-n", namespace, "delete", "sessions", "--all", "--wait=false")
		forbidden("kubectl delete sessions --all", err)
		err = bobSS.StreamV1alpha1().Sessions(namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		forbidden("client-go DeleteCollection", err)

		_, err = bobSS.StreamV1alpha1().Sessions(namespace).Connect(ctx, alices.Name, &streamv1alpha1.SessionConnectRequest{}, metav1.CreateOptions{})
		forbidden("client-go Connect", err)
		// A raw POST answers the same 403 (DoRaw keeps the status, not the message).
		_, err = bobSS.StreamV1alpha1().RESTClient().Post().Namespace(namespace).Resource("sessions").Name(alices.Name).SubResource("connect").
			Body([]byte("{}")).SetHeader("Content-Type", "application/json").DoRaw(ctx)
		if !apierrors.IsForbidden(err) {
			t.Errorf("POST connect: %v, want 403", err)
		}
		_, err = kubectl(t, "bob", "{}", "create", "--raw", sessionPath+"/connect", "-f", "-")
		forbidden("kubectl create --raw .../connect", err)

		// The bridge acts as bob too: the same rule answers its REST API.
		bridgePath := "/api/v1/sessions/" + alices.Name
		for _, call := range []struct{ method, path, body string }{
			{"PATCH", bridgePath + "?namespace=" + namespace, `{"state":"hibernated"}`},
			{"DELETE", bridgePath + "?namespace=" + namespace, ""},
			{"GET", bridgePath + "/connect?namespace=" + namespace, ""},
		} {
			status, body := bridgeCall(t, "bob", call.method, call.path, call.body)
			if status != http.StatusForbidden || !strings.Contains(body, `belongs to user \"alice\"`) {
				t.Errorf("bridge %s %s as bob: %d %s, want 403 naming alice as the owner", call.method, call.path, status, body)
			}
		}

		s := current()
		if s.DeletionTimestamp != nil || s.Spec.State == streamv1alpha1.SessionStateHibernated || s.Labels["bob"] != "" || s.Status.Message == "bob was here" {
			t.Errorf("bob changed alice's session: %+v", s)
		}
		if s.Status.ActiveConnections != 0 {
			t.Errorf("bob's refused connect left %d connections", s.Status.ActiveConnections)
		}
		conns, err := adminSS.StreamV1alpha1().Connections(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range conns.Items {
			if c.Spec.User == "bob" {
				t.Errorf("bob's refused connect created connection %s", c.Name)
			}
		}
	})

	t.Run("bob's own session is his", func(t *testing.T) {
		bobs := createSession(t, bobSS, namespace, "bobs-desk", "firefox")
		mustKubectl(t, "bob", "", "-n", namespace, "patch", "session", bobs.Name, "--type=merge", "-p", `{"metadata":{"labels":{"mine":"yes"}}}`)
		connect(t, bobSS, namespace, bobs.Name)
		mustKubectl(t, "bob", "", "-n", namespace, "delete", "session", bobs.Name, "--wait=false")
	})

	t.Run("the admin may", func(t *testing.T) {
		mustKubectl(t, "admin", "", "-n", namespace, "patch", "session", alices.Name, "--type=merge", "-p", `{"metadata":{"labels":{"checked-by":"admin"}}}`)
		connect(t, adminSS, namespace, alices.Name)
	})

	t.Run("alice may patch and delete her own", func(t *testing.T) {
		mustKubectl(t, "alice", "", "-n", namespace, "patch", "session", alices.Name, "--type=merge", "-p", `{"metadata":{"labels":{"mine":"yes"}}}`)
		mustKubectl(t, "alice", "", "-n", namespace, "patch", "session", alices.Name, "--type=json", "-p", `[{"op":"add","path":"/metadata/labels/also","value":"mine"}]`)
		connect(t, aliceSS, namespace, alices.Name)
		mustKubectl(t, "alice", "", "-n", namespace, "delete", "session", alices.Name, "--wait=false")
		eventually(t, 2*time.Minute, "alice's session gone", func() (bool, error) {
			_, err := adminSS.StreamV1alpha1().Sessions(namespace).Get(ctx, alices.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, err
		})
	})
}
