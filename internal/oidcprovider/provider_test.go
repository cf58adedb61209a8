package oidcprovider_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	certutil "k8s.io/client-go/util/cert"

	"github.com/streamspace/controlplane/internal/oidclogin"
	"github.com/streamspace/controlplane/internal/oidcprovider"
	"github.com/streamspace/controlplane/internal/pki"
)

const bridgeRedirect = "http://127.0.0.1:8080/auth/callback"

// startProvider serves a provider with one person, a public client and a
// confidential one
// over TLS on loopback, and returns its issuer and the file of its CA.
func startProvider(t *testing.T, idTokenLifetime time.Duration) (issuer, caFile string) {
	t.Helper()
	ca, err := pki.NewCA(certutil.Config{CommonName: "test-ca"})
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.Issue(certutil.Config{CommonName: "oidc", AltNames: certutil.AltNames{IPs: []net.IP{net.ParseIP("127.0.0.1")}},
		Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(serving.CertPEM, serving.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	issuer = "https://" + srv.Listener.Addr().String()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	handler, err := oidcprovider.New(context.Background(), oidcprovider.Config{
		Issuer: issuer, SigningKey: key,
		People: []oidcprovider.Person{{Subject: "s-carol", Username: "carol", Password: "pw-carol", Email: "carol@example.org",
			Name: "Carol Example", Groups: []string{"streamspace-users"}}},
		Clients: []oidcprovider.Client{
			{ID: "kubectl", RedirectURIs: []string{oidclogin.RedirectURL}, IDTokenLifetime: idTokenLifetime},
			{ID: "bridge", Secret: "bridge-secret", RedirectURIs: []string{bridgeRedirect}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = handler
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return issuer, caFile
}

func TestLoginRefreshAndWrongPassword(t *testing.T) {
	issuer, caFile := startProvider(t, 10*time.Minute)
	ctx := context.Background()
	cache := filepath.Join(t.TempDir(), "cache")
	opts := oidclogin.Options{Issuer: issuer, ClientID: "kubectl", CAFile: caFile, Username: "carol", Password: "pw-carol", CacheDir: cache}

	first, err := oidclogin.IDToken(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := oidclogin.UnverifiedClaims(first.IDToken)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Iss, Sub, Email   string
		PreferredUsername string `json:"preferred_username"`
		Groups            []string
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims.Iss != issuer || claims.Sub != "s-carol" || claims.PreferredUsername != "carol" || claims.Email != "carol@example.org" ||
		!slices.Equal(claims.Groups, []string{"streamspace-users"}) || !strings.Contains(string(payload), `"kubectl"`) {
		t.Errorf("ID token claims = %s", payload)
	}
	if first.RefreshToken == "" || time.Until(first.Expiry) < 9*time.Minute {
		t.Errorf("token = refresh %t, expires in %s; want a refresh token and ~10m", first.RefreshToken != "", time.Until(first.Expiry))
	}
	if info, err := os.Stat(filepath.Join(cache)); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("cache dir: %v %v", info, err)
	}

	// Cached: the same token.
	again, err := oidclogin.IDToken(ctx, opts)
	if err != nil || again.IDToken != first.IDToken {
		t.Errorf("second call: err %v, same token %t", err, again.IDToken == first.IDToken)
	}
	// Near expiry: refreshed, with a wrong password to prove no new login happened.
	later := opts
	later.Password = "wrong"
	later.Now = func() time.Time { return first.Expiry.Add(-30 * time.Second) }
	refreshed, err := oidclogin.IDToken(ctx, later)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if refreshed.IDToken == first.IDToken || refreshed.RefreshToken == first.RefreshToken {
		t.Error("refresh returned the old tokens")
	}

	// A wrong password is refused by the login page.
	wrong := oidclogin.Options{Issuer: issuer, ClientID: "kubectl", CAFile: caFile, Username: "carol", Password: "wrong"}
	if _, err := oidclogin.IDToken(ctx, wrong); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong password: err = %v, want 401", err)
	}
	unknown := wrong
	unknown.Username = "mallory"
	if _, err := oidclogin.IDToken(ctx, unknown); err == nil {
		t.Error("unknown user signed in")
	}
}

// TestConfidentialClient: the bridge's client redeems a code only with its
// secret, and only for its registered redirect URI.
func TestConfidentialClient(t *testing.T) {
	issuer, caFile := startProvider(t, 0)
	ctx := context.Background()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, httpClient)
	config := func(secret, redirect string) *oauth2.Config {
		return &oauth2.Config{
			ClientID: "bridge", ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid", "profile"},
			Endpoint: oauth2.Endpoint{AuthURL: issuer + "/authorize", TokenURL: issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
		}
	}
	for _, tc := range []struct {
		name, secret, redirect string
		ok                     bool
	}{
		{"its secret", "bridge-secret", bridgeRedirect, true},
		{"a wrong secret", "guess", bridgeRedirect, false},
		{"another redirect URI", "bridge-secret", "http://127.0.0.1:9090/auth/callback", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := oidclogin.Login(ctx, httpClient, config(tc.secret, tc.redirect), "carol", "pw-carol")
			if tc.ok && (err != nil || tok.IDToken == "") {
				t.Errorf("sign-in failed: %v", err)
			}
			if !tc.ok && err == nil {
				t.Error("sign-in succeeded")
			}
		})
	}
}
