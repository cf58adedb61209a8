// Package bridge is the HTTP edge of StreamSpace for the web UI: WebSocket
// feeds driven by watches, the old REST API under /api/v1/, and a small
// dashboard. Every call it makes for a request carries the caller's bearer
// token, so RBAC decides what each user sees, and watches are shared only
// between connections holding the same token. Its own identity serves two
// jobs outside requests, each with a client of its own: the Git webhook and
// the index of SessionShares (Config.Webhook, Config.SharedSessions).
package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	restclient "k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/bridge/feed"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
	"github.com/streamspace/controlplane/pkg/bridge/limits"
	"github.com/streamspace/controlplane/pkg/bridge/rest"
	"github.com/streamspace/controlplane/pkg/bridge/sessionauth"
	"github.com/streamspace/controlplane/pkg/bridge/shares"
	"github.com/streamspace/controlplane/pkg/bridge/signin"
)

// Config is what the bridge needs to run; pkg/cmd/bridge fills it from flags.
type Config struct {
	// Cluster locates kube-apiserver (host, CA, QPS); it must hold no
	// credentials (see AnonymousConfig).
	Cluster *restclient.Config
	// Feed configures the WebSocket feeds: allowed origins, intervals and
	// per-client buffers.
	Feed feed.Config
	// AllowTokenInQuery accepts ?access_token= on WebSocket handshakes.
	AllowTokenInQuery bool
	// Limits bound request rates and open feeds per client IP and user.
	Limits limits.Limits
	// TokenCacheTTL is how long an accepted token that carries no expiry
	// is trusted before kube-apiserver is asked again; MaxCachedTokens
	// bounds how many are kept.
	TokenCacheTTL   time.Duration
	MaxCachedTokens int
	// Webhook serves POST /webhooks/repository/sync (pkg/bridge/webhook);
	// nil answers 404. It is the one handler that acts with a service
	// identity of its own (its client is built in pkg/cmd/bridge and never
	// reaches this package's per-caller clients).
	Webhook http.Handler
	// TrustedProxies may set X-Forwarded-For (the ingress); empty means
	// the TCP peer is the client.
	TrustedProxies identity.TrustedProxies
	// SignIn signs people in with their OpenID provider (the dashboard's
	// cookie sessions); nil: only bearer tokens.
	SignIn *signin.Manager
	// UsernamePrefixes are stripped from a user name to find the person's
	// own namespace (kube-apiserver's OIDC username prefix, "oidc:").
	UsernamePrefixes []string
	// SharedSessions finds the SessionShares that name a caller, with the
	// bridge's own identity (list and watch sessionshares, nothing else;
	// built in pkg/cmd/bridge). It only says where to look: the shares and
	// sessions shown are read with the caller's token (package shares).
	// nil: people see their own sessions only. Serve runs it.
	SharedSessions *shares.Index
}

func (c *Config) setDefaults() {
	if c.Limits == (limits.Limits{}) {
		c.Limits = limits.Default()
	}
}

// Server is the bridge. Create it with New.
type Server struct {
	cfg     Config
	clients *identity.Cache
	limiter *limits.Limiter
	feeds   *feed.Server
	rest    *rest.API
	// sessionAuth answers forward-auth for session URLs.
	sessionAuth *sessionauth.Handler
	handler     http.Handler

	// stopping is closed when shutdown begins: /healthz answers 503.
	stopping     chan struct{}
	stoppingOnce sync.Once
}

// New builds a bridge.
func New(cfg Config) (*Server, error) {
	if cfg.Cluster == nil || cfg.Cluster.Host == "" {
		return nil, errors.New("bridge: Config.Cluster with the kube-apiserver host is required")
	}
	if identity.HasCredentials(cfg.Cluster) {
		return nil, errors.New("bridge: Config.Cluster must not carry credentials; the bridge acts only with the caller's token")
	}
	cfg.setDefaults()
	registerMetrics()
	clients, err := identity.NewCache(cfg.Cluster, cfg.TokenCacheTTL, cfg.MaxCachedTokens)
	if err != nil {
		return nil, err
	}
	clients.SetUsernamePrefixes(cfg.UsernamePrefixes)
	s := &Server{
		cfg:      cfg,
		clients:  clients,
		limiter:  limits.New(cfg.Limits),
		stopping: make(chan struct{}),
	}
	s.rest = rest.New(cfg.TrustedProxies, cfg.SharedSessions)
	s.feeds = feed.New(cfg.Feed, cfg.SharedSessions)
	s.sessionAuth = sessionauth.New()
	s.handler = s.newRouter()
	return s, nil
}

// Handler serves every path of the bridge.
func (s *Server) Handler() http.Handler { return s.handler }

// ServeOptions say where and how to listen.
type ServeOptions struct {
	Address           string
	TLSCertFile       string
	TLSPrivateKeyFile string
	ShutdownTimeout   time.Duration
	// RequestTimeout bounds reading a whole request and writing its answer
	// on the REST API (http.Server's ReadTimeout and WriteTimeout).
	// WebSocket feeds are not bound by it: once upgraded, a feed has a
	// write deadline per message and a read deadline renewed by pongs.
	RequestTimeout time.Duration
}

// Timeouts of every connection; RequestTimeout is ServeOptions'.
const (
	readHeaderTimeout     = 10 * time.Second
	idleTimeout           = 2 * time.Minute
	defaultRequestTimeout = time.Minute
)

// ListenAndServe serves until ctx ends, then shuts down: WebSocket feeds are
// closed with 1001 (going away) so clients reconnect elsewhere, and plain
// requests get ShutdownTimeout to finish.
func (s *Server) ListenAndServe(ctx context.Context, opts ServeOptions) error {
	listener, err := net.Listen("tcp", opts.Address)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", opts.Address, err)
	}
	return s.Serve(ctx, listener, opts)
}

// Serve is ListenAndServe on a listener of the caller's.
func (s *Server) Serve(ctx context.Context, listener net.Listener, opts ServeOptions) error {
	requestTimeout := opts.RequestTimeout
	if requestTimeout <= 0 {
		requestTimeout = defaultRequestTimeout
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       requestTimeout,
		WriteTimeout:      requestTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	logger := klog.LoggerWithName(klog.FromContext(ctx), "bridge")
	if s.cfg.SharedSessions != nil {
		go s.cfg.SharedSessions.Run(klog.NewContext(ctx, logger))
	}
	served := make(chan error, 1)
	go func() {
		logger.Info("serving", "address", listener.Addr().String(), "tls", opts.TLSCertFile != "")
		if opts.TLSCertFile != "" {
			served <- srv.ServeTLS(listener, opts.TLSCertFile, opts.TLSPrivateKeyFile)
		} else {
			served <- srv.Serve(listener)
		}
	}()
	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", listener.Addr(), err)
	case <-ctx.Done():
	}
	timeout := opts.ShutdownTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	logger.Info("shutting down", "timeout", timeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s.beginShutdown()
	err := srv.Shutdown(shutdownCtx) // hijacked WebSocket connections are not waited for here…
	feedsDone := make(chan struct{})
	go func() { s.feeds.Wait(); close(feedsDone) }() // …but here
	select {
	case <-feedsDone:
	case <-shutdownCtx.Done():
		logger.Info("feeds still open at the end of the shutdown timeout")
	}
	s.feeds.StopWatches()
	logger.Info("stopped")
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

func (s *Server) beginShutdown() {
	s.stoppingOnce.Do(func() { close(s.stopping) })
	s.feeds.Shutdown()
}
