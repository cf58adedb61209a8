package e2e

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/streamspace/controlplane/internal/gittest"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// tokenRepository is a TemplateRepository that authenticates with a token Secret.
func tokenRepository(name, url, secret string) *catalogv1alpha1.TemplateRepository {
	return &catalogv1alpha1.TemplateRepository{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: catalogv1alpha1.TemplateRepositorySpec{URL: url, Branch: "main",
			Auth: catalogv1alpha1.RepositoryAuth{Type: catalogv1alpha1.AuthTypeToken, SecretRef: &catalogv1alpha1.SecretReference{Name: secret}}},
	}
}

func createRepository(t *testing.T, ss clientset.Interface, r *catalogv1alpha1.TemplateRepository) {
	t.Helper()
	if _, err := ss.CatalogV1alpha1().TemplateRepositories().Create(context.Background(), r, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create repository %s: %v", r.Name, err)
	}
	t.Cleanup(func() {
		_, _ = kubectl(t, "admin", "", "delete", "templaterepository", r.Name, "--ignore-not-found")
	})
}

// sentToken reports whether any request for the Git repository carried the token.
func sentToken(git *gittest.Server, repo string) bool {
	for _, h := range git.AuthorizationHeaders(repo) {
		if raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic ")); err == nil && strings.Contains(string(raw), git.Token) {
			return true
		}
	}
	return false
}

func readyReason(r *catalogv1alpha1.TemplateRepository) string {
	if c := meta.FindStatusCondition(r.Status.Conditions, "Ready"); c != nil {
		return c.Reason
	}
	return ""
}

// TestCatalogCredentialsStayWithTheirRepository: the controller sends a
// Secret only for a repository the Secret names, only over https and only
// to the host of spec.url.
func TestCatalogCredentialsStayWithTheirRepository(t *testing.T) {
	ss, kube := clients(t, "admin")
	git := gittest.Start(t)
	for _, name := range []string{"unmarked", "othermarked"} {
		git.CreateRepo(name, false).Commit("one", map[string][]byte{"apps/a.yaml": catalogTemplateFile("a", "example.org/a:1")})
	}

	// A Secret without the annotation, and one marked for another repository.
	createSecret(t, kube, "e2e-cred-unmarked", map[string][]byte{"token": []byte(git.Token), "ca.crt": git.CACert})
	createSecret(t, kube, "e2e-cred-othermarked", map[string][]byte{"token": []byte(git.Token), "ca.crt": git.CACert}, "someone-else")
	createRepository(t, ss, tokenRepository("e2e-cred-unmarked", git.HTTPSRepoURL("unmarked"), "e2e-cred-unmarked"))
	createRepository(t, ss, tokenRepository("e2e-cred-othermarked", git.HTTPSRepoURL("othermarked"), "e2e-cred-othermarked"))
	for repo, gitRepo := range map[string]string{"e2e-cred-unmarked": "unmarked", "e2e-cred-othermarked": "othermarked"} {
		failed := waitRepository(t, ss, repo, func(r *catalogv1alpha1.TemplateRepository) bool {
			return r.Status.Phase == catalogv1alpha1.RepositoryPhaseFailed
		})
		if readyReason(failed) != "CredentialsNotAllowed" || !strings.Contains(failed.Status.ErrorMessage, catalogv1alpha1RepositoriesAnnotation) {
			t.Errorf("%s: reason %s, message %q; want CredentialsNotAllowed naming the annotation", repo, readyReason(failed), failed.Status.ErrorMessage)
		}
		if sentToken(git, gitRepo) {
			t.Errorf("%s: the token reached the Git server", repo)
		}
	}

	// Once the Secret names the repository, it is used.
	patch := `{"metadata":{"annotations":{"` + catalogv1alpha1RepositoriesAnnotation + `":"someone-else,e2e-cred-othermarked"}}}`
	if _, err := kube.CoreV1().Secrets(catalogNamespace).Patch(context.Background(), "e2e-cred-othermarked", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, "admin", "", "annotate", "templaterepository", "e2e-cred-othermarked", catalogv1alpha1SyncAnnotation+"="+time.Now().Format(time.RFC3339Nano), "--overwrite")
	waitRepository(t, ss, "e2e-cred-othermarked", func(r *catalogv1alpha1.TemplateRepository) bool {
		return r.Status.Phase == catalogv1alpha1.RepositoryPhaseReady
	})
	if !sentToken(git, "othermarked") {
		t.Errorf("the Git server never saw the token of the marked Secret: the check above proves nothing")
	}
	if sentToken(git, "unmarked") {
		t.Errorf("the token of the unmarked Secret reached the Git server")
	}
}

// TestCatalogCredentialsRedirectStaysOnTheHost: a Git server that redirects
// to another host does not get the controller there with the credentials.
func TestCatalogCredentialsRedirectStaysOnTheHost(t *testing.T) {
	ss, kube := clients(t, "admin")
	git := gittest.Start(t)
	other := gittest.Start(t)
	other.CreateRepo("private", false).Commit("one", map[string][]byte{"apps/a.yaml": catalogTemplateFile("a", "example.org/a:1")})
	git.Redirect("moved", other.HTTPSRepoURL("private"))

	ca := append(append([]byte{}, git.CACert...), other.CACert...)
	createSecret(t, kube, "e2e-cred-redirect", map[string][]byte{"token": []byte(git.Token), "ca.crt": ca}, "e2e-cred-redirect")
	createRepository(t, ss, tokenRepository("e2e-cred-redirect", git.HTTPSRepoURL("moved"), "e2e-cred-redirect"))
	failed := waitRepository(t, ss, "e2e-cred-redirect", func(r *catalogv1alpha1.TemplateRepository) bool {
		return r.Status.Phase == catalogv1alpha1.RepositoryPhaseFailed
	})
	if !strings.Contains(failed.Status.ErrorMessage, "refused redirect") {
		t.Errorf("errorMessage %q, want a refused redirect", failed.Status.ErrorMessage)
	}
	if len(git.AuthorizationHeaders("moved")) == 0 {
		t.Fatalf("the first host was never asked: the test proves nothing")
	}
	if got := other.AuthorizationHeaders("private"); len(got) != 0 {
		t.Errorf("the other host got %d requests (Authorization headers %q)", len(got), got)
	}
}

// TestCatalogCredentialsRefusedByValidation: plain http with credentials and
// credentials in spec.url are 422, and the answer does not repeat the token.
func TestCatalogCredentialsRefusedByValidation(t *testing.T) {
	ss, _ := clients(t, "admin")
	git := gittest.Start(t)
	host := strings.TrimPrefix(git.HTTPSURL, "https://")
	cases := []struct {
		name, url, authType string
	}{
		{"token over plain http", git.HTTPRepoURL("private"), "token"},
		{"basic over plain http", git.HTTPRepoURL("private"), "basic"},
		{"token as the URL's user", "https://" + git.Token + "@" + host + "/private.git", "none"},
		{"token as the URL's password", "https://x-access-token:" + git.Token + "@" + host + "/private.git", "none"},
		{"token in a URL that does not parse", "https://" + git.Token + "@" + host + "/%zz.git", "none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tokenRepository("e2e-cred-invalid", tc.url, "e2e-cred-any")
			r.Spec.Auth.Type = catalogv1alpha1.AuthType(tc.authType)
			if tc.authType == "none" {
				r.Spec.Auth.SecretRef = nil
			}
			_, err := ss.CatalogV1alpha1().TemplateRepositories().Create(context.Background(), r, metav1.CreateOptions{})
			if err == nil {
				_, _ = kubectl(t, "admin", "", "delete", "templaterepository", r.Name, "--ignore-not-found")
				t.Fatalf("created")
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.url") {
				t.Errorf("error %v, want 422 on spec.url", err)
			}
			if strings.Contains(err.Error(), git.Token) {
				t.Errorf("the answer repeats the token: %v", err)
			}
		})
	}
}

// TestCatalogCredentialsNeedGetOnTheSecret: a user allowed to write
// TemplateRepositories but not to get a Secret cannot point a repository at
// it (403), on create or by an update of the url or the secretRef.
func TestCatalogCredentialsNeedGetOnTheSecret(t *testing.T) {
	ss, kube := clients(t, "admin")
	git := gittest.Start(t)
	git.CreateRepo("private", false).Commit("one", map[string][]byte{"apps/a.yaml": catalogTemplateFile("a", "example.org/a:1")})
	git.CreateRepo("public", true).Commit("one", map[string][]byte{"apps/a.yaml": catalogTemplateFile("a", "example.org/a:1")})
	createSecret(t, kube, "e2e-cred-admins-only", map[string][]byte{"token": []byte(git.Token), "ca.crt": git.CACert}, "e2e-cred-by-admin", "e2e-cred-by-dave")
	mustKubectl(t, "admin", `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-repository-author}
rules:
- apiGroups: ["catalog.stream.space"]
  resources: ["templaterepositories"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-repository-author-dave}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-repository-author}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: dave}
`, "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, "admin", "", "delete", "clusterrolebinding", "e2e-repository-author-dave", "--ignore-not-found")
		_, _ = kubectl(t, "admin", "", "delete", "clusterrole", "e2e-repository-author", "--ignore-not-found")
	})
	cfg, err := stack.RESTConfig("admin")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Impersonate.UserName = "dave"
	daveSS, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	daveKube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := daveKube.CoreV1().Secrets(catalogNamespace).Get(ctx, "e2e-cred-admins-only", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("dave reads the Secret (%v): the test would prove nothing", err)
	}
	repos := daveSS.CatalogV1alpha1().TemplateRepositories()
	// RBAC lets dave write repositories (bindings take a moment to reach the authorizer's cache).
	public := &catalogv1alpha1.TemplateRepository{ObjectMeta: metav1.ObjectMeta{Name: "e2e-cred-by-dave"},
		Spec: catalogv1alpha1.TemplateRepositorySpec{URL: git.HTTPRepoURL("public"), Branch: "main", Auth: catalogv1alpha1.RepositoryAuth{Type: catalogv1alpha1.AuthTypeNone}}}
	eventually(t, time.Minute, "dave to be allowed to create a repository without credentials", func() (bool, error) {
		_, err := repos.Create(ctx, public, metav1.CreateOptions{})
		return err == nil, err
	})
	t.Cleanup(func() {
		_, _ = kubectl(t, "admin", "", "delete", "templaterepository", "e2e-cred-by-dave", "e2e-cred-by-dave-2", "--ignore-not-found")
	})

	wantForbidden := func(what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "streamspace-system/e2e-cred-admins-only") {
			t.Errorf("%s: %v, want 403 naming the Secret", what, err)
		}
	}
	_, err = repos.Create(ctx, tokenRepository("e2e-cred-by-dave-2", git.HTTPSRepoURL("private"), "e2e-cred-admins-only"), metav1.CreateOptions{})
	wantForbidden("dave creates a repository with the Secret", err)

	// The controller writes the repository's status meanwhile: a conflict
	// is read again, as any client would.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		withSecret, err := repos.Get(ctx, "e2e-cred-by-dave", metav1.GetOptions{})
		if err != nil {
			return err
		}
		withSecret.Spec.URL = git.HTTPSRepoURL("private")
		withSecret.Spec.Auth = catalogv1alpha1.RepositoryAuth{Type: catalogv1alpha1.AuthTypeToken, SecretRef: &catalogv1alpha1.SecretReference{Name: "e2e-cred-admins-only"}}
		_, err = repos.Update(ctx, withSecret, metav1.UpdateOptions{})
		return err
	})
	wantForbidden("dave adds the Secret to his repository", err)

	// An admin's repository with the Secret: dave may ask for a sync, not move it elsewhere.
	createRepository(t, ss, tokenRepository("e2e-cred-by-admin", git.HTTPSRepoURL("private"), "e2e-cred-admins-only"))
	if _, err := repos.Patch(ctx, "e2e-cred-by-admin", types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"`+catalogv1alpha1SyncAnnotation+`":"`+time.Now().Format(time.RFC3339Nano)+`"}}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("dave asks for a sync of the admin's repository: %v", err)
	}
	_, err = repos.Patch(ctx, "e2e-cred-by-admin", types.MergePatchType, []byte(`{"spec":{"url":"https://attacker.example/steal.git"}}`), metav1.PatchOptions{})
	wantForbidden("dave points the admin's repository elsewhere", err)
	if r := getRepository(t, ss, "e2e-cred-by-admin"); r.Spec.URL != git.HTTPSRepoURL("private") {
		t.Errorf("url is now %s", r.Spec.URL)
	}
}
