package e2e

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/internal/gittest"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
)

func catalogTemplateFile(name, image string) []byte {
	return []byte(`apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: ` + name + `}
spec:
  displayName: ` + name + `
  category: Web Browsers
  baseImage: ` + image + `
  kasmvnc: {enabled: true, port: 3000}
`)
}

// applyPublicRepository creates a TemplateRepository without credentials
// that syncs only when asked (syncInterval 0), and waits for its first sync.
func applyPublicRepository(t *testing.T, name, url, commit string) {
	t.Helper()
	ss, _ := clients(t, "admin")
	mustKubectl(t, "admin", "apiVersion: catalog.stream.space/v1alpha1\nkind: TemplateRepository\nmetadata: {name: "+name+"}\nspec: {url: "+url+", syncInterval: 0s}\n", "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, "admin", "", "delete", "templaterepository", name, "--ignore-not-found")
	})
	waitRepository(t, ss, name, func(r *catalogv1alpha1.TemplateRepository) bool {
		return r.Status.Phase == catalogv1alpha1.RepositoryPhaseReady && r.Status.LastSyncedCommit == commit
	})
}

// A Git host's push reaches the real bridge: signed, it is accepted (202)
// and the repository syncs the pushed commit; unsigned or wrongly signed,
// it is refused (401) and nothing changes.
func TestBridgeWebhookRequestsSync(t *testing.T) {
	ss, _ := clients(t, "admin")
	secretData, err := os.ReadFile(stack.WebhookSecretFile())
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(secretData))
	git := gittest.Start(t)
	repo := git.CreateRepo("hooked", true)
	first := repo.Commit("one", map[string][]byte{"browsers/hooked.yaml": catalogTemplateFile("hooked", "example.org/hooked:1")})
	name := uniqueName("e2e-hook")
	applyPublicRepository(t, name, git.HTTPRepoURL("hooked"), first)
	before := getRepository(t, ss, name)

	second := repo.Commit("two", map[string][]byte{"browsers/hooked.yaml": catalogTemplateFile("hooked", "example.org/hooked:2")})
	// GitHub's push payload names the repository by several URLs; the clone
	// URL in another spelling still matches (normalised).
	payload := `{"ref":"refs/heads/main","after":"` + second + `","repository":{"clone_url":"` + strings.ToUpper(git.HTTPRepoURL("hooked")[:4]) + git.HTTPRepoURL("hooked")[4:] + `"}}`
	url := stack.BridgeURL + "/webhooks/repository/sync"
	for _, refused := range []struct {
		name   string
		header map[string]string
	}{
		{"unsigned", map[string]string{"X-GitHub-Event": "push"}},
		{"signed with another secret", map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": name + "-forged", "X-Hub-Signature-256": "sha256=" + hmacHex("not-the-webhook-secret", payload)}},
		{"a bearer token is no signature", map[string]string{"X-GitHub-Event": "push", "Authorization": "Bearer " + userToken(t, "alice")}},
	} {
		if status, body := postWebhook(t, url, payload, refused.header); status != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
			t.Errorf("%s push: %d %s, want 401", refused.name, status, body)
		}
	}
	if r := getRepository(t, ss, name); r.ResourceVersion != before.ResourceVersion || r.Annotations[catalogv1alpha1SyncAnnotation] != "" {
		t.Fatalf("a refused push changed the repository: resourceVersion %s → %s, annotations %v", before.ResourceVersion, r.ResourceVersion, r.Annotations)
	}

	signed := map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": name + "-1", "X-Hub-Signature-256": "sha256=" + hmacHex(secret, payload)}
	status, body := postWebhook(t, url, payload, signed)
	if status != http.StatusAccepted || !strings.Contains(body, `"`+name+`"`) {
		t.Fatalf("signed push: %d %s, want 202 naming %s", status, body, name)
	}
	// The same delivery again, as is or under a new delivery ID, is a replay.
	for _, id := range []string{name + "-1", name + "-2"} {
		replay := map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": id, "X-Hub-Signature-256": signed["X-Hub-Signature-256"]}
		if status, body := postWebhook(t, url, payload, replay); status != http.StatusConflict || !strings.Contains(body, "replay") {
			t.Errorf("replayed push (delivery %s): %d %s, want 409", id, status, body)
		}
	}
	waitRepository(t, ss, name, func(r *catalogv1alpha1.TemplateRepository) bool { return r.Status.LastSyncedCommit == second })
	entry, err := ss.CatalogV1alpha1().CatalogTemplates().Get(context.Background(), name+"-hooked", metav1.GetOptions{})
	if err != nil || entry.Spec.Template.BaseImage != "example.org/hooked:2" {
		t.Errorf("catalog template after the push: %v, image %q, want example.org/hooked:2", err, entry.Spec.Template.BaseImage)
	}
}

// POST /api/v1/catalog/templates/{id}/install installs the way kubectl does
// (spec.source.catalogTemplate): the Template is filled by the API and the
// entry's install count rises.
func TestBridgeInstallsFromTheCatalog(t *testing.T) {
	ss, _ := clients(t, "admin")
	aliceSS, _ := clients(t, "alice")
	ctx := context.Background()
	git := gittest.Start(t)
	repo := git.CreateRepo("installable", true)
	head := repo.Commit("one", map[string][]byte{"browsers/installable.yaml": catalogTemplateFile("installable", "example.org/installable:1")})
	repoName := uniqueName("e2e-rest-install")
	applyPublicRepository(t, repoName, git.HTTPRepoURL("installable"), head)
	entryName := repoName + "-installable"
	countOf := func() int64 {
		entry, err := ss.CatalogV1alpha1().CatalogTemplates().Get(ctx, entryName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return entry.Status.InstallCount
	}
	before := countOf()

	name := uniqueName("rest-installed")
	status, body := bridgeCall(t, "alice", http.MethodPost, "/api/v1/catalog/templates/"+entryName+"/install", `{"name":"`+name+`"}`)
	if status != http.StatusCreated || !strings.Contains(body, `"name":"`+name+`"`) {
		t.Fatalf("install: %d %s, want 201 with the template", status, body)
	}
	t.Cleanup(func() {
		_, _ = kubectl(t, "alice", "", "-n", "alice", "delete", "template", name, "--ignore-not-found")
	})
	installed, err := aliceSS.StreamV1alpha1().Templates("alice").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if installed.Spec.Source == nil || installed.Spec.Source.CatalogTemplate != entryName || installed.Spec.BaseImage != "example.org/installable:1" ||
		installed.Labels["catalog.stream.space/source"] != entryName {
		t.Errorf("installed template: labels %v, spec %+v; want it filled from %s", installed.Labels, installed.Spec, entryName)
	}
	eventually(t, time.Minute, "the install count to rise", func() (bool, error) {
		return countOf() == before+1, nil
	})

	if status, body := bridgeCall(t, "alice", http.MethodPost, "/api/v1/catalog/templates/no-such-entry/install", ""); status != http.StatusNotFound {
		t.Errorf("install of an unknown entry: %d %s, want 404", status, body)
	}
	if status, body := bridgeCall(t, "alice", http.MethodPost, "/api/v1/catalog/templates/"+entryName+"/install?namespace=bob", ""); status != http.StatusForbidden {
		t.Errorf("alice installing into bob's namespace: %d %s, want 403", status, body)
	}
}
