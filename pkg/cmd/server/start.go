// Package server turns flags into a running StreamSpace API server, in the
// Options → Complete → Validate → Run shape of the Kubernetes servers.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	basecompatibility "k8s.io/component-base/compatibility"
	baseversion "k8s.io/component-base/version"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	netutils "k8s.io/utils/net"

	admissioninitializer "github.com/streamspace/controlplane/pkg/admission/initializer"
	"github.com/streamspace/controlplane/pkg/admission/plugin/catalogsource"
	"github.com/streamspace/controlplane/pkg/admission/plugin/owner"
	"github.com/streamspace/controlplane/pkg/admission/plugin/platformdefaults"
	"github.com/streamspace/controlplane/pkg/admission/plugin/repositorycredentials"
	"github.com/streamspace/controlplane/pkg/admission/plugin/resourcequota"
	"github.com/streamspace/controlplane/pkg/admission/plugin/sessionquota"
	"github.com/streamspace/controlplane/pkg/apiserver"
	"github.com/streamspace/controlplane/pkg/apiserver/anyname"
	"github.com/streamspace/controlplane/pkg/apiserver/cabundles"
	"github.com/streamspace/controlplane/pkg/apiserver/frontproxy"
	"github.com/streamspace/controlplane/pkg/apiserver/growstack"
	"github.com/streamspace/controlplane/pkg/apiserver/users"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	"github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
	generatedopenapi "github.com/streamspace/controlplane/pkg/generated/openapi"
)

// Options are the flags of streamspace-apiserver.
type Options struct {
	RecommendedOptions *genericoptions.RecommendedOptions
	Postgres           *PostgresOptions
	// AuditLog writes the audit trail to Postgres.
	AuditLog *AuditLogOptions
	// ShutdownWatchTerminationGracePeriod ends open watches when the server
	// shuts down, so that a restart or rollout does not wait for the
	// aggregator's long-lived watches to time out (60 s); clients re-watch
	// from their last resourceVersion on another replica.
	ShutdownWatchTerminationGracePeriod time.Duration
	// StorageInitializationTimeout is how long the server reports not ready
	// (and not live: post-start hooks count for both) while its watch caches
	// fill, as kube-apiserver's flag of that name.
	StorageInitializationTimeout time.Duration
	// AdminGroup is the group whose members are recorded with the admin role.
	AdminGroup string
	// TokenWebhookAllowedNames may call the API key token webhook.
	TokenWebhookAllowedNames []string
	// StaleConnectionTimeout: a Connection without a heartbeat for this
	// long is removed, unless the PlatformConfiguration sets another.
	StaleConnectionTimeout time.Duration
	// HeartbeatPersistInterval is the resolution of a Connection's
	// status.lastHeartbeat in the object; heartbeats in between are
	// recorded in its lease only.
	HeartbeatPersistInterval time.Duration

	// admissionInformers read our own API through the loopback client, for
	// admission plugins (pkg/admission/initializer); started after the
	// server is up.
	admissionInformers externalversions.SharedInformerFactory
	// admissionStorage is the storage admission plugins read in process,
	// filled in when the server builds it.
	admissionStorage *admissioninitializer.Storage
}

// defaultHTTP2MaxStreamsPerConnection is how many concurrent HTTP/2 streams
// the server allows a client connection (--http2-max-streams-per-connection).
// x/net's HTTP/2 server schedules frames round-robin over every open stream
// of a connection and scans them all each time it looks for the next frame
// to write. kube-apiserver's aggregator carries every proxied request and
// watch to this server over pooled connections and opens another only when
// the server's limit is reached, so the limit is how many streams each scan
// covers: every bridge feed and informer of these resources holds one. At
// the library's 100 the scan was 4.6 % of the server's CPU with 9,000
// viewers beating and about 250 watches open; at 25 it is 0.3 %, for about
// ten connections from the aggregator instead of three
// (docs/heartbeats.md, round 32).
const defaultHTTP2MaxStreamsPerConnection = 25

// NewOptions returns the defaults: the recommended options of an aggregated
// API server (delegated authentication and authorization, secure serving,
// audit, admission, feature gates) without etcd, plus Postgres storage.
func NewOptions() *Options {
	o := &Options{
		RecommendedOptions: genericoptions.NewRecommendedOptions("", nil),
		Postgres:           NewPostgresOptions(),
		AuditLog:           NewAuditLogOptions(),

		ShutdownWatchTerminationGracePeriod: 5 * time.Second,
		StorageInitializationTimeout:        time.Minute,
		AdminGroup:                          users.DefaultAdminGroup,
		StaleConnectionTimeout:              60 * time.Second,
		HeartbeatPersistInterval:            5 * time.Minute,
	}
	o.RecommendedOptions.Etcd = nil
	o.RecommendedOptions.SecureServing.HTTP2MaxStreamsPerConnection = defaultHTTP2MaxStreamsPerConnection
	owner.Register(o.RecommendedOptions.Admission.Plugins)
	o.RecommendedOptions.Admission.RecommendedPluginOrder = append(o.RecommendedOptions.Admission.RecommendedPluginOrder, owner.PluginName)

	// A TemplateRepository may name only a Secret its author may get.
	repositorycredentials.Register(o.RecommendedOptions.Admission.Plugins)
	o.RecommendedOptions.Admission.RecommendedPluginOrder = append(o.RecommendedOptions.Admission.RecommendedPluginOrder, repositorycredentials.PluginName)

	// ResourceQuota (count/sessions.stream.space, ...) on our resources.
	resourcequota.Register(o.RecommendedOptions.Admission.Plugins)
	o.RecommendedOptions.Admission.RecommendedPluginOrder = append(o.RecommendedOptions.Admission.RecommendedPluginOrder, resourcequota.PluginName)

	// Installing catalog templates: a plugin reading CatalogTemplates through the loopback client.
	catalogsource.Register(o.RecommendedOptions.Admission.Plugins)
	o.RecommendedOptions.Admission.RecommendedPluginOrder = append(o.RecommendedOptions.Admission.RecommendedPluginOrder, catalogsource.PluginName)
	// New sessions' idle timeout from the platform configuration.
	platformdefaults.Register(o.RecommendedOptions.Admission.Plugins)
	o.RecommendedOptions.Admission.RecommendedPluginOrder = append(o.RecommendedOptions.Admission.RecommendedPluginOrder, platformdefaults.PluginName)

	// SessionQuotas: charged in their status through the loopback client.
	sessionquota.Register(o.RecommendedOptions.Admission.Plugins)
	o.RecommendedOptions.Admission.RecommendedPluginOrder = append(o.RecommendedOptions.Admission.RecommendedPluginOrder, sessionquota.PluginName)
	o.RecommendedOptions.ExtraAdmissionInitializers = func(c *genericapiserver.RecommendedConfig) ([]admission.PluginInitializer, error) {
		// Uncompressed, as kube-apiserver's loopback client: the process
		// talks to itself, and gzip would cost both ends CPU for nothing
		// (every Session change reaches the admission informers' watch).
		loopback := rest.CopyConfig(c.LoopbackClientConfig)
		loopback.DisableCompression = true
		client, err := versioned.NewForConfig(loopback)
		if err != nil {
			return nil, fmt.Errorf("loopback client for admission: %w", err)
		}
		o.admissionInformers = externalversions.NewSharedInformerFactory(client, 0)
		o.admissionStorage = admissioninitializer.NewStorage()
		// The client plugins write through: session quota charges are a Get
		// and an UpdateStatus per quota per session change, retried on
		// conflict, so it is not throttled on the client side (the server's
		// own priority and fairness still applies).
		writeConfig := rest.CopyConfig(loopback)
		writeConfig.QPS, writeConfig.Burst = -1, 0
		writeClient, err := versioned.NewForConfig(writeConfig)
		if err != nil {
			return nil, fmt.Errorf("loopback client for admission writes: %w", err)
		}
		return []admission.PluginInitializer{
			admissioninitializer.New(writeClient, o.admissionInformers, o.admissionStorage),
			resourcequota.NewInitializer(),
		}, nil
	}
	return o
}

// NewCommand returns the streamspace-apiserver command.
func NewCommand(ctx context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "streamspace-apiserver",
		Short: "Serve the StreamSpace API (stream.space, catalog.stream.space) on PostgreSQL",
		Long: `streamspace-apiserver is a Kubernetes aggregated API server. kube-apiserver
forwards requests for the stream.space and catalog.stream.space groups to it
(APIService); it authenticates and authorizes them through kube-apiserver
(TokenReview, SubjectAccessReview) and keeps every object in PostgreSQL.`,
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	cmd.SetContext(ctx)
	fs := cmd.Flags()
	o.RecommendedOptions.AddFlags(fs)
	o.Postgres.AddFlags(fs)
	o.AuditLog.AddFlags(fs)
	fs.DurationVar(&o.ShutdownWatchTerminationGracePeriod, "shutdown-watch-termination-grace-period", o.ShutdownWatchTerminationGracePeriod,
		"On shutdown, how long open watches are given to end (they are told to end at once); 0 leaves them to the request timeout.")
	fs.DurationVar(&o.StorageInitializationTimeout, "storage-initialization-timeout", o.StorageInitializationTimeout,
		"How long /readyz and /livez fail after start while the watch caches fill from PostgreSQL; after it the server reports ready even if some have not.")
	fs.StringSliceVar(&o.TokenWebhookAllowedNames, "token-webhook-allowed-names", o.TokenWebhookAllowedNames,
		"Users (the common name of kube-apiserver's client certificate for its --authentication-token-webhook-config-file) that may call the API key token webhook at "+apiserver.TokenReviewPath+"; empty: the webhook is not served.")
	fs.DurationVar(&o.StaleConnectionTimeout, "stale-connection-timeout", o.StaleConnectionTimeout,
		"A Connection without a heartbeat for this long is removed (clients send one every 30s), unless the PlatformConfiguration sets sessions.staleConnectionTimeout.")
	fs.DurationVar(&o.HeartbeatPersistInterval, "heartbeat-persist-interval", o.HeartbeatPersistInterval,
		"How stale a Connection's status.lastHeartbeat may get in the object (and in watches) before a heartbeat writes it; in between, heartbeats are recorded in the connection's lease only, which reaping uses.")
	fs.StringVar(&o.AdminGroup, "admin-group", o.AdminGroup,
		"The group whose members are recorded as Users with role admin (others get role user); empty: nobody.")
	utilfeature.DefaultMutableFeatureGate.AddFlag(fs)
	return cmd
}

// Complete fills in what the flags leave open.
func (o *Options) Complete() error {
	return nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	errs := o.RecommendedOptions.Validate()
	errs = append(errs, o.Postgres.Validate()...)
	errs = append(errs, o.AuditLog.Validate()...)
	if o.StaleConnectionTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--stale-connection-timeout must be positive, got %s", o.StaleConnectionTimeout))
	}
	if o.StorageInitializationTimeout < 0 {
		errs = append(errs, fmt.Errorf("--storage-initialization-timeout must not be negative, got %s", o.StorageInitializationTimeout))
	}
	if o.HeartbeatPersistInterval < 0 {
		errs = append(errs, fmt.Errorf("--heartbeat-persist-interval must not be negative, got %s", o.HeartbeatPersistInterval))
	}
	return utilerrors.NewAggregate(errs)
}

// Config turns the options into a server configuration.
func (o *Options) Config(ctx context.Context) (*apiserver.Config, error) {
	if err := o.RecommendedOptions.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", nil, []net.IP{netutils.ParseIPSloppy("127.0.0.1")}); err != nil {
		return nil, fmt.Errorf("create self-signed certificates: %w", err)
	}
	serverConfig := genericapiserver.NewRecommendedConfig(apiserver.Codecs)
	namer := openapi.NewDefinitionNamer(apiserver.Scheme)
	serverConfig.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(generatedopenapi.GetOpenAPIDefinitions, namer)
	serverConfig.OpenAPIConfig.Info.Title = "StreamSpace"
	serverConfig.OpenAPIConfig.Info.Version = "v1alpha1"
	serverConfig.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(generatedopenapi.GetOpenAPIDefinitions, namer)
	serverConfig.OpenAPIV3Config.Info.Title = "StreamSpace"
	serverConfig.OpenAPIV3Config.Info.Version = "v1alpha1"
	serverConfig.FeatureGate = utilfeature.DefaultFeatureGate
	serverConfig.EffectiveVersion = basecompatibility.NewEffectiveVersionFromString(baseversion.DefaultKubeBinaryVersion, "", "")
	serverConfig.ShutdownWatchTerminationGracePeriod = o.ShutdownWatchTerminationGracePeriod
	serverConfig.StorageInitializationTimeout = o.StorageInitializationTimeout

	clientCA, err := o.configMapClientCA()
	if err != nil {
		return nil, err
	}
	if len(o.TokenWebhookAllowedNames) > 0 && o.RecommendedOptions.Authorization != nil {
		// The token webhook answers only kube-apiserver, by its own check
		// (tokenReviewHandler): kube-apiserver's identity needs no RBAC.
		o.RecommendedOptions.Authorization.AlwaysAllowPaths = append(o.RecommendedOptions.Authorization.AlwaysAllowPaths, apiserver.TokenReviewPath)
	}
	if err := o.RecommendedOptions.ApplyTo(serverConfig); err != nil {
		return nil, err
	}
	auditPool, err := o.AuditLog.applyTo(&serverConfig.Config, o.Postgres.URL)
	if err != nil {
		return nil, err
	}
	var requestHeaderCA dynamiccertificates.CAContentProvider
	if rh := serverConfig.Authentication.RequestHeaderConfig; rh != nil {
		requestHeaderCA = rh.CAContentProvider
	}
	// Not ready, and no request with a client certificate served, before
	// both CA bundles are loaded (see package cabundles).
	gate := cabundles.New(cabundles.DefaultHoldTimeout, clientCA, requestHeaderCA)
	serverConfig.AddReadyzChecks(gate.ReadyzCheck())
	// Every caller that gets through authentication and authorization is
	// recorded as a User, in the background (package users).
	recorder := users.NewRecorder(users.Options{AdminGroup: o.AdminGroup, Ignore: o.TokenWebhookAllowedNames})
	serverConfig.BuildHandlerChainFunc = func(handler http.Handler, c *genericapiserver.Config) http.Handler {
		return gate.Hold(genericapiserver.DefaultBuildHandlerChain(users.WithRecording(handler, recorder), c), c.Serializer)
	}
	// Each person may read their own User, which RBAC cannot say; the
	// delegated authorizer (kube-apiserver's SubjectAccessReview) decides
	// everything else, asked first without the object's name so that one
	// answer serves requests that name many objects, and refreshed before
	// it expires while in use (package anyname).
	if authorizer := serverConfig.Authorization.Authorizer; authorizer != nil {
		if authz := o.RecommendedOptions.Authorization; authz != nil {
			// The unnamed questions' reviewer: the same chain without a cache.
			uncached := *authz
			uncached.AllowCacheTTL, uncached.DenyCacheTTL = 0, 0
			var reviewer genericapiserver.AuthorizationInfo
			if err := uncached.ApplyTo(&reviewer); err != nil {
				return nil, err
			}
			authorizer = anyname.NewAuthorizer(authorizer, reviewer.Authorizer,
				anyname.Options{AllowTTL: authz.AllowCacheTTL, DenyTTL: authz.DenyCacheTTL})
		}
		serverConfig.Authorization.Authorizer = users.NewAuthorizer(authorizer)
	}
	if rh := serverConfig.Authentication.RequestHeaderConfig; rh != nil {
		// Requests through the aggregator are authenticated first by a
		// request-header authenticator that verifies kube-apiserver's proxy
		// certificate once per chain; anything else falls through to the
		// delegated authenticators as before.
		// Like the stock chain, every authenticated user is also in
		// system:authenticated (RBAC's discovery and OpenAPI rules use it).
		serverConfig.Authentication.Authenticator = union.New(
			group.NewAuthenticatedGroupAdder(frontproxy.New(rh, clock.RealClock{})),
			serverConfig.Authentication.Authenticator)
	}
	if a := serverConfig.Authentication.Authenticator; a != nil {
		// Authentication is the first of this server's code that the
		// goroutine serving a request runs: its stack is grown there, once,
		// instead of step by step deep in the request (package growstack).
		serverConfig.Authentication.Authenticator = growstack.Authenticator(a)
	}
	backend, err := o.Postgres.NewBackend(ctx)
	if err != nil {
		return nil, err
	}
	return &apiserver.Config{
		GenericConfig: serverConfig,
		ExtraConfig: apiserver.ExtraConfig{Backend: backend, EnableWatchCache: o.Postgres.EnableWatchCache, StorageMediaType: o.Postgres.StorageMediaType, UserRecorder: recorder,
			TokenWebhookAllowedNames: o.TokenWebhookAllowedNames, AuditPool: auditPool,
			StaleConnectionTimeout: o.StaleConnectionTimeout, HeartbeatPersistInterval: o.HeartbeatPersistInterval,
			AdmissionStorage: o.admissionStorage, KubeClientConfig: serverConfig.ClientConfig},
	}, nil
}

// configMapClientCA sets up the client CA that delegated authentication
// would otherwise create itself from kube-system/extension-apiserver-authentication
// (the same ConfigMapCAController), so that the readiness gate can see when
// it is loaded. It returns nil when the client CA comes from a file
// (--client-ca-file, loaded at once) or is not looked up in the cluster.
func (o *Options) configMapClientCA() (dynamiccertificates.CAContentProvider, error) {
	authn := o.RecommendedOptions.Authentication
	if authn == nil {
		return nil, nil
	}
	if authn.ClientCert != (genericoptions.ClientCertAuthenticationOptions{}) || authn.SkipInClusterLookup {
		return authn.ClientCert.CAContentProvider, nil
	}
	var cfg *rest.Config
	var err error
	if authn.RemoteKubeConfigFile != "" {
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: authn.RemoteKubeConfigFile}, &clientcmd.ConfigOverrides{}).ClientConfig()
	} else {
		cfg, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) && authn.RemoteKubeConfigFileOptional {
			return nil, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("delegated authentication kubeconfig: %w", err)
	}
	cfg.Timeout = authn.TokenRequestTimeout
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("delegated authentication client: %w", err)
	}
	ca, err := dynamiccertificates.NewDynamicCAFromConfigMapController("client-ca", metav1.NamespaceSystem,
		"extension-apiserver-authentication", "client-ca-file", client)
	if err != nil {
		return nil, fmt.Errorf("client CA from kube-system/extension-apiserver-authentication: %w", err)
	}
	authn.ClientCert.CAContentProvider = ca
	return ca, nil
}

// Run serves until ctx ends.
func (o *Options) Run(ctx context.Context) error {
	gcPercent, memoryLimit := gcSettings()
	klog.FromContext(ctx).Info("Go garbage collector", "GOGC", gcPercent, "GOGCFollowsLiveHeap", gcFollowsLiveHeap.Load(), "GOMEMLIMIT", memoryLimit)
	config, err := o.Config(ctx)
	if err != nil {
		return err
	}
	defer config.ExtraConfig.Backend.Close()
	server, err := config.Complete().New()
	if err != nil {
		return err
	}
	server.GenericAPIServer.AddPostStartHookOrDie("start-streamspace-informers", func(hookCtx genericapiserver.PostStartHookContext) error {
		config.GenericConfig.SharedInformerFactory.Start(hookCtx.Done())
		if o.admissionInformers != nil {
			o.admissionInformers.Start(hookCtx.Done())
		}
		return nil
	})
	klog.FromContext(ctx).Info("starting streamspace-apiserver", "watchCache", o.Postgres.EnableWatchCache)
	return server.GenericAPIServer.PrepareRun().RunWithContext(ctx)
}
