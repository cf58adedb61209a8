package bridge

import (
	"errors"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/streamspace/controlplane/pkg/bridge/dashboard"
	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
	"github.com/streamspace/controlplane/pkg/bridge/sessionauth"
	"github.com/streamspace/controlplane/pkg/bridge/signin"
	"github.com/streamspace/controlplane/pkg/bridge/webhook"
	"github.com/streamspace/controlplane/pkg/metricsauth"
)

// route is one endpoint. Every endpoint of the bridge is in routes(): adding
// one (say the Git webhook) is one line there.
type route struct {
	pattern string // net/http pattern: "METHOD /path/{param}"
	handler http.HandlerFunc
	// public routes need no bearer token; all others get the caller's
	// clients in their context (see authenticated).
	public bool
	// feed routes hold a WebSocket open: they count against the user's
	// open feeds (and logs feeds against the log stream limits; terminals
	// count as feeds only).
	feed feedKind
	// unlimited routes skip the per-IP rate limit and the body cap: probes,
	// the Git webhook, whose handler bounds its own body, and the session
	// forward-auth endpoint, which every user's requests reach from the
	// ingress controller's few IPs (the per-user limit and its decision
	// cache bound it instead).
	unlimited bool
}

type feedKind int

const (
	notAFeed feedKind = iota
	watchFeed
	logsFeed
	execFeed
)

func (s *Server) routes() []route {
	return []route{
		{pattern: "GET /health", handler: s.health, public: true},
		{pattern: "GET /healthz", handler: s.healthz, public: true, unlimited: true},
		{pattern: "GET /version", handler: s.version, public: true},
		// Checked with the caller's token (get on the non-resource URL /metrics).
		{pattern: "GET /metrics", handler: metricsauth.Handler(s.cfg.Cluster, legacyregistry.Handler()).ServeHTTP, public: true},
		{pattern: "GET /{$}", handler: s.dashboardIndex, public: true},
		{pattern: "GET /token", handler: dashboard.Index, public: true},
		{pattern: "GET /dashboard/", handler: dashboard.Assets, public: true},
		// Sign-in with the OpenID provider (404 when the bridge has none).
		{pattern: "GET " + signin.LoginPath, handler: s.withSignIn(func(m *signin.Manager) http.HandlerFunc { return m.Login }), public: true},
		{pattern: "GET " + signin.CallbackPath, handler: s.withSignIn(func(m *signin.Manager) http.HandlerFunc { return m.Callback }), public: true},
		{pattern: "POST " + signin.LogoutPath, handler: s.withSignIn(func(m *signin.Manager) http.HandlerFunc { return m.Logout }), public: true},
		{pattern: "GET " + signin.SignedOutPath, handler: s.withSignIn(func(m *signin.Manager) http.HandlerFunc { return m.SignedOut }), public: true},
		{pattern: "GET /auth/me", handler: s.me},
		// Git hosts have no Kubernetes token: the delivery's signature is its
		// authentication (checked by the handler).
		{pattern: "POST " + webhook.Path, handler: s.repositoryWebhook, public: true, unlimited: true},

		// Forward-auth for session URLs, asked by the ingress controller
		// before each request to a session's desktop (pkg/bridge/sessionauth).
		// Envoy's ext_authz appends the original path to the configured one,
		// so anything after the session's name is accepted and ignored.
		{pattern: "GET " + sessionauth.PathPrefix + "/{namespace}/{name}", handler: s.sessionAuth.ServeHTTP, unlimited: true},
		{pattern: "GET " + sessionauth.PathPrefix + "/{namespace}/{name}/{path...}", handler: s.sessionAuth.ServeHTTP, unlimited: true},

		{pattern: "GET /api/v1/ws/sessions", handler: s.feeds.Sessions, feed: watchFeed},
		{pattern: "GET /api/v1/ws/cluster", handler: s.feeds.Cluster, feed: watchFeed},
		{pattern: "GET /api/v1/ws/logs/{namespace}/{pod}", handler: s.feeds.Logs, feed: logsFeed},
		{pattern: "GET /api/v1/ws/exec/{namespace}/{pod}", handler: s.feeds.Exec, feed: execFeed},

		{pattern: "GET /api/v1/sessions", handler: s.rest.ListSessions},
		{pattern: "POST /api/v1/sessions", handler: s.rest.CreateSession},
		{pattern: "GET /api/v1/sessions/{id}", handler: s.rest.GetSession},
		{pattern: "PATCH /api/v1/sessions/{id}", handler: s.rest.PatchSession},
		{pattern: "DELETE /api/v1/sessions/{id}", handler: s.rest.DeleteSession},
		{pattern: "GET /api/v1/sessions/{id}/connect", handler: s.rest.ConnectSession},
		{pattern: "DELETE /api/v1/sessions/{id}/disconnect", handler: s.rest.DisconnectSession},
		{pattern: "POST /api/v1/sessions/{id}/heartbeat", handler: s.rest.HeartbeatSession},
		{pattern: "GET /api/v1/sessions/{id}/connections", handler: s.rest.ListSessionConnections},

		{pattern: "GET /api/v1/quota", handler: s.rest.GetQuota},
		{pattern: "GET /api/v1/usage", handler: s.rest.GetUsage},

		{pattern: "GET /api/v1/apikeys", handler: s.rest.ListAPIKeys},
		{pattern: "POST /api/v1/apikeys", handler: s.rest.CreateAPIKey},
		{pattern: "DELETE /api/v1/apikeys/{id}", handler: s.rest.DeleteAPIKey},

		{pattern: "GET /api/v1/templates", handler: s.rest.ListTemplates},
		{pattern: "POST /api/v1/templates", handler: s.rest.CreateTemplate},
		{pattern: "GET /api/v1/templates/{id}", handler: s.rest.GetTemplate},
		{pattern: "DELETE /api/v1/templates/{id}", handler: s.rest.DeleteTemplate},

		{pattern: "GET /api/v1/catalog/templates", handler: s.rest.ListCatalogTemplates},

		{pattern: "GET /api/v1/audit", handler: s.rest.ListAuditEvents},
		{pattern: "POST /api/v1/catalog/templates/{id}/install", handler: s.rest.InstallCatalogTemplate},
		{pattern: "POST /api/v1/catalog/sync", handler: s.rest.SyncAllRepositories},

		// Repositories are served under /repositories and, beside the catalog
		// they feed, under /catalog/repositories: old clients call both.
		{pattern: "GET /api/v1/repositories", handler: s.rest.ListRepositories},
		{pattern: "POST /api/v1/repositories", handler: s.rest.AddRepository},
		{pattern: "POST /api/v1/repositories/{id}/sync", handler: s.rest.SyncRepository},
		{pattern: "DELETE /api/v1/repositories/{id}", handler: s.rest.DeleteRepository},
		{pattern: "GET /api/v1/catalog/repositories", handler: s.rest.ListRepositories},
		{pattern: "POST /api/v1/catalog/repositories", handler: s.rest.AddRepository},
		{pattern: "POST /api/v1/catalog/repositories/{id}/sync", handler: s.rest.SyncRepository},
		{pattern: "DELETE /api/v1/catalog/repositories/{id}", handler: s.rest.DeleteRepository},
	}
}

func (s *Server) newRouter() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		h := rt.handler
		if rt.feed != notAFeed {
			h = s.limitFeeds(h, rt.feed)
		}
		if !rt.public {
			h = s.authenticated(h)
		}
		var handler http.Handler = h
		if !rt.unlimited {
			handler = s.limitIP(httpjson.CapBody(handler))
		}
		mux.Handle(rt.pattern, instrument(rt.pattern, handler.ServeHTTP))
	}
	// Unknown paths and methods answer in the API's error shape.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Error(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// limitIP applies the per-client-IP request rate. The client is the TCP
// peer unless that is a trusted proxy (see TrustedProxies.ClientIP).
func (s *Server) limitIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.limiter.AllowIP(w, s.cfg.TrustedProxies.ClientIP(r)) {
			next.ServeHTTP(w, r)
		}
	})
}

// limitFeeds holds one of the user's feed slots (and for logs, log stream
// slots) while a WebSocket feed is open; over the limit the handshake is
// answered 429.
func (s *Server) limitFeeds(next http.HandlerFunc, kind feedKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !identity.IsWebSocketHandshake(r) {
			next(w, r) // answered 400 by the handler
			return
		}
		container := ""
		if kind == logsFeed {
			container = r.PathValue("namespace") + "/" + r.PathValue("pod") + "/" + r.URL.Query().Get("container")
		}
		slot, ok := s.limiter.AcquireFeed(w, identity.FromRequest(r).Username(), container)
		if !ok {
			return
		}
		defer slot.Release()
		next(w, r)
	}
}

// repositoryWebhook: POST /webhooks/repository/sync, when the bridge has a
// webhook secret (--webhook-secret-file).
func (s *Server) repositoryWebhook(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Webhook == nil {
		httpjson.Error(w, http.StatusNotFound, "the Git webhook is not enabled on this bridge (--webhook-secret-file)")
		return
	}
	s.cfg.Webhook.ServeHTTP(w, r)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]string{"status": "healthy", "timestamp": time.Now().UTC().Format(time.RFC3339)})
}

// healthz is for probes: the bridge is healthy while it serves; it holds no
// state and needs no dependency to answer.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.stopping:
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	}
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	v := map[string]string{
		"component": "streamspace-bridge", "version": "devel", "goVersion": runtime.Version(),
		"apiGroups": "stream.space/v1alpha1,catalog.stream.space/v1alpha1",
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" && info.Main.Version != "(devel)" {
			v["version"] = info.Main.Version
		}
		for _, setting := range info.Settings {
			switch setting.Key {
			case "vcs.revision":
				v["gitCommit"] = setting.Value
			case "vcs.time":
				v["buildDate"] = setting.Value
			}
		}
	}
	httpjson.Write(w, http.StatusOK, v)
}

// authenticated requires a bearer token that kube-apiserver accepts (or
// the cookie of a sign-in, whose ID token is used the same way), puts the
// caller's clients in the request context and limits the user's rate.
func (s *Server) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, err := identity.BearerToken(r, s.cfg.AllowTokenInQuery)
		if err != nil {
			httpjson.Error(w, http.StatusUnauthorized, err.Error())
			return
		}
		if token == "" && s.cfg.SignIn != nil {
			idToken, _, err := s.cfg.SignIn.Token(r)
			switch {
			case errors.Is(err, signin.ErrNoSignIn):
			case err != nil:
				httpjson.Error(w, http.StatusServiceUnavailable, err.Error())
				return
			default:
				// A page of another site can make a browser send the
				// cookie, but not this header (it would need a CORS
				// preflight, never granted). WebSocket handshakes are
				// checked against their Origin instead.
				if strings.HasPrefix(r.URL.Path, "/api/") && !identity.IsWebSocketHandshake(r) && r.Header.Get(signin.CSRFHeader) == "" {
					httpjson.Error(w, http.StatusForbidden, "requests signed in with the dashboard's cookie must carry the header "+signin.CSRFHeader)
					return
				}
				token = idToken
			}
		}
		if token == "" {
			httpjson.Error(w, http.StatusUnauthorized, "missing bearer token: send \"Authorization: Bearer <your Kubernetes token>\" (WebSocket from a browser: Sec-WebSocket-Protocol \""+identity.TokenSubprotocolPrefix+"<base64url token>\")")
			return
		}
		caller, err := s.clients.ForToken(r.Context(), token)
		if err != nil {
			httpjson.APIError(w, r, "authenticate the bearer token", err)
			return
		}
		if !s.limiter.AllowUser(w, caller.Username()) {
			return
		}
		next(w, r.WithContext(identity.NewContext(r.Context(), caller)))
	}
}

// withSignIn serves a sign-in endpoint, or 404 when the bridge signs
// nobody in.
func (s *Server) withSignIn(handler func(*signin.Manager) http.HandlerFunc) http.HandlerFunc {
	if s.cfg.SignIn == nil {
		return func(w http.ResponseWriter, r *http.Request) {
			httpjson.Error(w, http.StatusNotFound, "sign-in is not enabled on this bridge (--oidc-issuer-url); send a bearer token")
		}
	}
	return handler(s.cfg.SignIn)
}

// dashboardIndex serves the dashboard, first sending a browser that is not
// signed in to the provider when the bridge signs people in. /token serves
// the same page for a bearer token instead.
func (s *Server) dashboardIndex(w http.ResponseWriter, r *http.Request) {
	if s.cfg.SignIn != nil && r.Header.Get("Authorization") == "" && !s.cfg.SignIn.SignedIn(r) {
		http.Redirect(w, r, signin.LoginPath, http.StatusFound)
		return
	}
	dashboard.Index(w, r)
}

// whoAmI is the answer of GET /auth/me.
type whoAmI struct {
	Username  string   `json:"username"`
	Groups    []string `json:"groups,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name,omitempty"`
	Email     string   `json:"email,omitempty"`
	// SignedIn: the request was authenticated by a sign-in cookie (the
	// dashboard shows "Sign out" rather than "Forget token").
	SignedIn bool `json:"signedIn"`
}

// me says who the caller is, as kube-apiserver sees them (GET /auth/me).
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	caller := identity.FromRequest(r)
	answer := whoAmI{Username: caller.Username(), Groups: caller.Groups()}
	if ns, _, err := identity.Namespace(r, caller); err == nil {
		answer.Namespace = ns
	}
	if s.cfg.SignIn != nil && r.Header.Get("Authorization") == "" {
		if _, person, err := s.cfg.SignIn.Token(r); err == nil {
			answer.SignedIn, answer.Name, answer.Email = true, person.Name, person.Email
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, http.StatusOK, answer)
}
