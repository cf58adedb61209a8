package e2e

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/internal/gittest"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
)

// TestWebhookGitLabAndGenericOnTheBridge: a GitLab push and a generic
// delivery (timestamp and nonce signed with the body) reach the real
// bridge and sync the repository; the same delivery again is a replay
// (409), also on another replica, a generic delivery with an old timestamp is refused (403), and a
// body over 1 MiB is refused (413) whatever its headers.
func TestWebhookGitLabAndGenericOnTheBridge(t *testing.T) {
	ss, _ := clients(t, "admin")
	secretData, err := os.ReadFile(stack.WebhookSecretFile())
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(secretData))
	git := gittest.Start(t)
	repo := git.CreateRepo("hooked", true)
	first := repo.Commit("one", map[string][]byte{"browsers/hooked.yaml": catalogTemplateFile("hooked", "example.org/hooked:1")})
	name := uniqueName("e2e-hook-providers")
	applyPublicRepository(t, name, git.HTTPRepoURL("hooked"), first)
	url := stack.BridgeURL + "/webhooks/repository/sync"
	image := func() string {
		entry, err := ss.CatalogV1alpha1().CatalogTemplates().Get(context.Background(), name+"-hooked", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		return entry.Spec.Template.BaseImage
	}

	// GitLab: the token and the event UUID.
	second := repo.Commit("two", map[string][]byte{"browsers/hooked.yaml": catalogTemplateFile("hooked", "example.org/hooked:2")})
	gitlab := `{"object_kind":"push","ref":"refs/heads/main","after":"` + second + `","project":{"git_http_url":"` + git.HTTPRepoURL("hooked") + `"}}`
	gitlabHeader := map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": name + "-gitlab-1"}
	if status, body := postWebhook(t, url, gitlab, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "not-the-secret-0123456789", "X-Gitlab-Event-UUID": name + "-forged"}); status != http.StatusUnauthorized {
		t.Errorf("GitLab push with a wrong token: %d %s, want 401", status, body)
	}
	if status, body := postWebhook(t, url, gitlab, gitlabHeader); status != http.StatusAccepted || !strings.Contains(body, `"`+name+`"`) {
		t.Fatalf("GitLab push: %d %s, want 202 naming %s", status, body, name)
	}
	waitRepository(t, ss, name, func(r *catalogv1alpha1.TemplateRepository) bool { return r.Status.LastSyncedCommit == second })
	if got := image(); got != "example.org/hooked:2" {
		t.Errorf("catalog template after the GitLab push: %s", got)
	}
	if status, body := postWebhook(t, url, gitlab, gitlabHeader); status != http.StatusConflict || !strings.Contains(body, "replay") {
		t.Errorf("replayed GitLab push: %d %s, want 409", status, body)
	}
	// A second webhook handler (as another bridge replica would be, with its
	// own memory) refuses it too: the repository remembers the delivery.
	_, kube := clients(t, "admin")
	replicaURL, replicaSecret := startWebhook(t, kube)
	if status, body := postWebhook(t, replicaURL, gitlab, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": replicaSecret, "X-Gitlab-Event-UUID": name + "-gitlab-1"}); status != http.StatusConflict || !strings.Contains(body, "already received by repositories "+name) {
		t.Errorf("GitLab push replayed to another replica: %d %s, want 409", status, body)
	}
	delete(gitlabHeader, "X-Gitlab-Event-UUID")
	if status, body := postWebhook(t, url, gitlab, gitlabHeader); status != http.StatusBadRequest {
		t.Errorf("GitLab push without an event UUID: %d %s, want 400", status, body)
	}

	// Generic: HMAC of "<timestamp>.<nonce>.<body>".
	third := repo.Commit("three", map[string][]byte{"browsers/hooked.yaml": catalogTemplateFile("hooked", "example.org/hooked:3")})
	generic := `{"repository_url":"` + git.HTTPRepoURL("hooked") + `","branch":"main"}`
	genericHeader := func(at time.Time, nonce string) map[string]string {
		ts := strconv.FormatInt(at.Unix(), 10)
		return map[string]string{"X-Webhook-Timestamp": ts, "X-Webhook-Nonce": nonce, "X-Webhook-Signature": hmacHex(secret, ts+"."+nonce+"."+generic)}
	}
	if status, body := postWebhook(t, url, generic, map[string]string{"X-Webhook-Signature": hmacHex(secret, generic)}); status != http.StatusBadRequest {
		t.Errorf("generic delivery signed the old way, without timestamp and nonce: %d %s, want 400", status, body)
	}
	if status, body := postWebhook(t, url, generic, genericHeader(time.Now().Add(-time.Hour), name+"-old")); status != http.StatusForbidden || !strings.Contains(body, "X-Webhook-Timestamp") {
		t.Errorf("generic delivery an hour old: %d %s, want 403", status, body)
	}
	fresh := genericHeader(time.Now(), name+"-nonce-1")
	if status, body := postWebhook(t, url, generic, fresh); status != http.StatusAccepted || !strings.Contains(body, `"`+name+`"`) {
		t.Fatalf("generic delivery: %d %s, want 202 naming %s", status, body, name)
	}
	waitRepository(t, ss, name, func(r *catalogv1alpha1.TemplateRepository) bool { return r.Status.LastSyncedCommit == third })
	if got := image(); got != "example.org/hooked:3" {
		t.Errorf("catalog template after the generic delivery: %s", got)
	}
	if status, body := postWebhook(t, url, generic, fresh); status != http.StatusConflict || !strings.Contains(body, "replay") {
		t.Errorf("replayed generic delivery: %d %s, want 409", status, body)
	}

	// Too large: refused before the signature could matter.
	big := `{"repository_url":"` + git.HTTPRepoURL("hooked") + `","pad":"` + strings.Repeat("x", 2<<20) + `"}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	if status, body := postWebhook(t, url, big, map[string]string{"X-Webhook-Timestamp": ts, "X-Webhook-Nonce": name + "-big", "X-Webhook-Signature": hmacHex(secret, ts+"."+name+"-big."+big)}); status != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB delivery: %d %.200s, want 413", status, body)
	}
}
