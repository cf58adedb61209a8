package signin

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Options are the bridge's sign-in flags. Sign-in is on when an issuer is
// given.
type Options struct {
	IssuerURL        string
	ClientID         string
	ClientSecretFile string
	CAFile           string
	PublicURL        string
	Scopes           []string
	CookieDomain     string
	Lifetime         time.Duration
	MaxSignIns       int
}

// NewOptions returns the defaults.
func NewOptions() Options {
	return Options{ClientID: "streamspace-bridge", Lifetime: 12 * time.Hour, MaxSignIns: 10000}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.IssuerURL, "oidc-issuer-url", o.IssuerURL, "OpenID provider the dashboard signs people in with (the authorization code flow with PKCE). kube-apiserver must trust the same issuer with --oidc-client-id among its audiences. Empty: no sign-in, bearer tokens only.")
	fs.StringVar(&o.ClientID, "oidc-client-id", o.ClientID, "The bridge's client ID at the provider (a confidential client whose redirect URI is <--public-url>/auth/callback).")
	fs.StringVar(&o.ClientSecretFile, "oidc-client-secret-file", o.ClientSecretFile, "File holding the client's secret.")
	fs.StringVar(&o.CAFile, "oidc-ca-file", o.CAFile, "PEM bundle that verifies the provider. Empty: the system roots.")
	fs.StringVar(&o.PublicURL, "public-url", o.PublicURL, "The bridge as browsers reach it (scheme://host[:port]); https unless on loopback.")
	fs.StringSliceVar(&o.Scopes, "oidc-scopes", o.Scopes, "Scopes to ask for. Empty: openid, profile, email, groups, offline_access.")
	fs.StringVar(&o.CookieDomain, "cookie-domain", o.CookieDomain, "Domain of the sign-in cookie, so that it reaches the sessions' hosts under it (their ingress asks the bridge to authorize each request). Empty: the bridge's host only.")
	fs.DurationVar(&o.Lifetime, "signin-lifetime", o.Lifetime, "How long a sign-in lasts at most, however often its tokens are refreshed.")
	fs.IntVar(&o.MaxSignIns, "max-signins", o.MaxSignIns, "Sign-ins held at once (the least recently used is signed out first).")
}

// Validate checks the flags; each error names the flag.
func (o *Options) Validate() []error {
	if o.IssuerURL == "" {
		return nil
	}
	var errs []error
	if !strings.HasPrefix(o.IssuerURL, "https://") {
		errs = append(errs, fmt.Errorf("--oidc-issuer-url %q: must be https", o.IssuerURL))
	}
	if o.ClientID == "" {
		errs = append(errs, errors.New("--oidc-client-id is required with --oidc-issuer-url"))
	}
	if o.ClientSecretFile == "" {
		errs = append(errs, errors.New("--oidc-client-secret-file is required with --oidc-issuer-url"))
	}
	if o.PublicURL == "" {
		errs = append(errs, errors.New("--public-url is required with --oidc-issuer-url (the redirect URI is <public-url>/auth/callback)"))
	}
	if o.Lifetime <= 0 {
		errs = append(errs, fmt.Errorf("--signin-lifetime must be positive, got %s", o.Lifetime))
	}
	if o.MaxSignIns < 1 {
		errs = append(errs, fmt.Errorf("--max-signins must be at least 1, got %d", o.MaxSignIns))
	}
	return errs
}

// Manager builds the sign-in manager, or nil when sign-in is off.
func (o *Options) Manager() (*Manager, error) {
	if o.IssuerURL == "" {
		return nil, nil
	}
	secret, err := os.ReadFile(o.ClientSecretFile)
	if err != nil {
		return nil, fmt.Errorf("--oidc-client-secret-file: %w", err)
	}
	m, err := New(Config{
		IssuerURL: o.IssuerURL, ClientID: o.ClientID, ClientSecret: strings.TrimSpace(string(secret)), CAFile: o.CAFile,
		PublicURL: o.PublicURL, Scopes: o.Scopes, CookieDomain: o.CookieDomain, Lifetime: o.Lifetime, MaxSignIns: o.MaxSignIns,
	})
	if err != nil {
		return nil, fmt.Errorf("sign-in: %w", err)
	}
	return m, nil
}
