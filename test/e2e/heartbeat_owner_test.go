package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// TestHeartbeatOnlyByTheConnectionsUser: in a namespace where RBAC lets bob
// use StreamSpace, bob still may not send heartbeats for alice's
// connection (that would keep her session awake); bob's own connection
// and a caller with the assign verb (the admin) may. alice's heartbeats on
// her own connection never conflict, even 20 at a time.
func TestHeartbeatOnlyByTheConnectionsUser(t *testing.T) {
	t.Parallel()
	const namespace = "heartbeat-owner"
	ctx := context.Background()
	adminSS, adminKube := clients(t, "admin")
	bobSS, _ := clients(t, "bob")
	createSessionsNamespace(t, namespace)
	if _, err := adminKube.RbacV1().RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bob-streamspace-user"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "streamspace-user"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "bob"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind streamspace-user to bob in %s: %v", namespace, err)
	}
	connection := func(ss clientset.Interface, name, user string) *streamv1alpha1.Connection {
		t.Helper()
		c, err := ss.StreamV1alpha1().Connections(namespace).Create(ctx, &streamv1alpha1.Connection{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       streamv1alpha1.ConnectionSpec{Session: "shared-desktop", User: user},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create connection %s for %s: %v", name, user, err)
		}
		return c
	}
	heartbeat := func(ss clientset.Interface, name string) (*streamv1alpha1.Connection, error) {
		return ss.StreamV1alpha1().Connections(namespace).Heartbeat(ctx, name, &streamv1alpha1.ConnectionHeartbeat{}, metav1.CreateOptions{})
	}
	alices := connection(adminSS, "alices-viewer", "alice") // the admin may assign it to alice
	bobs := connection(bobSS, "bobs-viewer", "")

	// RBAC allows bob heartbeats here: his own connection's works.
	if _, err := heartbeat(bobSS, bobs.Name); err != nil {
		t.Fatalf("bob's heartbeat on his own connection: %v", err)
	}
	// Not on alice's: 403, saying why.
	_, err := heartbeat(bobSS, alices.Name)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `"alice"`) || !strings.Contains(err.Error(), "assign") {
		t.Errorf("bob's heartbeat on alice's connection: %v, want 403 naming alice and the assign verb", err)
	}
	_, err = kubectl(t, "bob", "{}", "create", "--raw", "/apis/stream.space/v1alpha1/namespaces/"+namespace+"/connections/"+alices.Name+"/heartbeat", "-f", "-")
	if err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("bob's heartbeat with kubectl: %v, want Forbidden", err)
	}
	got, err := adminSS.StreamV1alpha1().Connections(namespace).Get(ctx, alices.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != alices.ResourceVersion {
		t.Errorf("a refused heartbeat changed the connection: resourceVersion %s → %s, lastHeartbeat %v", alices.ResourceVersion, got.ResourceVersion, got.Status.LastHeartbeat)
	}
	// A caller with the assign verb (the admin) may beat for alice.
	if _, err := heartbeat(adminSS, alices.Name); err != nil {
		t.Errorf("the admin's heartbeat on alice's connection: %v", err)
	}

	// alice on her own connection, 20 heartbeats at a time: none conflicts.
	// (Without client-side rate limiting, so they really are concurrent.)
	cfg, err := stack.RESTConfig("alice")
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	aliceSS, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	own, err := aliceSS.StreamV1alpha1().Connections("alice").Create(ctx, &streamv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{Name: "heartbeat-owner-concurrent"},
		Spec:       streamv1alpha1.ConnectionSpec{Session: "heartbeat-owner-desktop"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("alice's connection: %v", err)
	}
	t.Cleanup(func() {
		_ = aliceSS.StreamV1alpha1().Connections("alice").Delete(ctx, own.Name, metav1.DeleteOptions{})
	})
	const goroutines, beats = 20, 5
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*beats)
	began := time.Now()
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range beats {
				if _, err := aliceSS.StreamV1alpha1().Connections("alice").Heartbeat(ctx, own.Name, &streamv1alpha1.ConnectionHeartbeat{}, metav1.CreateOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	t.Logf("%d heartbeats from %d goroutines took %s", goroutines*beats, goroutines, time.Since(began).Round(time.Millisecond))
	failed := 0
	for err := range errs {
		if failed++; failed <= 3 {
			t.Errorf("concurrent heartbeat of alice: %v", err)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d concurrent heartbeats failed", failed, goroutines*beats)
	}
	after, err := aliceSS.StreamV1alpha1().Connections("alice").Get(ctx, own.Name, metav1.GetOptions{})
	if err != nil || after.Status.LastHeartbeat == nil || after.Status.State != streamv1alpha1.ConnectionStateActive {
		t.Errorf("alice's connection after the heartbeats: %v, status %+v", err, after.Status)
	}
}
