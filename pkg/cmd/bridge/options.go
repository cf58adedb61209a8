// Package bridge turns flags into a running streamspace-bridge, in the
// Options → Complete → Validate → Run shape of the Kubernetes servers.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/bridge"
	"github.com/streamspace/controlplane/pkg/bridge/feed"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
	"github.com/streamspace/controlplane/pkg/bridge/limits"
	"github.com/streamspace/controlplane/pkg/bridge/shares"
	"github.com/streamspace/controlplane/pkg/bridge/signin"
	"github.com/streamspace/controlplane/pkg/bridge/webhook"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// Options are the flags of streamspace-bridge.
type Options struct {
	// Kubeconfig names the cluster (server URL and CA). Any credentials in it
	// are dropped: the bridge only ever calls the API with the caller's token.
	// Empty means in-cluster (the service account's CA, never its token).
	Kubeconfig string
	// Listen is the address of the HTTP(S) server.
	Listen string
	// TLSCertFile and TLSPrivateKeyFile serve HTTPS; both or neither.
	TLSCertFile       string
	TLSPrivateKeyFile string
	// Feed holds the WebSocket feeds' flags: allowed origins (empty means
	// the request's own host only), intervals and per-client buffers.
	Feed feed.Config
	// AllowTokenInQuery accepts ?access_token= on WebSocket handshakes.
	AllowTokenInQuery bool
	ShutdownTimeout   time.Duration
	// RequestTimeout bounds reading a REST request and writing its answer.
	RequestTimeout time.Duration
	// Limits per client IP and per user (429 with Retry-After).
	Limits limits.Limits
	// TokenCacheTTL and MaxCachedTokens bound the cache of accepted tokens.
	TokenCacheTTL   time.Duration
	MaxCachedTokens int
	// APIQPS and APIBurst limit each user's client (one per token).
	APIQPS   float32
	APIBurst int

	// Webhook holds --webhook-secret-file: the Git webhook is served only
	// with a secret.
	Webhook webhook.Options
	// WebhookKubeconfig is the bridge's own service identity, used by the
	// Git webhook only (list and patch templaterepositories). Empty means
	// in-cluster: the pod's service account token. It is kept apart from
	// the per-caller clients, so no user request ever runs with it.
	WebhookKubeconfig string
	// SharesKubeconfig is the bridge's own identity for finding the
	// SessionShares that name a caller (list and watch sessionshares). Empty
	// means in-cluster, the pod's service account token; outside a cluster
	// without it, people see their own sessions only. Like the webhook's,
	// its client never serves a request (package shares).
	SharesKubeconfig string
	// TrustedProxyCIDRs may set X-Forwarded-For; empty trusts no one.
	TrustedProxyCIDRs []string
	// SignIn holds the OpenID sign-in flags of the dashboard.
	SignIn signin.Options
	// UsernamePrefixes are stripped from user names to find a person's own
	// namespace.
	UsernamePrefixes []string
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		Listen:          ":8080",
		Feed:            feed.Defaults(),
		ShutdownTimeout: 15 * time.Second,
		RequestTimeout:  time.Minute,
		Limits:          limits.Default(),
		TokenCacheTTL:   5 * time.Minute,
		MaxCachedTokens: 10000,
		APIQPS:          50,
		APIBurst:        100,
		SignIn:          signin.NewOptions(),
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig naming the kube-apiserver (server URL and CA); credentials in it are ignored, every call uses the caller's token. Empty: in-cluster.")
	fs.StringVar(&o.Listen, "listen", o.Listen, "Address to serve HTTP (or HTTPS with --tls-cert-file) on.")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", o.TLSCertFile, "Serving certificate (PEM); with --tls-private-key-file the bridge serves HTTPS.")
	fs.StringVar(&o.TLSPrivateKeyFile, "tls-private-key-file", o.TLSPrivateKeyFile, "Private key of --tls-cert-file (PEM).")
	fs.StringSliceVar(&o.Feed.AllowedOrigins, "allowed-origins", o.Feed.AllowedOrigins, "Origins (scheme://host[:port]) allowed to open WebSocket feeds. Empty: only pages served from the bridge's own host.")
	fs.BoolVar(&o.AllowTokenInQuery, "allow-token-in-query", o.AllowTokenInQuery, "Accept the bearer token as ?access_token= on WebSocket handshakes (it can end up in proxy logs; prefer the Sec-WebSocket-Protocol form).")
	fs.DurationVar(&o.Feed.SnapshotInterval, "snapshot-interval", o.Feed.SnapshotInterval, "Changes are coalesced into at most one sessions_update snapshot per interval.")
	fs.DurationVar(&o.Feed.MetricsInterval, "metrics-interval", o.Feed.MetricsInterval, "metrics_update is sent on change and at least this often.")
	fs.IntVar(&o.Feed.ClientBuffer, "client-buffer", o.Feed.ClientBuffer, "Messages queued per WebSocket client; a client that falls this far behind is disconnected.")
	fs.IntVar(&o.Feed.ClientBufferBytes, "client-buffer-bytes", o.Feed.ClientBufferBytes, "Bytes queued per WebSocket client; a client that falls this far behind is disconnected (1013).")
	fs.DurationVar(&o.Feed.PingInterval, "ping-interval", o.Feed.PingInterval, "WebSocket ping interval; a client that does not answer within two intervals is disconnected.")
	fs.DurationVar(&o.Feed.WriteTimeout, "write-timeout", o.Feed.WriteTimeout, "Time allowed to write one message to a client.")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", o.ShutdownTimeout, "On SIGTERM, how long requests in flight get to finish; feeds are closed with 1001 (going away) at once.")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", o.RequestTimeout, "Time allowed to read a REST request and write its answer (WebSocket feeds have per-message deadlines instead).")
	fs.Float64Var(&o.Limits.RequestsPerIP, "ip-request-rate", o.Limits.RequestsPerIP, "Requests per second per client IP (token bucket); over it: 429 with Retry-After. 0: no limit.")
	fs.IntVar(&o.Limits.BurstPerIP, "ip-request-burst", o.Limits.BurstPerIP, "Burst of requests per client IP.")
	fs.Float64Var(&o.Limits.RequestsPerUser, "user-request-rate", o.Limits.RequestsPerUser, "Requests per second per user (token bucket, after the token is accepted); over it: 429 with Retry-After. 0: no limit.")
	fs.IntVar(&o.Limits.BurstPerUser, "user-request-burst", o.Limits.BurstPerUser, "Burst of requests per user.")
	fs.IntVar(&o.Limits.FeedsPerUser, "max-feeds-per-user", o.Limits.FeedsPerUser, "WebSocket feeds one user may have open at once (logs feeds included); over it: 429. 0: no limit.")
	fs.IntVar(&o.Limits.LogStreamsPerUser, "max-log-streams-per-user", o.Limits.LogStreamsPerUser, "Logs feeds one user may have open at once; each holds a log stream of the API. 0: no limit.")
	fs.IntVar(&o.Limits.LogStreamsPerContainer, "max-log-streams-per-container", o.Limits.LogStreamsPerContainer, "Logs feeds open at once on one pod's container, whoever opens them. 0: no limit.")
	fs.IntVar(&o.Limits.MaxTrackedClients, "max-rate-limited-clients", o.Limits.MaxTrackedClients, "Client IPs and users whose request rate is tracked at once (least recently seen forgotten first).")
	fs.DurationVar(&o.TokenCacheTTL, "token-cache-ttl", o.TokenCacheTTL, "How long a token kube-apiserver accepted is remembered (never past a JWT's exp); then it is reviewed again.")
	fs.IntVar(&o.MaxCachedTokens, "max-cached-tokens", o.MaxCachedTokens, "Accepted tokens whose clients are kept (least recently used dropped first).")
	fs.Float32Var(&o.APIQPS, "api-qps", o.APIQPS, "Queries per second to the API per user token.")
	fs.IntVar(&o.APIBurst, "api-burst", o.APIBurst, "Burst of queries to the API per user token.")
	fs.StringSliceVar(&o.TrustedProxyCIDRs, "trusted-proxy-cidrs", o.TrustedProxyCIDRs, "CIDRs of the proxies (ingress, load balancer) whose X-Forwarded-For is believed; from any other peer the header is ignored. Empty: the TCP peer is always the client.")
	o.Webhook.AddFlags(fs)
	o.SignIn.AddFlags(fs)
	fs.StringSliceVar(&o.UsernamePrefixes, "username-prefixes", o.UsernamePrefixes, "Prefixes kube-apiserver puts before people's user names (its OIDC username prefix, e.g. oidc:); a person's own namespace is their name without it.")
	fs.StringVar(&o.WebhookKubeconfig, "webhook-kubeconfig", o.WebhookKubeconfig, "Kubeconfig with the bridge's own identity, used only by the Git webhook to request repository syncs (RBAC: list and patch templaterepositories). Empty: the in-cluster service account. Needs --webhook-secret-file.")
	fs.StringVar(&o.SharesKubeconfig, "shares-kubeconfig", o.SharesKubeconfig, "Kubeconfig with the bridge's own identity, used only to find the SessionShares that name a caller, so their session list and feed include the sessions shared with them (RBAC: list and watch sessionshares, ClusterRole streamspace-share-finder); the shares and sessions shown are read with the caller's token. Empty: the in-cluster service account; outside a cluster, shared sessions are not shown.")
}

// Validate checks the flags; each error names the flag and the reason.
func (o *Options) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: want host:port: %w", o.Listen, err))
	}
	if (o.TLSCertFile == "") != (o.TLSPrivateKeyFile == "") {
		errs = append(errs, errors.New("--tls-cert-file and --tls-private-key-file must be given together"))
	}
	for _, origin := range o.Feed.AllowedOrigins {
		if err := validateOrigin(origin); err != nil {
			errs = append(errs, fmt.Errorf("--allowed-origins %q: %w", origin, err))
		}
	}
	positive := []struct {
		flag  string
		value time.Duration
	}{
		{"--snapshot-interval", o.Feed.SnapshotInterval}, {"--metrics-interval", o.Feed.MetricsInterval},
		{"--ping-interval", o.Feed.PingInterval}, {"--write-timeout", o.Feed.WriteTimeout}, {"--shutdown-timeout", o.ShutdownTimeout},
		{"--request-timeout", o.RequestTimeout}, {"--token-cache-ttl", o.TokenCacheTTL},
	}
	for _, p := range positive {
		if p.value <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", p.flag, p.value))
		}
	}
	if o.Feed.MetricsInterval > 5*time.Second {
		errs = append(errs, fmt.Errorf("--metrics-interval must be at most 5s (the web UI expects an update that often), got %s", o.Feed.MetricsInterval))
	}
	if o.Feed.ClientBuffer < 2 {
		errs = append(errs, fmt.Errorf("--client-buffer must be at least 2, got %d", o.Feed.ClientBuffer))
	}
	if o.Feed.ClientBufferBytes < 64<<10 {
		errs = append(errs, fmt.Errorf("--client-buffer-bytes must be at least 64Ki (one message can be that large), got %d", o.Feed.ClientBufferBytes))
	}
	notNegative := []struct {
		flag  string
		value float64
	}{
		{"--ip-request-rate", o.Limits.RequestsPerIP}, {"--user-request-rate", o.Limits.RequestsPerUser},
		{"--max-feeds-per-user", float64(o.Limits.FeedsPerUser)}, {"--max-log-streams-per-user", float64(o.Limits.LogStreamsPerUser)},
		{"--max-log-streams-per-container", float64(o.Limits.LogStreamsPerContainer)},
	}
	for _, n := range notNegative {
		if n.value < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative (0 means no limit), got %v", n.flag, n.value))
		}
	}
	if o.Limits.RequestsPerIP > 0 && o.Limits.BurstPerIP < 1 {
		errs = append(errs, fmt.Errorf("--ip-request-burst must be at least 1, got %d", o.Limits.BurstPerIP))
	}
	if o.Limits.RequestsPerUser > 0 && o.Limits.BurstPerUser < 1 {
		errs = append(errs, fmt.Errorf("--user-request-burst must be at least 1, got %d", o.Limits.BurstPerUser))
	}
	if o.Limits.MaxTrackedClients < 1 || o.MaxCachedTokens < 1 {
		errs = append(errs, fmt.Errorf("--max-rate-limited-clients and --max-cached-tokens must be at least 1, got %d and %d", o.Limits.MaxTrackedClients, o.MaxCachedTokens))
	}
	if o.APIQPS <= 0 || o.APIBurst <= 0 {
		errs = append(errs, fmt.Errorf("--api-qps and --api-burst must be positive, got %v and %d", o.APIQPS, o.APIBurst))
	}
	if _, err := identity.ParseTrustedProxies(o.TrustedProxyCIDRs); err != nil {
		errs = append(errs, fmt.Errorf("--trusted-proxy-cidrs: %w", err))
	}
	errs = append(errs, o.Webhook.Validate()...)
	errs = append(errs, o.SignIn.Validate()...)
	if o.WebhookKubeconfig != "" && o.Webhook.SecretFile == "" {
		errs = append(errs, errors.New("--webhook-kubeconfig needs --webhook-secret-file (the webhook is off without a secret)"))
	}
	return utilerrors.NewAggregate(errs)
}

func validateOrigin(origin string) error {
	u, err := url.Parse(origin)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("scheme must be http or https")
	}
	if u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return errors.New("want scheme://host[:port] and nothing else")
	}
	return nil
}

// ClusterConfig is the kube-apiserver location without any credentials.
func (o *Options) ClusterConfig() (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if o.Kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("load the cluster location: %w", err)
	}
	return identity.AnonymousConfig(cfg), nil
}

// Config turns the options into the bridge's configuration.
func (o *Options) Config() (bridge.Config, error) {
	cluster, err := o.ClusterConfig()
	if err != nil {
		return bridge.Config{}, err
	}
	cluster.QPS, cluster.Burst = o.APIQPS, o.APIBurst
	feedConfig := o.Feed
	feedConfig.AllowedOrigins = make([]string, len(o.Feed.AllowedOrigins))
	for i, origin := range o.Feed.AllowedOrigins {
		feedConfig.AllowedOrigins[i] = strings.ToLower(strings.TrimSuffix(origin, "/"))
	}
	webhookHandler, err := o.webhookHandler()
	if err != nil {
		return bridge.Config{}, err
	}
	proxies, err := identity.ParseTrustedProxies(o.TrustedProxyCIDRs)
	if err != nil {
		return bridge.Config{}, fmt.Errorf("--trusted-proxy-cidrs: %w", err)
	}
	signIn, err := o.SignIn.Manager()
	if err != nil {
		return bridge.Config{}, err
	}
	sharedSessions, err := o.sharesIndex()
	if err != nil {
		return bridge.Config{}, err
	}
	return bridge.Config{
		SharedSessions:    sharedSessions,
		SignIn:            signIn,
		UsernamePrefixes:  o.UsernamePrefixes,
		Webhook:           webhookHandler,
		Cluster:           cluster,
		Feed:              feedConfig,
		AllowTokenInQuery: o.AllowTokenInQuery,
		TrustedProxies:    proxies,
		Limits:            o.Limits,
		TokenCacheTTL:     o.TokenCacheTTL,
		MaxCachedTokens:   o.MaxCachedTokens,
	}, nil
}

// webhookHandler builds the Git webhook with the bridge's own identity, or
// returns nil when no secret is configured.
func (o *Options) webhookHandler() (http.Handler, error) {
	if o.Webhook.SecretFile == "" {
		return nil, nil
	}
	secret, err := o.Webhook.Secret()
	if err != nil {
		return nil, err
	}
	var cfg *rest.Config
	if o.WebhookKubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.WebhookKubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("load the webhook's service identity (--webhook-kubeconfig): %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "streamspace-bridge-webhook"
	client, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create the webhook's client: %w", err)
	}
	handler, err := webhook.New(secret, &webhook.AnnotationTrigger{Client: client})
	if err != nil {
		return nil, err
	}
	return handler, nil
}

// sharesIndex builds the index of SessionShares with the bridge's own
// identity, or returns nil outside a cluster without --shares-kubeconfig.
func (o *Options) sharesIndex() (*shares.Index, error) {
	var cfg *rest.Config
	var err error
	if o.SharesKubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.SharesKubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("load the identity that finds shared sessions (--shares-kubeconfig): %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "streamspace-bridge-shares"
	client, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create the client that finds shared sessions: %w", err)
	}
	return shares.NewIndex(client)
}

// Run serves until ctx ends, then shuts down gracefully.
func (o *Options) Run(ctx context.Context) error {
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	server, err := bridge.New(cfg)
	if err != nil {
		return err
	}
	klog.FromContext(ctx).Info("starting streamspace-bridge", "listen", o.Listen, "tls", o.TLSCertFile != "", "kubeAPIServer", cfg.Cluster.Host, "allowedOrigins", o.Feed.AllowedOrigins, "webhook", cfg.Webhook != nil, "signIn", o.SignIn.IssuerURL, "sharedSessions", cfg.SharedSessions != nil)
	return server.ListenAndServe(ctx, bridge.ServeOptions{
		Address: o.Listen, TLSCertFile: o.TLSCertFile, TLSPrivateKeyFile: o.TLSPrivateKeyFile, ShutdownTimeout: o.ShutdownTimeout,
		RequestTimeout: o.RequestTimeout,
	})
}

// NewCommand returns the streamspace-bridge command.
func NewCommand(ctx context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "streamspace-bridge",
		Short: "WebSocket feeds and the old REST API of StreamSpace, as the calling user",
		Long: `streamspace-bridge is the HTTP edge of StreamSpace for the web UI: WebSocket
feeds driven by watches (/api/v1/ws/...), the old REST paths (/api/v1/...) and a
small dashboard (/). Every request carries the user's Kubernetes bearer token,
and the bridge calls kube-apiserver with that token: each user sees exactly what
RBAC lets them see. The bridge's own service identity does two things outside
requests. The Git webhook (POST /webhooks/repository/sync, with
--webhook-secret-file): a Git host has no Kubernetes identity, so a verified
push requests the sync with it (--webhook-kubeconfig, else the pod's service
account), which RBAC allows only to list and patch templaterepositories. And
the index of SessionShares (--shares-kubeconfig, same default; list and watch
sessionshares only), which tells the bridge where to look for the sessions
shared with a caller; those shares and sessions are then read with the
caller's token.`,
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	cmd.SetContext(ctx)
	o.AddFlags(cmd.Flags())
	return cmd
}
