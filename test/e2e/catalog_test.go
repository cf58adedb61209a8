package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/streamspace/controlplane/internal/gittest"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/webhook"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

const catalogNamespace = "streamspace-system"

// TestCatalogSync runs the whole catalog on the stack: a private Git
// repository of 220 generated templates with every mess of real catalogs,
// served by a real Git server, synced by streamspace-controller's
// repository controller; a push picked up through the webhook; a deleted
// template pruned; a manual sync with kubectl annotate.
func TestCatalogSync(t *testing.T) {
	ss, kube := clients(t, "admin")
	ctx := context.Background()
	git := gittest.Start(t)
	generated := gittest.GenerateCatalog(220)
	repo := git.CreateRepo("templates", false)
	first := repo.Commit("catalog", generated.Files)

	createSecret(t, kube, "catalog-e2e-token", map[string][]byte{"token": []byte(git.Token), "ca.crt": git.CACert}, "e2e-catalog")
	applyRepository(t, "e2e-catalog", git.HTTPSRepoURL("templates"), "token", "catalog-e2e-token")
	t.Cleanup(func() {
		_, _ = kubectl(t, "admin", "", "delete", "templaterepository", "e2e-catalog", "--ignore-not-found")
	})

	r := waitRepository(t, ss, "e2e-catalog", func(r *catalogv1alpha1.TemplateRepository) bool { return r.Status.LastSyncedCommit == first })
	if r.Status.Phase != catalogv1alpha1.RepositoryPhaseReady || int(r.Status.TemplateCount) != len(generated.Valid) {
		t.Fatalf("phase %s, %d templates; want Ready, %d (%s)", r.Status.Phase, r.Status.TemplateCount, len(generated.Valid), r.Status.ErrorMessage)
	}
	if got := filePaths(r.Status.FileErrors); strings.Join(got, ",") != strings.Join(generated.Invalid, ",") {
		t.Errorf("fileErrors at %v, want %v", got, generated.Invalid)
	}
	for _, fe := range r.Status.FileErrors {
		if fe.Reason == "" {
			t.Errorf("file error without reason: %+v", fe)
		}
	}
	if got := filePaths(r.Status.SkippedFiles); strings.Join(got, ",") != strings.Join(generated.Skipped, ",") {
		t.Errorf("skippedFiles %v, want %v", got, generated.Skipped)
	}

	// Every valid template is a CatalogTemplate, and the filters work from kubectl.
	names := catalogTemplateNames(t, "--field-selector", "spec.repository=e2e-catalog")
	var want []string
	for _, n := range generated.Valid {
		want = append(want, "e2e-catalog-"+n)
	}
	sort.Strings(want)
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("catalog templates: got %d, want %d", len(names), len(want))
	}
	audioVideo := 0
	for _, n := range generated.Valid {
		if generated.Categories[n] == "audio-video" {
			audioVideo++
		}
	}
	for _, filter := range []struct {
		args []string
		want int
	}{
		{[]string{"-l", "catalog.stream.space/category=audio-video,catalog.stream.space/repository=e2e-catalog"}, audioVideo},
		{[]string{"--field-selector", "spec.category=audio-video,spec.repository=e2e-catalog"}, audioVideo},
		{[]string{"--field-selector", "spec.appType=webapp,spec.repository=e2e-catalog"}, len(generated.Valid) / 4},
		{[]string{"-l", "tag.catalog.stream.space/web-app,catalog.stream.space/repository=e2e-catalog"}, len(generated.Valid) / 4},
	} {
		if got := len(catalogTemplateNames(t, filter.args...)); got < filter.want-1 || got > filter.want+1 || got == 0 {
			t.Errorf("kubectl get ctpl %v: %d, want about %d", filter.args, got, filter.want)
		}
	}

	// A push: one template changed, one deleted; the Git host calls the webhook.
	webhookURL, secret := startWebhook(t, kube)
	second := repo.Commit("change firefox, drop app-0001", map[string][]byte{
		"browsers/firefox.yaml":     bytes.ReplaceAll(generated.Files["browsers/firefox.yaml"], []byte("firefox:latest"), []byte("firefox:2.0")),
		"development/app-0001.yaml": nil,
	})
	payload := fmt.Sprintf(`{"ref":"refs/heads/main","after":%q,"repository":{"clone_url":%q}}`, second, git.HTTPRepoURL("templates"))
	if status, body := postWebhook(t, webhookURL, payload, map[string]string{"X-GitHub-Event": "push"}); status != http.StatusUnauthorized {
		t.Fatalf("unsigned webhook: %d %s, want 401", status, body)
	}
	if r := getRepository(t, ss, "e2e-catalog"); r.Annotations[catalogv1alpha1SyncAnnotation] != "" {
		t.Fatalf("an unsigned webhook requested a sync")
	}
	status, body := postWebhook(t, webhookURL, payload, map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "e2e-catalog-push-1", "X-Hub-Signature-256": "sha256=" + hmacHex(secret, payload)})
	if status != http.StatusAccepted || !strings.Contains(body, `"e2e-catalog"`) {
		t.Fatalf("signed webhook: %d %s, want 202 naming e2e-catalog", status, body)
	}
	waitRepository(t, ss, "e2e-catalog", func(r *catalogv1alpha1.TemplateRepository) bool { return r.Status.LastSyncedCommit == second })
	firefox, err := ss.CatalogV1alpha1().CatalogTemplates().Get(ctx, "e2e-catalog-firefox", metav1.GetOptions{})
	if err != nil || firefox.Spec.Template.BaseImage != "lscr.io/linuxserver/firefox:2.0" {
		t.Errorf("firefox after the push: %v, image %q", err, firefox.Spec.Template.BaseImage)
	}
	if _, err := ss.CatalogV1alpha1().CatalogTemplates().Get(ctx, "e2e-catalog-app-0001", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("deleted template still in the catalog: %v", err)
	}

	// By hand: kubectl annotate; the commit did not move and nothing was
	// touched, so no CatalogTemplate is written, only lastSyncTime.
	before := catalogVersions(t, ss, "e2e-catalog")
	after := requestSync(t, ss, git, "e2e-catalog")
	if after.Status.LastSyncedCommit != second || int(after.Status.TemplateCount) != len(before) {
		t.Errorf("no-op sync changed the result: %+v", after.Status)
	}
	if changed := changedVersions(before, catalogVersions(t, ss, "e2e-catalog")); len(changed) > 0 {
		t.Errorf("no-op sync rewrote catalog templates %v", changed)
	}

	// An admin edits two CatalogTemplates and deletes a third: the
	// controller syncs the same commit again, restores the three and writes
	// nothing else.
	mustKubectl(t, "admin", "", "patch", "catalogtemplate", "e2e-catalog-app-0002", "--type=merge", "-p", `{"spec":{"template":{"baseImage":"evil.example.org/miner:1"}}}`)
	mustKubectl(t, "admin", "", "label", "catalogtemplate", "e2e-catalog-app-0003", "catalog.stream.space/category=hand-made", "--overwrite")
	mustKubectl(t, "admin", "", "delete", "catalogtemplate", "e2e-catalog-app-0004")
	restored := map[string]func(*catalogv1alpha1.CatalogTemplate) bool{
		"e2e-catalog-app-0002": func(ct *catalogv1alpha1.CatalogTemplate) bool {
			return ct.Spec.Template.BaseImage == "docker.io/example/app-0002:2"
		},
		"e2e-catalog-app-0003": func(ct *catalogv1alpha1.CatalogTemplate) bool {
			return ct.Labels["catalog.stream.space/category"] == "audio-video"
		},
		"e2e-catalog-app-0004": func(ct *catalogv1alpha1.CatalogTemplate) bool { return ct.Spec.Repository == "e2e-catalog" },
	}
	eventually(t, time.Minute, "the catalog templates changed by hand to be restored", func() (bool, error) {
		for name, ok := range restored {
			ct, err := ss.CatalogV1alpha1().CatalogTemplates().Get(ctx, name, metav1.GetOptions{})
			if err != nil || !ok(ct) {
				return false, fmt.Errorf("%s: %v", name, err)
			}
		}
		return true, nil
	})
	if changed := changedVersions(before, catalogVersions(t, ss, "e2e-catalog")); strings.Join(changed, ",") != "e2e-catalog-app-0002,e2e-catalog-app-0003,e2e-catalog-app-0004" {
		t.Errorf("written since the edits: %v, want only the three edited", changed)
	}
	if repaired := getRepository(t, ss, "e2e-catalog"); repaired.Status.LastSyncedCommit != second || int(repaired.Status.TemplateCount) != len(before) {
		t.Errorf("repairing sync: %+v", repaired.Status)
	}
	eventually(t, 30*time.Second, "a Repaired event on the repository", func() (bool, error) {
		out, err := kubectl(t, "admin", "", "get", "events", "-A", "--field-selector", "involvedObject.name=e2e-catalog,reason=Repaired")
		return err == nil && strings.Contains(out, "unchanged but"), fmt.Errorf("%s %v", out, err)
	})

	// Deleting the repository removes its catalog templates (owner references).
	mustKubectl(t, "admin", "", "delete", "templaterepository", "e2e-catalog")
	eventually(t, 2*time.Minute, "catalog templates of a deleted repository to go", func() (bool, error) {
		return len(catalogTemplateNames(t, "--field-selector", "spec.repository=e2e-catalog")) == 0, nil
	})
}

// TestCatalogCredentials: wrong credentials fail with a clear message
// that holds no secret; SSH with known_hosts works.
func TestCatalogCredentials(t *testing.T) {
	ss, kube := clients(t, "admin")
	git := gittest.Start(t)
	repo := git.CreateRepo("small", false)
	head := repo.Commit("one", map[string][]byte{"apps/a.yaml": []byte(
		"apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: a}\nspec: {displayName: A, baseImage: a, vnc: {enabled: true}}\n")})

	wrong := "ghp_wrong-token-123456789"
	createSecret(t, kube, "catalog-e2e-wrong", map[string][]byte{"token": []byte(wrong), "ca.crt": git.CACert}, "e2e-wrong-token")
	applyRepository(t, "e2e-wrong-token", git.HTTPSRepoURL("small"), "token", "catalog-e2e-wrong")
	createSecret(t, kube, "catalog-e2e-ssh", map[string][]byte{"ssh-privatekey": git.ClientKey, "known_hosts": git.KnownHosts}, "e2e-ssh")
	applyRepository(t, "e2e-ssh", git.SSHRepoURL("small"), "ssh", "catalog-e2e-ssh")
	applyRepository(t, "e2e-no-secret", git.HTTPSRepoURL("small"), "basic", "catalog-e2e-missing")
	t.Cleanup(func() {
		_, _ = kubectl(t, "admin", "", "delete", "templaterepository", "e2e-wrong-token", "e2e-ssh", "e2e-no-secret", "--ignore-not-found")
	})

	failed := waitRepository(t, ss, "e2e-wrong-token", func(r *catalogv1alpha1.TemplateRepository) bool {
		return r.Status.Phase == catalogv1alpha1.RepositoryPhaseFailed
	})
	if !strings.Contains(failed.Status.ErrorMessage, "authentication required") {
		t.Errorf("errorMessage %q does not say why", failed.Status.ErrorMessage)
	}
	described := mustKubectl(t, "admin", "", "get", "templaterepository", "e2e-wrong-token", "-o", "yaml")
	events := mustKubectl(t, "admin", "", "get", "events", "-A", "--field-selector", "involvedObject.name=e2e-wrong-token")
	for _, text := range []string{failed.Status.ErrorMessage, described, events} {
		if strings.Contains(text, wrong) {
			t.Errorf("the token is shown: %s", text)
		}
	}
	missing := waitRepository(t, ss, "e2e-no-secret", func(r *catalogv1alpha1.TemplateRepository) bool {
		return r.Status.Phase == catalogv1alpha1.RepositoryPhaseFailed
	})
	if !strings.Contains(missing.Status.ErrorMessage, "Secret streamspace-system/catalog-e2e-missing named by spec.auth.secretRef does not exist") {
		t.Errorf("missing Secret reported as %q", missing.Status.ErrorMessage)
	}
	viaSSH := waitRepository(t, ss, "e2e-ssh", func(r *catalogv1alpha1.TemplateRepository) bool { return r.Status.LastSyncedCommit == head })
	if viaSSH.Status.Phase != catalogv1alpha1.RepositoryPhaseReady || viaSSH.Status.TemplateCount != 1 {
		t.Errorf("ssh repository: %+v", viaSSH.Status)
	}
}

const (
	catalogv1alpha1SyncAnnotation         = "catalog.stream.space/sync-requested-at"
	catalogv1alpha1RepositoriesAnnotation = "catalog.stream.space/repositories"
)

// createSecret creates a credentials Secret in streamspace-system that the
// repositories named may use (annotation catalog.stream.space/repositories).
func createSecret(t *testing.T, kube kubernetes.Interface, name string, data map[string][]byte, repositories ...string) {
	t.Helper()
	meta := metav1.ObjectMeta{Name: name}
	if len(repositories) > 0 {
		meta.Annotations = map[string]string{catalogv1alpha1RepositoriesAnnotation: strings.Join(repositories, ",")}
	}
	_, err := kube.CoreV1().Secrets(catalogNamespace).Create(context.Background(), &corev1.Secret{
		ObjectMeta: meta, Data: data,
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create Secret %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Secrets(catalogNamespace).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

func applyRepository(t *testing.T, name, url, authType, secret string) {
	t.Helper()
	mustKubectl(t, "admin", fmt.Sprintf(`apiVersion: catalog.stream.space/v1alpha1
kind: TemplateRepository
metadata: {name: %s}
spec:
  url: %s
  branch: main
  auth: {type: %s, secretRef: {name: %s}}
`, name, url, authType, secret), "apply", "-f", "-")
}

func getRepository(t *testing.T, ss clientset.Interface, name string) *catalogv1alpha1.TemplateRepository {
	t.Helper()
	r, err := ss.CatalogV1alpha1().TemplateRepositories().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func waitRepository(t *testing.T, ss clientset.Interface, name string, cond func(*catalogv1alpha1.TemplateRepository) bool) *catalogv1alpha1.TemplateRepository {
	t.Helper()
	var last *catalogv1alpha1.TemplateRepository
	eventually(t, 2*time.Minute, "repository "+name, func() (bool, error) {
		r, err := ss.CatalogV1alpha1().TemplateRepositories().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = r
		return cond(r), fmt.Errorf("status %+v", r.Status)
	})
	return last
}

// requestSync asks for a sync with kubectl annotate and waits for the fetch
// and the status that reports it.
func requestSync(t *testing.T, ss clientset.Interface, git *gittest.Server, name string) *catalogv1alpha1.TemplateRepository {
	t.Helper()
	before := getRepository(t, ss, name)
	waitPastLastSync(before)
	fetches := git.UploadPackRequests("templates")
	mustKubectl(t, "admin", "", "annotate", "templaterepository", name, catalogv1alpha1SyncAnnotation+"="+time.Now().Format(time.RFC3339Nano), "--overwrite")
	eventually(t, time.Minute, "a fetch after kubectl annotate", func() (bool, error) {
		return git.UploadPackRequests("templates") > fetches, nil
	})
	return waitRepository(t, ss, name, func(r *catalogv1alpha1.TemplateRepository) bool {
		return r.Status.LastSyncTime != nil && !r.Status.LastSyncTime.Equal(before.Status.LastSyncTime)
	})
}

// waitPastLastSync waits for the second after r's lastSyncTime: the field
// has one-second precision, so a check within the same second as the last
// sync could not be told from it.
func waitPastLastSync(r *catalogv1alpha1.TemplateRepository) {
	if r.Status.LastSyncTime != nil {
		time.Sleep(time.Until(r.Status.LastSyncTime.Add(time.Second + 10*time.Millisecond)))
	}
}

// catalogVersions maps a repository's catalog templates to their resourceVersions.
func catalogVersions(t *testing.T, ss clientset.Interface, repo string) map[string]string {
	t.Helper()
	list, err := ss.CatalogV1alpha1().CatalogTemplates().List(context.Background(), metav1.ListOptions{FieldSelector: "spec.repository=" + repo})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, ct := range list.Items {
		out[ct.Name] = ct.ResourceVersion
	}
	return out
}

// changedVersions are the names written, created or deleted between two snapshots, sorted.
func changedVersions(before, after map[string]string) []string {
	var out []string
	for name, rv := range after {
		if before[name] != rv {
			out = append(out, name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func catalogTemplateNames(t *testing.T, args ...string) []string {
	t.Helper()
	out := mustKubectl(t, "admin", "", append([]string{"get", "catalogtemplates", "-o", "name"}, args...)...)
	var names []string
	for _, line := range strings.Fields(out) {
		names = append(names, strings.TrimPrefix(line, "catalogtemplate.catalog.stream.space/"))
	}
	sort.Strings(names)
	return names
}

func filePaths(files []catalogv1alpha1.FileError) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	sort.Strings(out)
	return out
}

// startWebhook serves the bridge's webhook handler with the bridge's
// service identity (a token of ServiceAccount streamspace-system/streamspace-bridge,
// whose webhook RBAC is artifacts/rbac/catalog-controller.yaml and whose
// writes artifacts/rbac/policy-bridge.yaml limits to the sync annotation).
func startWebhook(t *testing.T, kube kubernetes.Interface) (string, string) {
	t.Helper()
	ctx := context.Background()
	_, err := kube.CoreV1().ServiceAccounts(catalogNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "streamspace-bridge"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	token, err := kube.CoreV1().ServiceAccounts(catalogNamespace).CreateToken(ctx, "streamspace-bridge", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of the bridge's ServiceAccount: %v", err)
	}
	admin, err := stack.RESTConfig("admin")
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(admin)
	cfg.BearerToken = token.Status.Token
	bridgeClient, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	secret := "e2e-webhook-secret-0123456789"
	h, err := webhook.New([]byte(secret), &webhook.AnnotationTrigger{Client: bridgeClient})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+webhook.Path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + webhook.Path, secret
}

func postWebhook(t *testing.T, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	var parsed map[string]any
	_ = json.Unmarshal(buf.Bytes(), &parsed)
	return resp.StatusCode, buf.String()
}

func hmacHex(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}
