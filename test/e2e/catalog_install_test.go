package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/internal/gittest"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// TestCatalogInstall: alice installs a catalog template into her namespace
// with one kubectl request, the install count rises, and a session starts
// from the installed template.
func TestCatalogInstall(t *testing.T) {
	ss, _ := clients(t, "admin")
	aliceSS, _ := clients(t, "alice")
	ctx := context.Background()
	git := gittest.Start(t)
	repo := git.CreateRepo("install", true)
	repo.Commit("one", map[string][]byte{"browsers/firefox.yaml": []byte(`apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: firefox, namespace: workspaces}
spec:
  displayName: Firefox
  category: Web Browsers
  baseImage: lscr.io/linuxserver/firefox:latest
  defaultResources: {memory: 2Gi, cpu: 1000m}
  ports: [{name: vnc, containerPort: 3000, protocol: TCP}]
  kasmvnc: {enabled: true, port: 3000}
  tags: [firefox]
`)})
	mustKubectl(t, "admin", "apiVersion: catalog.stream.space/v1alpha1\nkind: TemplateRepository\nmetadata: {name: e2e-install}\nspec: {url: "+git.HTTPRepoURL("install")+"}\n", "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, "admin", "", "delete", "templaterepository", "e2e-install", "--ignore-not-found")
	})
	waitRepository(t, ss, "e2e-install", func(r *catalogv1alpha1.TemplateRepository) bool {
		return r.Status.Phase == catalogv1alpha1.RepositoryPhaseReady
	})

	// One request, from kubectl, as alice.
	mustKubectl(t, "alice", `apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: my-firefox}
spec:
  source: {catalogTemplate: e2e-install-firefox}
`, "-n", "alice", "create", "-f", "-")
	installed, err := aliceSS.StreamV1alpha1().Templates("alice").Get(ctx, "my-firefox", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if installed.Spec.BaseImage != "lscr.io/linuxserver/firefox:latest" || installed.Spec.VNC == nil || installed.Spec.VNC.Port != 3000 ||
		installed.Spec.AppType != streamv1alpha1.AppTypeDesktop || installed.Labels["catalog.stream.space/source"] != "e2e-install-firefox" {
		t.Fatalf("installed template: labels %v spec %+v", installed.Labels, installed.Spec)
	}
	eventually(t, time.Minute, "install count 1", func() (bool, error) {
		ct, err := ss.CatalogV1alpha1().CatalogTemplates().Get(ctx, "e2e-install-firefox", metav1.GetOptions{})
		return err == nil && ct.Status.InstallCount == 1, err
	})
	if out := mustKubectl(t, "alice", "", "get", "ctpl", "e2e-install-firefox"); !strings.Contains(out, "Firefox") {
		t.Errorf("kubectl get ctpl: %s", out)
	}

	// Bad installs are refused with the field and the reason.
	for _, bad := range []struct{ body, want string }{
		{"spec: {source: {catalogTemplate: no-such-template}}", "spec.source.catalogTemplate: Not found"},
		{"spec: {source: {catalogTemplate: e2e-install-firefox}, baseImage: evil}", "the rest of spec must be empty"},
	} {
		_, err := kubectl(t, "alice", "apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: bad-install}\n"+bad.body+"\n", "-n", "alice", "create", "-f", "-")
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("install %s: %v, want an error with %q", bad.body, err, bad.want)
		}
	}

	// A session starts from the installed template.
	mustKubectl(t, "alice", "apiVersion: stream.space/v1alpha1\nkind: Session\nmetadata: {name: from-catalog}\nspec: {template: my-firefox}\n", "-n", "alice", "create", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, "alice", "", "-n", "alice", "delete", "session", "from-catalog", "--ignore-not-found")
	})
	eventually(t, 2*time.Minute, "the session from the catalog template to run", func() (bool, error) {
		s, err := aliceSS.StreamV1alpha1().Sessions("alice").Get(ctx, "from-catalog", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return s.Status.Phase == streamv1alpha1.SessionPhaseRunning, nil
	})

	mustKubectl(t, "alice", "", "-n", "alice", "delete", "template", "my-firefox")
	eventually(t, time.Minute, "install count back to 0", func() (bool, error) {
		ct, err := ss.CatalogV1alpha1().CatalogTemplates().Get(ctx, "e2e-install-firefox", metav1.GetOptions{})
		return err == nil && ct.Status.InstallCount == 0, err
	})
}
