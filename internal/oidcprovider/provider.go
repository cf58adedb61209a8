// Package oidcprovider is a small OpenID Connect provider for the dev stack,
// built on github.com/zitadel/oidc's certified op package: authorization
// code flow with PKCE, refresh tokens, discovery and JWKS, and a
// username-and-password login page. People and clients are fixed when it
// starts; requests and tokens live in memory.
package oidcprovider

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/go-logr/logr"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
	"k8s.io/klog/v2"
)

// loginPath is where the provider sends a browser to sign in.
const loginPath = "/login"

// Config describes a provider.
type Config struct {
	// Issuer is the https URL the provider is reached at, without a
	// trailing slash; it is the iss claim of every token.
	Issuer string
	// SigningKey signs the ID tokens: ECDSA P-256 (ES256) or RSA (RS256).
	SigningKey crypto.Signer
	People     []Person
	Clients    []Client
}

// New returns the provider's HTTP handler: the OpenID endpoints under the
// issuer (/.well-known/openid-configuration, /authorize, /oauth/token,
// /keys, /userinfo, ...) and the login page. Requests are logged with
// ctx's logger.
func New(ctx context.Context, cfg Config) (http.Handler, error) {
	issuer, err := url.Parse(cfg.Issuer)
	if err != nil || issuer.Scheme != "https" || issuer.Host == "" {
		return nil, fmt.Errorf("issuer %q: want an https URL", cfg.Issuer)
	}
	if issuer.Path != "" && issuer.Path != "/" {
		return nil, fmt.Errorf("issuer %q: a path is not supported", cfg.Issuer)
	}
	if cfg.SigningKey == nil {
		return nil, errors.New("no signing key")
	}
	key, err := newSigningKey(cfg.SigningKey)
	if err != nil {
		return nil, err
	}
	s := &storage{
		people: map[string]*Person{}, subjects: map[string]*Person{}, clients: map[string]opClient{},
		key: key, now: time.Now,
		authRequests: map[string]*authRequest{}, codes: map[string]string{},
		accessTokens: map[string]*accessToken{}, refreshTokens: map[string]*refreshToken{},
	}
	for i := range cfg.People {
		p := &cfg.People[i]
		if p.Subject == "" || p.Username == "" || p.Password == "" {
			return nil, fmt.Errorf("person %d: subject, username and password are required", i)
		}
		if s.people[p.Username] != nil || s.subjects[p.Subject] != nil {
			return nil, fmt.Errorf("person %s: username or subject used twice", p.Username)
		}
		s.people[p.Username], s.subjects[p.Subject] = p, p
	}
	loginURL := func(id string) string { return loginPath + "?" + url.Values{"authRequestID": {id}}.Encode() }
	for i := range cfg.Clients {
		c := &cfg.Clients[i]
		if c.ID == "" || len(c.RedirectURIs) == 0 {
			return nil, fmt.Errorf("client %d: id and redirect URIs are required", i)
		}
		s.clients[c.ID] = opClient{Client: c, loginURL: loginURL}
	}

	// The crypto key encrypts the opaque access tokens; the provider's
	// memory ends with it, so a fresh one per start is right.
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return nil, err
	}
	logger := klog.FromContext(ctx).WithName("oidc-provider")
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:             cryptoKey,
		CodeMethodS256:        true,
		GrantTypeRefreshToken: true,
		SupportedUILocales:    []language.Tag{language.English},
		SupportedScopes:       []string{"openid", "profile", "email", "offline_access", GroupsScope},
		SupportedClaims: []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "amr", "azp",
			"preferred_username", "name", "email", "email_verified", "groups"},
	}, s, op.StaticIssuer(cfg.Issuer), op.WithLogger(slog.New(logr.ToSlogHandler(logger))))
	if err != nil {
		return nil, fmt.Errorf("create the OpenID provider: %w", err)
	}

	mux := http.NewServeMux()
	interceptor := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	mux.Handle(loginPath, interceptor.Handler(&loginPage{storage: s, callback: op.AuthCallbackURL(provider)}))
	mux.Handle("/", provider)
	return logRequests(logger, mux), nil
}

// logRequests logs every request at V(4) without its query, which carries
// codes and state.
func logRequests(logger klog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		next.ServeHTTP(w, r)
		logger.V(4).Info("request", "method", r.Method, "path", r.URL.Path, "duration", time.Since(began))
	})
}
