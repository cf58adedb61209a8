package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/streamspace/controlplane/internal/gittest"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

const sourceLabel = "catalog.stream.space/source"

// syncSmallCatalog serves a one-template catalog and waits until the
// repository synced it; it returns the CatalogTemplate's name.
func syncSmallCatalog(t *testing.T, repoName string) string {
	t.Helper()
	git := gittest.Start(t)
	head := git.CreateRepo("small", true).Commit("one", map[string][]byte{"browsers/firefox.yaml": catalogTemplateFile("firefox", "lscr.io/linuxserver/firefox:latest")})
	applyPublicRepository(t, repoName, git.HTTPRepoURL("small"), head)
	return repoName + "-firefox"
}

// TestCatalogInstallCountCannotBeInflated: the source label that install
// counts are made of is set only by the install; setting, changing or
// removing it by hand, and changing spec.source, are refused with 422.
func TestCatalogInstallCountCannotBeInflated(t *testing.T) {
	ss, _ := clients(t, "admin")
	ctx := context.Background()
	ct := syncSmallCatalog(t, "e2e-provenance")
	mustKubectl(t, "alice", "apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: prov-installed}\nspec: {source: {catalogTemplate: "+ct+"}}\n", "-n", "alice", "create", "-f", "-")
	mustKubectl(t, "alice", "apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: prov-plain}\nspec: {displayName: Plain, baseImage: nginx:1, vnc: {enabled: true}}\n", "-n", "alice", "create", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, "alice", "", "-n", "alice", "delete", "template", "prov-installed", "prov-plain", "--ignore-not-found")
	})
	forged := func(name, rest string) string {
		return "apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: " + name + ", labels: {" + sourceLabel + ": " + ct + "}}\n" + rest + "\n"
	}
	for _, tc := range []struct {
		name  string
		user  string
		stdin string
		args  []string
		want  string
	}{
		{"create a plain template with the label", "alice", forged("prov-forged", "spec: {displayName: F, baseImage: nginx:1, vnc: {enabled: true}}"),
			[]string{"create", "-f", "-"}, "metadata.labels[catalog.stream.space/source]: Forbidden"},
		{"create with spec.source and the label", "alice", forged("prov-forged", "spec: {source: {catalogTemplate: "+ct+"}}"),
			[]string{"create", "-f", "-"}, "metadata.labels[catalog.stream.space/source]: Forbidden"},
		{"create with spec.source and another label", "alice",
			"apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: prov-forged, labels: {" + sourceLabel + ": something-else}}\nspec: {source: {catalogTemplate: " + ct + "}}\n",
			[]string{"create", "-f", "-"}, "metadata.labels[catalog.stream.space/source]: Forbidden"},
		{"label a plain template", "alice", "", []string{"label", "template", "prov-plain", sourceLabel + "=" + ct}, "cannot be added, changed or removed"},
		{"label a plain template, as a cluster admin", "admin", "", []string{"label", "template", "prov-plain", sourceLabel + "=" + ct}, "cannot be added, changed or removed"},
		{"relabel an installed template", "alice", "", []string{"label", "template", "prov-installed", sourceLabel + "=other", "--overwrite"}, "cannot be added, changed or removed"},
		{"unlabel an installed template", "alice", "", []string{"label", "template", "prov-installed", sourceLabel + "-"}, "cannot be added, changed or removed"},
		{"change spec.source", "alice", "", []string{"patch", "template", "prov-installed", "--type=merge", "-p", `{"spec":{"source":{"catalogTemplate":"other"}}}`},
			`spec.source: Invalid value: "catalogTemplate: other": field is immutable`},
		{"add spec.source", "alice", "", []string{"patch", "template", "prov-plain", "--type=merge", "-p", `{"spec":{"source":{"catalogTemplate":"` + ct + `"}}}`},
			"field is immutable"},
	} {
		_, err := kubectl(t, tc.user, tc.stdin, append([]string{"-n", "alice"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "is invalid") {
			t.Errorf("%s: %v, want a 422 with %q", tc.name, err, tc.want)
		}
	}
	// Edits that leave the provenance alone still work.
	mustKubectl(t, "alice", "", "-n", "alice", "label", "template", "prov-installed", "team=a")
	mustKubectl(t, "alice", "", "-n", "alice", "patch", "template", "prov-installed", "--type=merge", "-p", `{"spec":{"description":"mine now"}}`)

	labelled, err := ss.StreamV1alpha1().Templates("").List(ctx, metav1.ListOptions{LabelSelector: labels.Set{sourceLabel: ct}.String()})
	if err != nil || len(labelled.Items) != 1 || labelled.Items[0].Name != "prov-installed" {
		t.Fatalf("templates labelled as installed from %s: %v %v", ct, err, labelled)
	}
	eventually(t, time.Minute, "install count 1", func() (bool, error) {
		got, err := ss.CatalogV1alpha1().CatalogTemplates().Get(ctx, ct, metav1.GetOptions{})
		return err == nil && got.Status.InstallCount == 1, err
	})
}

// TestCatalogInstallNeedsGet: a user who may create Templates but not get
// the CatalogTemplate gets 403 on install; once RBAC lets them get it, the
// same request installs it. Under the shipped RBAC every member of
// system:authenticated reads the catalog, and kube-apiserver adds that group
// to every impersonated user unless system:unauthenticated is asked for, so
// carol is impersonated with that group only.
func TestCatalogInstallNeedsGet(t *testing.T) {
	_, kube := clients(t, "admin")
	ctx := context.Background()
	ct := syncSmallCatalog(t, "e2e-needs-get")
	const ns = "e2e-carol"
	if _, err := kube.CoreV1().Namespaces().Create(ctx, sessionsNamespace(ns), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	carolSubject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "carol"}}
	if _, err := kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "carol-streamspace-user"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "streamspace-user"},
		Subjects:   carolSubject,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	admin, err := stack.RESTConfig("admin")
	if err != nil {
		t.Fatal(err)
	}
	admin.Impersonate.UserName = "carol"
	admin.Impersonate.Groups = []string{"system:unauthenticated"}
	carol, err := clientset.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	templates := carol.StreamV1alpha1().Templates(ns)
	if _, err := carol.CatalogV1alpha1().CatalogTemplates().Get(ctx, ct, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("carol reads the catalog template (%v): the test would prove nothing", err)
	}
	// carol may create Templates in her namespace...
	if _, err := templates.Create(ctx, &streamv1alpha1.Template{
		ObjectMeta: metav1.ObjectMeta{Name: "plain"},
		Spec:       streamv1alpha1.TemplateSpec{DisplayName: "Plain", BaseImage: "nginx:1", VNC: &streamv1alpha1.VNCConfig{Enabled: true}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("carol cannot create a plain template: %v", err)
	}
	// ...but not install one she may not get.
	install := &streamv1alpha1.Template{
		ObjectMeta: metav1.ObjectMeta{Name: "installed"},
		Spec:       streamv1alpha1.TemplateSpec{Source: &streamv1alpha1.TemplateSource{CatalogTemplate: ct}},
	}
	_, err = templates.Create(ctx, install, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `"carol" may not get catalogtemplates.catalog.stream.space "`+ct+`"`) {
		t.Fatalf("install without get: %v, want 403 naming the catalog template", err)
	}

	// RBAC lets carol get that one catalog template: the same request installs it.
	reader := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-carol-reads-" + ct},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{catalogv1alpha1.SchemeGroupVersion.Group}, Resources: []string{"catalogtemplates"},
			ResourceNames: []string{ct}, Verbs: []string{"get"}}},
	}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, reader, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: reader.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		Subjects:   carolSubject,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), reader.Name, metav1.DeleteOptions{})
		_ = kube.RbacV1().ClusterRoles().Delete(context.Background(), reader.Name, metav1.DeleteOptions{})
	})
	var installed *streamv1alpha1.Template
	eventually(t, time.Minute, "the install once carol may get the catalog template (authorization decisions are cached for 10 s)", func() (bool, error) {
		installed, err = templates.Create(ctx, install.DeepCopy(), metav1.CreateOptions{})
		return err == nil, err
	})
	if installed.Labels[sourceLabel] != ct || installed.Spec.BaseImage != "lscr.io/linuxserver/firefox:latest" {
		t.Errorf("installed template: labels %v, image %q", installed.Labels, installed.Spec.BaseImage)
	}
}
