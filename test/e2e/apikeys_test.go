package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/streamspace/controlplane/internal/devstack"
	"github.com/streamspace/controlplane/internal/devstack/kubeconfig"
)

// oidcIDToken signs person in at the stack's provider, as their kubeconfig's
// credential plugin does, and returns the ID token.
func oidcIDToken(t *testing.T, person string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, stack.DevCommand(), "oidc-token",
		"--issuer="+stack.OIDCIssuerURL, "--client-id="+devstack.OIDCKubectlClientID, "--ca="+stack.OIDCCA,
		"--user="+person, "--password-file="+filepath.Join(stack.Dir, "users", person+".password"),
		"--cache="+filepath.Join(t.TempDir(), "tokens")).Output()
	if err != nil {
		t.Fatalf("oidc-token for %s: %v", person, err)
	}
	var cred struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	if err := json.Unmarshal(out, &cred); err != nil || cred.Status.Token == "" {
		t.Fatalf("oidc-token for %s printed %q (%v)", person, out, err)
	}
	return cred.Status.Token
}

// tokenKubectl runs kubectl with a bearer token alone.
func tokenKubectl(t *testing.T, token string, args ...string) (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	ca, err := os.ReadFile(stack.CACert)
	if err != nil {
		t.Fatal(err)
	}
	if err := kubeconfig.Write(path, kubeconfig.Cluster{Server: stack.KubeAPIServerURL, CAData: ca}, "key", "key",
		kubeconfig.Credentials{Token: token}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, stack.KubectlPath(), append([]string{"--kubeconfig", path}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		err = errors.New("kubectl " + strings.Join(args, " ") + " (with a token): " + strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), err
}

// directTokenReview posts a TokenReview of token straight to
// streamspace-apiserver's webhook, with user's client certificate ("" for
// none), and returns the HTTP status.
func directTokenReview(t *testing.T, user, token string) int {
	t.Helper()
	cfg := &rest.Config{Host: stack.StreamspaceURL}
	if user != "" {
		admin, err := stack.RESTConfig(user)
		if err != nil {
			t.Fatal(err)
		}
		cfg = rest.CopyConfig(admin)
		cfg.Host = stack.StreamspaceURL
	}
	cfg.TLSClientConfig.CAData = nil
	cfg.TLSClientConfig.CAFile = filepath.Join(stack.Dir, "pki", "streamspace-ca.crt")
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"` + token + `"}}`
	resp, err := client.Post(stack.StreamspaceURL+"/authenticate/apikeys", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

type whoAmI struct {
	Status struct {
		UserInfo struct {
			Username string              `json:"username"`
			UID      string              `json:"uid"`
			Groups   []string            `json:"groups"`
			Extra    map[string][]string `json:"extra"`
		} `json:"userInfo"`
	} `json:"status"`
}

func whoami(t *testing.T, token string) (whoAmI, error) {
	t.Helper()
	var who whoAmI
	out, err := tokenKubectl(t, token, "auth", "whoami", "-o", "json")
	if err != nil {
		return who, err
	}
	return who, json.Unmarshal([]byte(out), &who)
}

type mintedKey struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		User      string   `json:"user"`
		UID       string   `json:"uid"`
		Groups    []string `json:"groups"`
		ExpiresAt string   `json:"expiresAt"`
	} `json:"spec"`
	Status struct {
		Token     string `json:"token"`
		TokenHash string `json:"tokenHash"`
	} `json:"status"`
}

func apiKeyYAML(name, extra string) string {
	return "apiVersion: stream.space/v1alpha1\nkind: APIKey\nmetadata: {name: " + name + "}\nspec: {description: e2e" + extra + "}\n"
}

// mintKey creates an API key as person (OIDC) and returns the create response.
func mintKey(t *testing.T, person, manifest string) mintedKey {
	t.Helper()
	out, err := oidcKubectl(t, person, manifest, "create", "-f", "-", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var key mintedKey
	if err := json.Unmarshal([]byte(out), &key); err != nil {
		t.Fatalf("decode the created key: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_, _ = kubectl(t, "admin", "", "delete", "apikey", key.Metadata.Name, "--ignore-not-found")
	})
	if handedOut != nil {
		handedOut.add(key.Status.Token, "API key "+key.Metadata.Name)
	}
	return key
}

func waitUnauthorized(t *testing.T, token, what string) {
	t.Helper()
	eventually(t, time.Minute, what, func() (bool, error) {
		_, err := whoami(t, token)
		if err != nil && strings.Contains(err.Error(), "Unauthorized") {
			return true, nil
		}
		return false, err
	})
}

// TestAPIKeys: carol mints a key with kubectl (her OIDC token); it
// authenticates as oidc:carol with her groups and names itself in an extra;
// she lists her keys and not bob's, bob cannot read or revoke hers; the
// token is shown once and its hash never; she cannot mint one for bob or
// beyond 90 days, nor change more than its description; after she revokes it the key is refused within the
// webhook cache's time.
func TestAPIKeys(t *testing.T) {
	key := mintKey(t, "carol", apiKeyYAML("carol-e2e-key", ""))
	token := key.Status.Token
	if !strings.HasPrefix(token, "ssk_carol-e2e-key_") || key.Status.TokenHash != "" {
		t.Fatalf("the create response has token %q, hash %q", token, key.Status.TokenHash)
	}
	if key.Spec.User != "oidc:carol" || key.Spec.UID == "" || !slices.Contains(key.Spec.Groups, devstack.UsersGroup) || key.Spec.ExpiresAt == "" {
		t.Errorf("carol's key: %+v", key.Spec)
	}
	bobs := mintKey(t, "bob", apiKeyYAML("bob-e2e-key", ""))

	who, err := whoami(t, token)
	if err != nil {
		t.Fatal(err)
	}
	u := who.Status.UserInfo
	if u.Username != "oidc:carol" || u.UID != key.Spec.UID || !slices.Contains(u.Groups, devstack.UsersGroup) ||
		!slices.Contains(u.Groups, "system:authenticated") || !slices.Equal(u.Extra["streamspace.io/api-key"], []string{"carol-e2e-key"}) {
		t.Errorf("the key authenticates as %+v", u)
	}
	// It acts as carol: her namespace, not alice's.
	if _, err := tokenKubectl(t, token, "get", "sessions", "-n", "carol"); err != nil {
		t.Errorf("carol's key lists her sessions: %v", err)
	}
	if _, err := tokenKubectl(t, token, "get", "sessions", "-n", "alice"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("carol's key lists alice's sessions: err = %v, want Forbidden", err)
	}
	// Only kube-apiserver may ask streamspace-apiserver's webhook about a
	// token: not the cluster admin, not an anonymous caller.
	for _, who := range []string{"admin", ""} {
		if code := directTokenReview(t, who, token); code != http.StatusForbidden {
			t.Errorf("a TokenReview sent to streamspace-apiserver as %q: %d, want 403", who, code)
		}
	}
	// Another key's secret does not pass for it.
	if _, err := whoami(t, "ssk_carol-e2e-key_"+strings.TrimPrefix(bobs.Status.Token, "ssk_bob-e2e-key_")); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Errorf("a token naming carol's key with bob's secret: err = %v, want Unauthorized", err)
	}

	// Each lists only their own keys; nobody sees a token or a hash again.
	out, err := oidcKubectl(t, "carol", "", "get", "apikeys", "-o", "name")
	if err != nil || !strings.Contains(out, "apikey.stream.space/carol-e2e-key") || strings.Contains(out, "bob-e2e-key") {
		t.Errorf("carol lists %q (%v), want her key and not bob's", out, err)
	}
	if _, err := oidcKubectl(t, "carol", "", "get", "apikey", "bob-e2e-key"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("carol reads bob's key: err = %v, want Forbidden", err)
	}
	for _, reader := range []func() (string, error){
		func() (string, error) {
			return oidcKubectl(t, "carol", "", "get", "apikey", "carol-e2e-key", "-o", "json")
		},
		func() (string, error) { return kubectl(t, "admin", "", "get", "apikeys", "-o", "json") },
	} {
		out, err := reader()
		if err != nil || strings.Contains(out, "tokenHash") || strings.Contains(out, token) || !strings.Contains(out, "carol-e2e-key") {
			t.Errorf("a read of the keys shows a token or hash (or fails: %v):\n%s", err, out)
		}
	}
	if out := mustKubectl(t, "admin", "", "get", "apikeys", "-o", "name"); !strings.Contains(out, "bob-e2e-key") || !strings.Contains(out, "carol-e2e-key") {
		t.Errorf("the admin lists %q, want every key", out)
	}

	// Bob may not revoke carol's key; carol may not mint one for bob, nor one for 100 days.
	if _, err := oidcKubectl(t, "bob", "", "delete", "apikey", "carol-e2e-key"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("bob deletes carol's key: err = %v, want Forbidden", err)
	}
	forBob := "apiVersion: stream.space/v1alpha1\nkind: APIKey\nmetadata: {name: carol-for-bob}\nspec: {user: oidc:bob}\n"
	if _, err := oidcKubectl(t, "carol", forBob, "create", "-f", "-"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("carol mints a key for bob: err = %v, want Forbidden", err)
	}
	tooLong := "apiVersion: stream.space/v1alpha1\nkind: APIKey\nmetadata: {name: carol-too-long}\nspec: {expiresAt: \"" +
		time.Now().Add(100*24*time.Hour).UTC().Format(time.RFC3339) + "\"}\n"
	if _, err := oidcKubectl(t, "carol", tooLong, "create", "-f", "-"); err == nil || !strings.Contains(err.Error(), "spec.expiresAt") || !strings.Contains(err.Error(), "Invalid") {
		t.Errorf("carol mints a 100-day key: err = %v, want Invalid naming spec.expiresAt", err)
	}
	// Only the description of a key changes: not its groups, not by bob.
	if _, err := oidcKubectl(t, "carol", "", "patch", "apikey", "carol-e2e-key", "--type=merge", "-p", `{"spec":{"groups":["streamspace-admins"]}}`); err == nil ||
		!strings.Contains(err.Error(), "only spec.description") {
		t.Errorf("carol patching her key's groups: err = %v, want Invalid", err)
	}
	// A watch (served by the watch cache, whose events every watcher
	// shares) shows no hash either: not in the first events, not in the
	// change.
	type watched struct {
		out string
		err error
	}
	watchDone := make(chan watched, 1)
	go func() {
		out, err := oidcKubectl(t, "carol", "", "get", "--raw", "/apis/stream.space/v1alpha1/apikeys?watch=1&timeoutSeconds=6")
		watchDone <- watched{out, err}
	}()
	time.Sleep(2 * time.Second) // let the watch start, so the patch below is an event on it
	if _, err := oidcKubectl(t, "carol", "", "patch", "apikey", "carol-e2e-key", "--type=merge", "-p", `{"spec":{"description":"nightly"}}`); err != nil {
		t.Errorf("carol patching her key's description: %v", err)
	}
	if w := <-watchDone; w.err != nil || !strings.Contains(w.out, `"ADDED"`) || !strings.Contains(w.out, "carol-e2e-key") || strings.Contains(w.out, "tokenHash") {
		t.Errorf("carol's watch of her keys shows a hash (or fails: %v):\n%s", w.err, w.out)
	} else if !strings.Contains(w.out, `"MODIFIED"`) {
		t.Logf("the watch ended before the patch's event (a slow machine); its first events had no hash")
	}
	if _, err := oidcKubectl(t, "bob", "", "patch", "apikey", "carol-e2e-key", "--type=merge", "-p", `{"spec":{"description":"bob's"}}`); err == nil ||
		!strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("bob patching carol's key: err = %v, want Forbidden", err)
	}
	if who, err := whoami(t, token); err != nil || who.Status.UserInfo.Username != "oidc:carol" {
		t.Errorf("the key after the patch: %+v, %v", who, err)
	}

	// Revoked: refused within the webhook cache's time.
	if _, err := oidcKubectl(t, "carol", "", "delete", "apikey", "carol-e2e-key"); err != nil {
		t.Fatal(err)
	}
	waitUnauthorized(t, token, "the revoked key to be refused")
	if _, err := whoami(t, bobs.Status.Token); err != nil {
		t.Errorf("bob's key after carol revoked hers: %v", err)
	}
}

// TestAPIKeyExpires: a key stops working at spec.expiresAt.
func TestAPIKeyExpires(t *testing.T) {
	manifest := "apiVersion: stream.space/v1alpha1\nkind: APIKey\nmetadata: {name: carol-short-key}\nspec: {expiresAt: \"" +
		time.Now().Add(8*time.Second).UTC().Format(time.RFC3339) + "\"}\n"
	key := mintKey(t, "carol", manifest)
	if who, err := whoami(t, key.Status.Token); err != nil || who.Status.UserInfo.Username != "oidc:carol" {
		t.Fatalf("the key before it expires: %+v, %v", who, err)
	}
	waitUnauthorized(t, key.Status.Token, "the expired key to be refused")
}

// TestAPIKeysThroughTheBridge: carol mints, lists and revokes keys through
// the bridge with her ID token; the token works with kube-apiserver; bob
// cannot revoke hers through the bridge either.
func TestAPIKeysThroughTheBridge(t *testing.T) {
	carol, bob := oidcIDToken(t, "carol"), oidcIDToken(t, "bob")
	status, body := bridgeCallWithToken(t, carol, http.MethodPost, "/api/v1/apikeys", `{"name":"carol-bridge-key","description":"ci"}`)
	if status != http.StatusCreated {
		t.Fatalf("POST /api/v1/apikeys: %d %s", status, body)
	}
	t.Cleanup(func() { _, _ = kubectl(t, "admin", "", "delete", "apikey", "carol-bridge-key", "--ignore-not-found") })
	var created struct {
		ID    string `json:"id"`
		User  string `json:"user"`
		Token string `json:"token"`
	}
	mustDecode(t, body, &created)
	if created.ID != "carol-bridge-key" || created.User != "oidc:carol" || !strings.HasPrefix(created.Token, "ssk_carol-bridge-key_") {
		t.Fatalf("created %+v", created)
	}
	if handedOut != nil {
		handedOut.add(created.Token, "API key carol-bridge-key")
	}
	if who, err := whoami(t, created.Token); err != nil || who.Status.UserInfo.Username != "oidc:carol" {
		t.Errorf("the bridge-minted key: %+v, %v", who, err)
	}

	status, body = bridgeCallWithToken(t, carol, http.MethodGet, "/api/v1/apikeys", "")
	var list struct {
		APIKeys []struct {
			ID    string `json:"id"`
			User  string `json:"user"`
			Token string `json:"token"`
		} `json:"apiKeys"`
	}
	mustDecode(t, body, &list)
	if status != http.StatusOK || len(list.APIKeys) == 0 {
		t.Fatalf("GET /api/v1/apikeys: %d %s", status, body)
	}
	for _, k := range list.APIKeys {
		if k.User != "oidc:carol" || k.Token != "" {
			t.Errorf("carol's list has %+v", k)
		}
	}
	if strings.Contains(body, created.Token) {
		t.Error("the list shows the token")
	}

	if status, body := bridgeCallWithToken(t, bob, http.MethodDelete, "/api/v1/apikeys/carol-bridge-key", ""); status != http.StatusForbidden {
		t.Errorf("bob revokes carol's key through the bridge: %d %s, want 403", status, body)
	}
	if status, body := bridgeCallWithToken(t, carol, http.MethodDelete, "/api/v1/apikeys/carol-bridge-key", ""); status != http.StatusOK {
		t.Fatalf("DELETE /api/v1/apikeys/carol-bridge-key: %d %s", status, body)
	}
	waitUnauthorized(t, created.Token, "the key revoked through the bridge to be refused")
}
