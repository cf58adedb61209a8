package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
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

	jose "github.com/go-jose/go-jose/v4"
	"k8s.io/client-go/util/keyutil"

	"github.com/streamspace/controlplane/internal/devstack"
)

// oidcKubectl runs kubectl with a person's OIDC kubeconfig: kubectl runs
// `streamspace-dev oidc-token`, which signs in at the stack's provider.
func oidcKubectl(t *testing.T, person, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, stack.KubectlPath(), append([]string{
		"--kubeconfig", stack.UserOIDCKubeconfig(person), "--cache-dir", filepath.Join(stack.Dir, "cache", "kubectl-oidc"),
	}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		err = errors.New("kubectl " + strings.Join(args, " ") + " (as " + devstack.OIDCUser(person) + "): " + strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), err
}

// TestOIDCWhoAmIAndNamespaces: carol signs in at the provider through her
// kubeconfig; kube-apiserver names her oidc:carol with her groups and her
// sub as uid; she may create a session in her namespace and not in
// alice's.
func TestOIDCWhoAmIAndNamespaces(t *testing.T) {
	out, err := oidcKubectl(t, "carol", "", "auth", "whoami", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var review struct {
		Status struct {
			UserInfo struct {
				Username string   `json:"username"`
				UID      string   `json:"uid"`
				Groups   []string `json:"groups"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &review); err != nil {
		t.Fatalf("decode whoami: %v\n%s", err, out)
	}
	who := review.Status.UserInfo
	if who.Username != "oidc:carol" || who.UID == "" ||
		!slices.Contains(who.Groups, devstack.UsersGroup) || !slices.Contains(who.Groups, "system:authenticated") ||
		slices.Contains(who.Groups, devstack.AdminsGroup) {
		t.Errorf("carol is %+v; want oidc:carol with a uid, in %s and system:authenticated", who, devstack.UsersGroup)
	}
	if info, err := os.Stat(filepath.Join(stack.Dir, "users", "carol.password")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("carol's password file: %v, %v", info, err)
	}

	session := func(name string) string {
		return "apiVersion: stream.space/v1alpha1\nkind: Session\nmetadata: {name: " + name + "}\nspec: {template: firefox}\n"
	}
	if _, err := oidcKubectl(t, "carol", session("carol-oidc-firefox"), "create", "-n", "carol", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = kubectl(t, "admin", "", "delete", "session", "-n", "carol", "carol-oidc-firefox", "--wait=false")
	})
	out, err = oidcKubectl(t, "carol", "", "get", "session", "-n", "carol", "carol-oidc-firefox", "-o", "jsonpath={.spec.user}")
	if err != nil || out != "oidc:carol" {
		t.Errorf("carol's session has spec.user %q (%v), want oidc:carol", out, err)
	}
	_, err = oidcKubectl(t, "carol", session("carol-in-alice"), "create", "-n", "alice", "-f", "-")
	if err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("carol creating a session in alice's namespace: err = %v, want Forbidden", err)
	}
	// The token is cached and reused: a second call signs in no more.
	cached, _ := filepath.Glob(filepath.Join(stack.Dir, "cache", "oidc-tokens", "*.json"))
	if len(cached) == 0 {
		t.Error("no cached token")
	}
	for _, f := range cached {
		if info, err := os.Stat(f); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("token cache %s: %v, %v", f, info, err)
		}
	}
}

// TestOIDCAdminsGroupListsEverywhere: dana is in streamspace-admins, which
// is bound to streamspace-admin; carol is not.
func TestOIDCAdminsGroupListsEverywhere(t *testing.T) {
	out, err := oidcKubectl(t, "dana", "", "auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}")
	if err != nil || !strings.Contains(out, devstack.AdminsGroup) {
		t.Fatalf("dana's groups: %q (%v)", out, err)
	}
	if _, err := oidcKubectl(t, "dana", "", "get", "sessions", "--all-namespaces"); err != nil {
		t.Errorf("dana lists sessions in every namespace: %v", err)
	}
	if _, err := oidcKubectl(t, "dana", "", "get", "sessions", "-n", "bob"); err != nil {
		t.Errorf("dana lists bob's sessions: %v", err)
	}
	if _, err := oidcKubectl(t, "carol", "", "get", "sessions", "--all-namespaces"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("carol lists sessions in every namespace: err = %v, want Forbidden", err)
	}
}

// TestOIDCWrongPasswordRefused: the provider's login page refuses a wrong
// password, so the credential plugin fails and so does kubectl.
func TestOIDCWrongPasswordRefused(t *testing.T) {
	wrong := filepath.Join(t.TempDir(), "wrong.password")
	if err := os.WriteFile(wrong, []byte("not-carols-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, stack.DevCommand(), "oidc-token",
		"--issuer="+stack.OIDCIssuerURL, "--client-id="+devstack.OIDCKubectlClientID, "--ca="+stack.OIDCCA,
		"--user=carol", "--password-file="+wrong)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "401") {
		t.Errorf("oidc-token with a wrong password: err %v, output %s; want a 401 from the login page", err, out)
	}
	if strings.Contains(string(out), "ExecCredential") {
		t.Errorf("a credential was printed: %s", out)
	}
}

// TestOIDCForgedAndExpiredTokensRefused: kube-apiserver answers 401 to an
// ID token signed by a key other than the provider's, and to one signed by
// the provider's key that has expired; a fresh one signed by it passes.
func TestOIDCForgedAndExpiredTokensRefused(t *testing.T) {
	providerKey, err := keyutil.PrivateKeyFromFile(filepath.Join(stack.Dir, "pki", "oidc-signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(exp time.Time) map[string]any {
		return map[string]any{
			"iss": stack.OIDCIssuerURL, "aud": devstack.OIDCKubectlClientID, "sub": "forged-subject",
			"preferred_username": "carol", "groups": []string{devstack.AdminsGroup},
			"iat": now.Add(-2 * time.Hour).Unix(), "exp": exp.Unix(),
		}
	}
	for _, tc := range []struct {
		name   string
		key    crypto.Signer
		exp    time.Time
		status int
	}{
		{"signed by the provider's key (control)", providerKey.(crypto.Signer), now.Add(5 * time.Minute), http.StatusCreated},
		{"signed by another key", otherKey, now.Add(5 * time.Minute), http.StatusUnauthorized},
		{"expired", providerKey.(crypto.Signer), now.Add(-time.Hour), http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := signJWT(t, tc.key, claims(tc.exp))
			if got := selfSubjectReview(t, token); got != tc.status {
				t.Errorf("SelfSubjectReview with the token: %d, want %d", got, tc.status)
			}
		})
	}
}

// signJWT signs claims with ES256 under the key's JWK thumbprint as kid,
// as the provider names its key.
func signJWT(t *testing.T, key crypto.Signer, claims map[string]any) string {
	t.Helper()
	thumb, err := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", base64.RawURLEncoding.EncodeToString(thumb)))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// selfSubjectReview posts a SelfSubjectReview with a bearer token and
// returns kube-apiserver's status code.
func selfSubjectReview(t *testing.T, token string) int {
	t.Helper()
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(stack.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, err := http.NewRequest(http.MethodPost, stack.KubeAPIServerURL+"/apis/authentication.k8s.io/v1/selfsubjectreviews",
		strings.NewReader(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
