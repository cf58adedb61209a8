package e2e

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certutil "k8s.io/client-go/util/cert"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

func TestUserComesFromTheCaller(t *testing.T) {
	ctx := context.Background()
	alice, _ := clients(t, "alice")

	// Naming someone else needs the "assign" verb, which users do not have.
	_, err := alice.StreamV1alpha1().Sessions("alice").Create(ctx, &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "spoofed"},
		Spec:       streamv1alpha1.SessionSpec{Template: "firefox", User: "bob"},
	}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `"assign"`) {
		t.Fatalf("alice creating a session for bob: got %v, want 403 naming the assign verb", err)
	}
	_, err = alice.StreamV1alpha1().Connections("alice").Create(ctx, &streamv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{Name: "spoofed"},
		Spec:       streamv1alpha1.ConnectionSpec{Session: "x", User: "bob"},
	}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("alice creating a connection for bob: got %v, want 403", err)
	}

	// Naming herself is fine, and an empty user becomes her.
	s, err := alice.StreamV1alpha1().Sessions("alice").Create(ctx, &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "alice-vscode-"},
		Spec:       streamv1alpha1.SessionSpec{Template: "vscode", User: "alice"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := alice.StreamV1alpha1().Connections("alice").Create(ctx, &streamv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "conn-"},
		Spec:       streamv1alpha1.ConnectionSpec{Session: s.Name, ClientIP: "192.0.2.7"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.User != "alice" || c.Status.State != streamv1alpha1.ConnectionStateActive || c.Status.ConnectedAt == nil {
		t.Errorf("connection = user %q state %q connectedAt %v, want alice, active, set", c.Spec.User, c.Status.State, c.Status.ConnectedAt)
	}

	// The admin holds "assign".
	admin, _ := clients(t, "admin")
	s, err = admin.StreamV1alpha1().Sessions("bob").Create(ctx, &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "assigned-by-admin"},
		Spec:       streamv1alpha1.SessionSpec{Template: "firefox", User: "bob"},
	}, metav1.CreateOptions{})
	if err != nil || s.Spec.User != "bob" {
		t.Fatalf("admin creating a session for bob: %v (user %q)", err, s.Spec.User)
	}
}

func TestUsersSeeOnlyTheirNamespace(t *testing.T) {
	ctx := context.Background()
	admin, _ := clients(t, "admin")
	if _, err := admin.StreamV1alpha1().Sessions("alice").Create(ctx, &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-private"},
		Spec:       streamv1alpha1.SessionSpec{Template: "firefox", User: "alice"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bob, _ := clients(t, "bob")
	if _, err := bob.StreamV1alpha1().Sessions("alice").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("bob listing alice's sessions: got %v, want 403", err)
	}
	if _, err := bob.StreamV1alpha1().Sessions("alice").Get(ctx, "alice-private", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("bob getting alice's session: got %v, want 403", err)
	}
	if err := bob.StreamV1alpha1().Sessions("alice").Delete(ctx, "alice-private", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("bob deleting alice's session: got %v, want 403", err)
	}
	if _, err := bob.StreamV1alpha1().Sessions("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("bob listing sessions of all namespaces: got %v, want 403", err)
	}
	if _, err := admin.StreamV1alpha1().Sessions("alice").Get(ctx, "alice-private", metav1.GetOptions{}); err != nil {
		t.Errorf("the session is gone after bob's attempts: %v", err)
	}
}

func TestStatusIsTheControllersToWrite(t *testing.T) {
	ctx := context.Background()
	alice, _ := clients(t, "alice")
	s, err := alice.StreamV1alpha1().Sessions("alice").Create(ctx, &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "status-owned"},
		Spec:       streamv1alpha1.SessionSpec{Template: "firefox"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Status sent with the main resource is ignored.
	s.Status.Phase = streamv1alpha1.SessionPhaseRunning
	s.Spec.State = streamv1alpha1.SessionStateHibernated
	s, err = alice.StreamV1alpha1().Sessions("alice").Update(ctx, s, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Status.Phase != streamv1alpha1.SessionPhasePending || s.Spec.State != streamv1alpha1.SessionStateHibernated || s.Generation != 2 {
		t.Errorf("after update: phase %q state %q generation %d, want Pending, hibernated, 2", s.Status.Phase, s.Spec.State, s.Generation)
	}
	// Users may not write status.
	s.Status.Phase = streamv1alpha1.SessionPhaseRunning
	if _, err := alice.StreamV1alpha1().Sessions("alice").UpdateStatus(ctx, s, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("alice writing status: got %v, want 403", err)
	}
	// The admin may; spec sent with the status is ignored.
	admin, _ := clients(t, "admin")
	s.Spec.State = streamv1alpha1.SessionStateRunning
	s.Status.URL = "https://status-owned.streamspace.local/"
	got, err := admin.StreamV1alpha1().Sessions("alice").UpdateStatus(ctx, s, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != streamv1alpha1.SessionPhaseRunning || got.Spec.State != streamv1alpha1.SessionStateHibernated {
		t.Errorf("after status update: phase %q state %q, want Running, hibernated", got.Status.Phase, got.Spec.State)
	}
	// Status is validated too.
	got.Status.Phase = "Dancing"
	if _, err := admin.StreamV1alpha1().Sessions("alice").UpdateStatus(ctx, got, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("an unknown phase: got %v, want 422", err)
	}
}

func TestCatalogIsClusterScopedAndAdminWritten(t *testing.T) {
	repo := `{"apiVersion":"catalog.stream.space/v1alpha1","kind":"TemplateRepository","metadata":{"name":"community"},"spec":{"url":"https://git.example.org/streamspace/templates.git"}}`
	if _, err := kubectl(t, "alice", repo, "create", "-f", "-"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("alice creating a repository: %v, want forbidden", err)
	}
	mustKubectl(t, "admin", repo, "create", "-f", "-")
	// (status.phase starts Pending; the repository controller soon moves it on, so it is not checked here.)
	// The sync interval stays unset: the platform configuration's applies.
	out := mustKubectl(t, "alice", "", "get", "repo", "community", "-o", "jsonpath={.spec.branch}/{.spec.syncInterval}/{.spec.auth.type}")
	if out != "main//none" {
		t.Errorf("repository defaults = %q, want main//none", out)
	}
	withPassword := `{"apiVersion":"catalog.stream.space/v1alpha1","kind":"TemplateRepository","metadata":{"name":"leaky"},"spec":{"url":"https://user:hunter2@git.example.org/x.git"}}`
	_, err := kubectl(t, "admin", withPassword, "create", "-f", "-")
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "spec.url") {
		t.Errorf("a URL with a password: %v, want a 422 on spec.url that does not echo the password", err)
	}
	noSecret := `{"apiVersion":"catalog.stream.space/v1alpha1","kind":"TemplateRepository","metadata":{"name":"private"},"spec":{"url":"git@github.com:org/repo.git","auth":{"type":"ssh"}}}`
	if _, err := kubectl(t, "admin", noSecret, "create", "-f", "-"); err == nil || !strings.Contains(err.Error(), "spec.auth.secretRef.name: Required value") {
		t.Errorf("ssh auth without a secret: %v", err)
	}
}

// The aggregated server itself authenticates every request through
// kube-apiserver: without credentials nothing is served.
func TestDirectRequestsNeedCredentials(t *testing.T) {
	pool, err := certutil.NewPool(stack.StreamspaceCA)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	url := stack.StreamspaceURL + "/apis/stream.space/v1alpha1/namespaces/alice/sessions"

	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous list: HTTP %d, want 401 or 403", resp.StatusCode)
	}

	// Front-proxy headers count only with kube-apiserver's client certificate.
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Remote-User", "system:admin")
	req.Header.Set("X-Remote-Group", "system:masters")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Errorf("list with forged front-proxy headers: HTTP %d, want 401 or 403", resp.StatusCode)
	}

	token, err := stack.UserToken("alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{"not-a-token", http.StatusUnauthorized}, {token, http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("list with token %.6s…: HTTP %d, want %d", tc.token, resp.StatusCode, tc.want)
		}
	}
}
