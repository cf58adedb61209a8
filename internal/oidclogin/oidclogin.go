// Package oidclogin gets ID tokens from an OpenID Connect provider the way
// a person would with a browser: the authorization code flow with PKCE,
// through the provider's username-and-password login page (as
// internal/oidcprovider serves it). Tokens are cached in a file and
// refreshed with the refresh token before they expire; `streamspace-dev
// oidc-token` prints them as a kubectl exec credential.
package oidclogin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"k8s.io/klog/v2"
)

// RedirectURL is the loopback redirect URI the login ends at. The
// redirect is captured from the provider's answer, so nothing listens
// there; providers match loopback redirect URIs on any port (RFC 8252).
const RedirectURL = "http://127.0.0.1/callback"

// Scopes asked for: the ID token carries the profile, the e-mail and the
// groups, and offline_access brings a refresh token.
var Scopes = []string{"openid", "profile", "email", "groups", "offline_access"}

// refreshBefore is how long before its expiry a cached ID token is renewed,
// so a request never starts with a token about to expire.
const refreshBefore = time.Minute

// Options say where and as whom to sign in.
type Options struct {
	Issuer   string // https URL of the provider
	ClientID string // a public client (no secret) allowed the code and refresh grants
	CAFile   string // PEM bundle to verify the provider with; empty: the system roots
	Username string
	Password string
	// CacheDir keeps the tokens between calls (files 0600); empty: no cache.
	CacheDir string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Token is an ID token and when it expires.
type Token struct {
	IDToken      string    `json:"idToken"`
	RefreshToken string    `json:"refreshToken,omitempty"`
	Expiry       time.Time `json:"expiry"`
}

// IDToken returns a valid ID token: the cached one while it has more than
// a minute left, else one from the refresh token, else one from a new
// login.
func IDToken(ctx context.Context, opts Options) (Token, error) {
	logger := klog.FromContext(ctx)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	httpClient, err := newHTTPClient(opts.CAFile)
	if err != nil {
		return Token{}, err
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, httpClient)
	cached, _ := readCache(opts)
	if cached.IDToken != "" && opts.Now().Add(refreshBefore).Before(cached.Expiry) {
		return cached, nil
	}
	cfg, err := oauthConfig(ctx, httpClient, opts)
	if err != nil {
		return Token{}, err
	}
	var tok Token
	if cached.RefreshToken != "" {
		// The expiry in the past makes the token source refresh at once.
		t, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: cached.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
		if err == nil {
			tok, err = fromOAuth2(t, "")
		}
		if err != nil {
			// A provider that restarted forgets its refresh tokens: sign in again.
			logger.V(2).Info("refresh failed, signing in again", "err", err)
		}
	}
	if tok.IDToken == "" {
		if tok, err = Login(ctx, httpClient, cfg, opts.Username, opts.Password); err != nil {
			return Token{}, err
		}
	}
	if err := writeCache(opts, tok); err != nil {
		return Token{}, err
	}
	return tok, nil
}

// Login signs in as username through the provider's login page and
// redeems the code with its PKCE verifier. The HTTP client must trust the
// provider; Login gives it a cookie jar of its own.
func Login(ctx context.Context, httpClient *http.Client, cfg *oauth2.Config, username, password string) (Token, error) {
	jar, _ := cookiejar.New(nil)
	browser := *httpClient
	browser.Jar = jar
	var code, returnedState string
	browser.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 10 {
			return errors.New("too many redirects")
		}
		if strings.HasPrefix(req.URL.String(), cfg.RedirectURL) {
			code, returnedState = req.URL.Query().Get("code"), req.URL.Query().Get("state")
			if code == "" {
				return fmt.Errorf("provider refused: %s: %s", req.URL.Query().Get("error"), req.URL.Query().Get("error_description"))
			}
			return http.ErrUseLastResponse
		}
		return nil
	}
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce))

	// The authorization endpoint sends the browser to the login page.
	form, err := get(ctx, &browser, authURL)
	if err != nil {
		return Token{}, fmt.Errorf("open the login page: %w", err)
	}
	id := form.Query().Get("authRequestID")
	if id == "" {
		return Token{}, fmt.Errorf("the provider sent the browser to %s, not to a login page", form.Redacted())
	}
	values := url.Values{"authRequestID": {id}, "username": {username}, "password": {password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, form.String(), strings.NewReader(values.Encode()))
	if err != nil {
		return Token{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := browser.Do(req)
	if err != nil {
		return Token{}, fmt.Errorf("sign in as %s: %w", username, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if code == "" {
		return Token{}, fmt.Errorf("sign in as %s: the provider answered %s", username, resp.Status)
	}
	if returnedState != state {
		return Token{}, errors.New("sign in: the state returned does not match")
	}
	t, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Token{}, fmt.Errorf("redeem the authorization code: %w", err)
	}
	return fromOAuth2(t, nonce)
}

// get follows redirects from rawURL and returns where they ended.
func get(ctx context.Context, client *http.Client, rawURL string) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", resp.Request.URL.Redacted(), resp.Status)
	}
	return resp.Request.URL, nil
}

// fromOAuth2 takes the ID token of a token response, its expiry from its
// exp claim, and checks the nonce when one was sent. The signature is the
// relying party's to verify (kube-apiserver does).
func fromOAuth2(t *oauth2.Token, nonce string) (Token, error) {
	idToken, _ := t.Extra("id_token").(string)
	if idToken == "" {
		return Token{}, errors.New("the token response has no id_token")
	}
	claims, err := UnverifiedClaims(idToken)
	if err != nil {
		return Token{}, err
	}
	var std struct {
		Exp   int64  `json:"exp"`
		Nonce string `json:"nonce"`
	}
	if err := json.Unmarshal(claims, &std); err != nil || std.Exp == 0 {
		return Token{}, fmt.Errorf("the ID token has no exp claim (%v)", err)
	}
	if nonce != "" && std.Nonce != nonce {
		return Token{}, errors.New("the ID token's nonce does not match")
	}
	return Token{IDToken: idToken, RefreshToken: t.RefreshToken, Expiry: time.Unix(std.Exp, 0)}, nil
}

// UnverifiedClaims is the JSON payload of a JWT, without checking its signature.
func UnverifiedClaims(jwt string) ([]byte, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("JWT payload: %w", err)
	}
	return payload, nil
}

// oauthConfig reads the provider's endpoints from its discovery document.
func oauthConfig(ctx context.Context, client *http.Client, opts Options) (*oauth2.Config, error) {
	issuer := strings.TrimSuffix(opts.Issuer, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", issuer, err)
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer        string `json:"issuer"`
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("discover %s: %s", issuer, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("discover %s: %w", issuer, err)
	}
	if strings.TrimSuffix(doc.Issuer, "/") != issuer {
		return nil, fmt.Errorf("discover %s: the document names issuer %q", issuer, doc.Issuer)
	}
	return &oauth2.Config{
		ClientID:    opts.ClientID,
		Endpoint:    oauth2.Endpoint{AuthURL: doc.Authorization, TokenURL: doc.Token, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: RedirectURL,
		Scopes:      Scopes,
	}, nil
}

func newHTTPClient(caFile string) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read the provider's CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", caFile)
		}
		tlsConfig.RootCAs = pool
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig, Proxy: http.ProxyFromEnvironment}}, nil
}

// cacheFile is one file per issuer, client and user.
func cacheFile(opts Options) string {
	sum := sha256.Sum256([]byte(opts.Issuer + "\x00" + opts.ClientID + "\x00" + opts.Username))
	return filepath.Join(opts.CacheDir, hex.EncodeToString(sum[:12])+".json")
}

func readCache(opts Options) (Token, error) {
	if opts.CacheDir == "" {
		return Token{}, nil
	}
	data, err := os.ReadFile(cacheFile(opts))
	if err != nil {
		return Token{}, err
	}
	var t Token
	return t, json.Unmarshal(data, &t)
}

// writeCache replaces the cache file atomically, readable by its owner only.
func writeCache(opts Options, t Token) error {
	if opts.CacheDir == "" {
		return nil
	}
	if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(opts.CacheDir, ".token-*")
	if err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("token cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	return os.Rename(tmp.Name(), cacheFile(opts))
}
