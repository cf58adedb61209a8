// Package signin signs people in to the bridge's dashboard with their
// OpenID Connect provider: the authorization code flow with PKCE, run by the
// bridge as a confidential client. The tokens stay on the server; the
// browser holds an HttpOnly cookie with a random handle and never sees a
// token, in a URL or anywhere else. The ID token is what the bridge passes
// on to kube-apiserver, which authenticates it like any other (its JWT
// authenticator must accept the bridge's client ID as an audience); it is
// refreshed with the refresh token before it expires.
//
// Sign-ins live in the memory of one bridge: a restart signs everyone out,
// and several replicas need session affinity on the cookie.
package signin

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
	"k8s.io/klog/v2"
)

// Paths the package serves.
const (
	LoginPath    = "/auth/login"
	CallbackPath = "/auth/callback"
	LogoutPath   = "/auth/logout"
	// SignedOutPath is where a sign-out ends when the provider has no
	// end-session endpoint.
	SignedOutPath = "/auth/signed-out"
)

// Cookie names. The session cookie holds only a random handle.
const (
	SessionCookie = "streamspace_session"
	loginCookie   = "streamspace_login"
)

// CSRFHeader must accompany requests authenticated by the session cookie
// (other than WebSocket handshakes, whose Origin is checked instead): a
// page of another site cannot send it without a CORS preflight the bridge
// never grants.
const CSRFHeader = "X-StreamSpace-Request"

// Config says which provider to use and how the cookie looks.
type Config struct {
	// IssuerURL of the OpenID provider (https).
	IssuerURL string
	// ClientID and ClientSecret of the bridge's confidential client.
	ClientID     string
	ClientSecret string
	// CAFile verifies the provider; empty: the system roots.
	CAFile string
	// PublicURL is the bridge as browsers reach it (scheme://host[:port]);
	// the redirect URI is PublicURL + CallbackPath.
	PublicURL string
	// Scopes asked for; default openid, profile, email, groups, offline_access.
	Scopes []string
	// CookieDomain, when set, lets the cookie reach hosts under it (the
	// sessions' own hosts, whose ingress asks the bridge to authorize them).
	CookieDomain string
	// Lifetime bounds a sign-in however often it is refreshed; default 12h.
	Lifetime time.Duration
	// MaxSignIns bounds the sign-ins held; default 10,000.
	MaxSignIns int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// refreshBefore is how long before the ID token's expiry it is renewed, so
// a request or a feed never starts with a token about to expire.
const refreshBefore = 2 * time.Minute

// loginTimeout bounds the round trip through the provider's login page.
const loginTimeout = 10 * time.Minute

// Manager runs sign-ins. Create it with New.
type Manager struct {
	cfg      Config
	secure   bool
	http     *http.Client
	signIns  *store
	pending  *pendingLogins
	mu       sync.Mutex
	party    rp.RelyingParty // discovered on first use
	now      func() time.Time
	redirect string
}

// New checks cfg; the provider is contacted on the first sign-in, so the
// bridge starts while its provider is still coming up.
func New(cfg Config) (*Manager, error) {
	if cfg.IssuerURL == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("sign-in needs the issuer URL, client ID and client secret")
	}
	public, err := url.Parse(cfg.PublicURL)
	if err != nil || (public.Scheme != "https" && public.Scheme != "http") || public.Host == "" || (public.Path != "" && public.Path != "/") {
		return nil, fmt.Errorf("public URL %q: want scheme://host[:port]", cfg.PublicURL)
	}
	if public.Scheme == "http" && !isLoopback(public.Hostname()) {
		return nil, fmt.Errorf("public URL %q: sign-in cookies need https except on loopback", cfg.PublicURL)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, "groups", oidc.ScopeOfflineAccess}
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = 12 * time.Hour
	}
	if cfg.MaxSignIns <= 0 {
		cfg.MaxSignIns = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client, err := httpClient(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	registerMetrics()
	return &Manager{
		cfg:      cfg,
		secure:   public.Scheme == "https",
		http:     client,
		signIns:  newStore(cfg.MaxSignIns),
		pending:  newPendingLogins(cfg.MaxSignIns),
		now:      cfg.Now,
		redirect: strings.TrimSuffix(cfg.PublicURL, "/") + CallbackPath,
	}, nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

func httpClient(caFile string) (*http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("provider CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("provider CA %s: no certificate in it", caFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: transport, Timeout: 15 * time.Second}, nil
}

// relyingParty discovers the provider once; until that succeeds every
// sign-in tries again.
func (m *Manager) relyingParty(ctx context.Context) (rp.RelyingParty, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.party != nil {
		return m.party, nil
	}
	party, err := rp.NewRelyingPartyOIDC(ctx, m.cfg.IssuerURL, m.cfg.ClientID, m.cfg.ClientSecret, m.redirect, m.cfg.Scopes,
		rp.WithHTTPClient(m.http), rp.WithSigningAlgsFromDiscovery(), rp.WithAuthStyle(oauth2.AuthStyleInHeader))
	if err != nil {
		return nil, fmt.Errorf("the identity provider %s is unreachable: %w", m.cfg.IssuerURL, err)
	}
	m.party = party
	return party, nil
}

// Login starts a sign-in: GET /auth/login?rd=<where to return>.
func (m *Manager) Login(w http.ResponseWriter, r *http.Request) {
	party, err := m.relyingParty(r.Context())
	if err != nil {
		m.fail(w, r, http.StatusServiceUnavailable, err.Error())
		return
	}
	state := rand.Text()
	verifier := oauth2.GenerateVerifier()
	m.pending.put(state, pendingLogin{verifier: verifier, returnTo: m.returnTo(r.URL.Query().Get("rd")), expires: m.now().Add(loginTimeout)})
	// The state also travels in a cookie of this browser, so a callback
	// carrying someone else's code and state (login CSRF) is refused.
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: state, Path: "/auth/", MaxAge: int(loginTimeout.Seconds()),
		HttpOnly: true, Secure: m.secure, SameSite: http.SameSiteLaxMode})
	signInsStarted.Inc()
	http.Redirect(w, r, rp.AuthURL(state, party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(verifier))), http.StatusFound)
}

// Callback finishes a sign-in: GET /auth/callback?code=&state=.
func (m *Manager) Callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	clearCookie(w, loginCookie, "/auth/", "", m.secure)
	if e := q.Get("error"); e != "" {
		signInsFailed.WithLabelValues("provider").Inc()
		m.fail(w, r, http.StatusUnauthorized, "the identity provider refused the sign-in: "+e+" "+q.Get("error_description"))
		return
	}
	state := q.Get("state")
	cookie, err := r.Cookie(loginCookie)
	if state == "" || err != nil || cookie.Value != state {
		signInsFailed.WithLabelValues("state").Inc()
		m.fail(w, r, http.StatusBadRequest, "this sign-in was not started in this browser (or it took longer than 10 minutes); sign in again")
		return
	}
	login, ok := m.pending.take(state, m.now())
	if !ok {
		signInsFailed.WithLabelValues("state").Inc()
		m.fail(w, r, http.StatusBadRequest, "this sign-in expired or was already used; sign in again")
		return
	}
	party, err := m.relyingParty(r.Context())
	if err != nil {
		m.fail(w, r, http.StatusServiceUnavailable, err.Error())
		return
	}
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](r.Context(), q.Get("code"), party, rp.WithCodeVerifier(login.verifier))
	if err != nil {
		signInsFailed.WithLabelValues("exchange").Inc()
		klog.FromContext(r.Context()).Info("sign-in code exchange failed", "err", err)
		m.fail(w, r, http.StatusUnauthorized, "the identity provider did not confirm the sign-in; sign in again")
		return
	}
	in := &signIn{ends: m.now().Add(m.cfg.Lifetime)}
	in.set(tokens)
	handle := rand.Text() + rand.Text()
	if evicted := m.signIns.put(handle, in); evicted > 0 {
		signInsEvicted.Add(float64(evicted))
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: handle, Path: "/", Domain: m.cfg.CookieDomain,
		MaxAge: int(m.cfg.Lifetime.Seconds()), HttpOnly: true, Secure: m.secure, SameSite: http.SameSiteLaxMode})
	signInsCompleted.Inc()
	klog.FromContext(r.Context()).V(2).Info("signed in", "subject", in.person.Subject)
	http.Redirect(w, r, login.returnTo, http.StatusFound)
}

func (in *signIn) set(tokens *oidc.Tokens[*oidc.IDTokenClaims]) {
	in.idToken = tokens.IDToken
	if tokens.RefreshToken != "" {
		in.refreshToken = tokens.RefreshToken
	}
	in.expiry = tokens.IDTokenClaims.GetExpiration()
	in.person = Person{Subject: tokens.IDTokenClaims.Subject, Name: tokens.IDTokenClaims.Name, Email: tokens.IDTokenClaims.Email}
}

// ErrNoSignIn: the request carries no sign-in cookie, or one this bridge
// no longer knows (signed out, expired, refresh refused).
var ErrNoSignIn = errors.New("not signed in")

// Token is the ID token of the request's sign-in, refreshed first when it
// is about to expire. A sign-in whose refresh the provider refuses is over.
func (m *Manager) Token(r *http.Request) (string, Person, error) {
	cookie, err := r.Cookie(SessionCookie)
	if err != nil || cookie.Value == "" {
		return "", Person{}, ErrNoSignIn
	}
	in := m.signIns.get(cookie.Value, m.now())
	if in == nil {
		return "", Person{}, ErrNoSignIn
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if m.now().Add(refreshBefore).Before(in.expiry) {
		return in.idToken, in.person, nil
	}
	if in.refreshToken == "" {
		m.signIns.remove(cookie.Value)
		return "", Person{}, ErrNoSignIn
	}
	party, err := m.relyingParty(r.Context())
	if err != nil {
		return "", Person{}, err
	}
	tokens, err := rp.RefreshTokens[*oidc.IDTokenClaims](r.Context(), party, in.refreshToken, "", "")
	if err != nil || tokens.IDToken == "" {
		refreshes.WithLabelValues("refused").Inc()
		klog.FromContext(r.Context()).V(2).Info("refresh refused, the sign-in is over", "subject", in.person.Subject, "err", err)
		m.signIns.remove(cookie.Value)
		return "", Person{}, ErrNoSignIn
	}
	refreshes.WithLabelValues("ok").Inc()
	in.set(tokens)
	return in.idToken, in.person, nil
}

// Logout ends the sign-in: POST /auth/logout from the bridge's own pages.
// The refresh token is revoked at the provider, the cookie cleared, and
// the browser sent to the provider's end-session endpoint when it has one.
func (m *Manager) Logout(w http.ResponseWriter, r *http.Request) {
	if !m.sameOrigin(r) {
		m.fail(w, r, http.StatusForbidden, "sign out from the dashboard's own page")
		return
	}
	clearCookie(w, SessionCookie, "/", m.cfg.CookieDomain, m.secure)
	cookie, err := r.Cookie(SessionCookie)
	if err != nil {
		http.Redirect(w, r, SignedOutPath, http.StatusSeeOther)
		return
	}
	in := m.signIns.remove(cookie.Value)
	if in == nil {
		http.Redirect(w, r, SignedOutPath, http.StatusSeeOther)
		return
	}
	signOuts.Inc()
	party, err := m.relyingParty(r.Context())
	if err != nil {
		http.Redirect(w, r, SignedOutPath, http.StatusSeeOther)
		return
	}
	in.mu.Lock()
	refreshToken, idToken := in.refreshToken, in.idToken
	in.mu.Unlock()
	if refreshToken != "" && party.GetRevokeEndpoint() != "" {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		if err := rp.RevokeToken(ctx, party, refreshToken, "refresh_token"); err != nil {
			klog.FromContext(ctx).Info("revoking the refresh token at sign-out failed", "err", err)
		}
		cancel()
	}
	target := SignedOutPath
	if party.GetEndSessionEndpoint() != "" {
		if u, err := rp.EndSession(r.Context(), party, idToken, strings.TrimSuffix(m.cfg.PublicURL, "/")+SignedOutPath, "", "", nil); err == nil && u != nil {
			target = u.String()
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// sameOrigin: the request came from a page of the bridge itself. Browsers
// say so in Sec-Fetch-Site, and send Origin on every POST (as "null" when
// a page's referrer policy hides it, which proves nothing).
func (m *Manager) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	origin := r.Header.Get("Origin")
	return origin != "" && strings.EqualFold(strings.TrimSuffix(origin, "/"), strings.TrimSuffix(m.cfg.PublicURL, "/"))
}

// returnTo keeps only targets on the bridge itself (a path) or, with a
// cookie domain, https URLs of hosts under it (the sessions' URLs); anything
// else returns to the dashboard, so the sign-in cannot be used to send
// people to another site.
func (m *Manager) returnTo(rd string) string {
	if rd == "" {
		return "/"
	}
	if strings.HasPrefix(rd, "/") && !strings.HasPrefix(rd, "//") && !strings.HasPrefix(rd, "/\\") {
		return rd
	}
	u, err := url.Parse(rd)
	if err != nil || u.User != nil {
		return "/"
	}
	if strings.EqualFold(u.Scheme+"://"+u.Host, strings.TrimSuffix(m.cfg.PublicURL, "/")) {
		return u.String()
	}
	domain := strings.ToLower(strings.TrimPrefix(m.cfg.CookieDomain, "."))
	host := strings.ToLower(u.Hostname())
	if domain != "" && (u.Scheme == "https" || (u.Scheme == "http" && !m.secure)) && (host == domain || strings.HasSuffix(host, "."+domain)) {
		return u.String()
	}
	return "/"
}

func clearCookie(w http.ResponseWriter, name, path, domain string, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, Domain: domain, MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

// SignedIn reports whether r carries a cookie of a sign-in this bridge
// knows (without refreshing it).
func (m *Manager) SignedIn(r *http.Request) bool {
	cookie, err := r.Cookie(SessionCookie)
	return err == nil && m.signIns.get(cookie.Value, m.now()) != nil
}
