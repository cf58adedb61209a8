package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// TestEmailUserSessionNames: a user whose name is an e-mail address (as
// OIDC gives them) runs sessions, one of them with a dot in its name. Every
// child gets a valid name (the session's own when it is a DNS label), the
// home claim is home-<user> made DNS-safe, the same for all of the user's
// sessions and later ones, and different for a user whose name differs
// only in punctuation.
func TestEmailUserSessionNames(t *testing.T) {
	t.Parallel()
	const (
		namespace = "lifecycle-email"
		user      = "first.last+tag@example.org"
		lookalike = "first.last.tag@example.org"
	)
	ctx := context.Background()
	adminSS, adminKube := clients(t, "admin")
	createSessionsNamespace(t, namespace)
	if _, err := adminKube.RbacV1().RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "email-user"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "streamspace-user"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	firefox, err := adminSS.StreamV1alpha1().Templates("alice").Get(ctx, "firefox", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adminSS.StreamV1alpha1().Templates(namespace).Create(ctx, &streamv1alpha1.Template{
		ObjectMeta: metav1.ObjectMeta{Name: "firefox"}, Spec: firefox.Spec,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The e-mail user, through kube-apiserver's impersonation: spec.user comes from the identity.
	cfg, err := stack.RESTConfig("admin")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Impersonate.UserName = user
	ss, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	plain := newSession(t, ss, namespace, "desktop", "firefox", never, 0)
	dotted := newSession(t, ss, namespace, "first.last-desktop", "firefox", never, 0)
	for _, s := range []*streamv1alpha1.Session{plain, dotted} {
		if s.Spec.User != user {
			t.Errorf("session %s: spec.user %q, want the caller %q", s.Name, s.Spec.User, user)
		}
		waitSession(t, ss, namespace, s.Name, startTimeout, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	}

	children := sessionChildNames(t, adminKube, namespace)
	if got := children[plain.Name]; got != "desktop" {
		t.Errorf("children of session desktop are named %q, want the session's name", got)
	}
	dottedChild := children[dotted.Name]
	if len(validation.IsDNS1035Label(dottedChild)) != 0 || !strings.HasPrefix(dottedChild, "first-last-desktop-") {
		t.Errorf("children of session %s are named %q, want a DNS label first-last-desktop-<hash>", dotted.Name, dottedChild)
	}

	claims := homeClaims(t, adminKube, namespace)
	if len(claims) != 1 {
		t.Fatalf("home claims %v, want one shared by the user's two sessions", claims)
	}
	home := claims[user]
	if len(validation.IsDNS1035Label(home)) != 0 || !strings.HasPrefix(home, "home-first-last-tag-example-org-") {
		t.Errorf("home claim %q, want home-first-last-tag-example-org-<hash>, a DNS label", home)
	}
	for _, name := range []string{"desktop", dottedChild} {
		if got := deploymentClaim(t, adminKube, namespace, name); got != home {
			t.Errorf("deployment %s mounts claim %q, want %q", name, got, home)
		}
	}

	// Stable: a later session of the user finds the same home.
	later := newSession(t, ss, namespace, "later", "firefox", never, 0)
	waitSession(t, ss, namespace, later.Name, startTimeout, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	if got := deploymentClaim(t, adminKube, namespace, "later"); got != home {
		t.Errorf("a later session mounts %q, want the same home %q", got, home)
	}
	// A name that cleans up the same way is another user with another home.
	other := &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "lookalike"},
		Spec:       streamv1alpha1.SessionSpec{User: lookalike, Template: "firefox"},
	}
	if _, err := adminSS.StreamV1alpha1().Sessions(namespace).Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the admin creates a session for %s: %v", lookalike, err)
	}
	waitSession(t, adminSS, namespace, other.Name, startTimeout, "Running", phaseIs(streamv1alpha1.SessionPhaseRunning))
	claims = homeClaims(t, adminKube, namespace)
	if claims[lookalike] == "" || claims[lookalike] == home {
		t.Errorf("home claims by user %v: %s needs a home of its own", claims, lookalike)
	}
}

// sessionChildNames maps session names to the name of their Deployment,
// checking that its Service (and Ingress) share it.
func sessionChildNames(t *testing.T, kube kubernetes.Interface, namespace string) map[string]string {
	t.Helper()
	deployments, err := kube.AppsV1().Deployments(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range deployments.Items {
		session := d.Annotations["stream.space/session-name"]
		out[session] = d.Name
		if _, err := kube.CoreV1().Services(namespace).Get(context.Background(), d.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("service of session %s: %v", session, err)
		}
		ing, err := kube.NetworkingV1().Ingresses(namespace).Get(context.Background(), d.Name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("ingress of session %s: %v", session, err)
			continue
		}
		if host := ing.Spec.Rules[0].Host; len(validation.IsDNS1123Subdomain(host)) != 0 {
			t.Errorf("ingress host %q of session %s is not a DNS name", host, session)
		}
	}
	return out
}

// homeClaims maps user names (the claim's stream.space/user-name
// annotation) to their home claim.
func homeClaims(t *testing.T, kube kubernetes.Interface, namespace string) map[string]string {
	t.Helper()
	claims, err := kube.CoreV1().PersistentVolumeClaims(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=streamspace-home"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range claims.Items {
		out[c.Annotations["stream.space/user-name"]] = c.Name
	}
	return out
}

func deploymentClaim(t *testing.T, kube kubernetes.Interface, namespace, name string) string {
	t.Helper()
	d, err := kube.AppsV1().Deployments(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment %s: %v", name, err)
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	return fmt.Sprintf("(deployment %s mounts no claim)", name)
}
