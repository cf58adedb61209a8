// Package apiserver assembles the StreamSpace aggregated API server: the
// stream.space and catalog.stream.space groups on Postgres storage.
package apiserver

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/streamspace/controlplane/pkg/registry/stream/auditevent"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	flowcontrolrequest "k8s.io/apiserver/pkg/util/flowcontrol/request"
	restclient "k8s.io/client-go/rest"

	admissioninitializer "github.com/streamspace/controlplane/pkg/admission/initializer"
	"github.com/streamspace/controlplane/pkg/apis/catalog"
	cataloginstall "github.com/streamspace/controlplane/pkg/apis/catalog/install"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	"github.com/streamspace/controlplane/pkg/apis/stream"
	streaminstall "github.com/streamspace/controlplane/pkg/apis/stream/install"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/apiserver/users"
	"github.com/streamspace/controlplane/pkg/registry/catalog/catalogtemplate"
	"github.com/streamspace/controlplane/pkg/registry/catalog/templaterepository"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
	"github.com/streamspace/controlplane/pkg/registry/stream/apikey"
	"github.com/streamspace/controlplane/pkg/registry/stream/connection"
	"github.com/streamspace/controlplane/pkg/registry/stream/platformconfiguration"
	"github.com/streamspace/controlplane/pkg/registry/stream/session"
	"github.com/streamspace/controlplane/pkg/registry/stream/sessionpool"
	"github.com/streamspace/controlplane/pkg/registry/stream/sessionquota"
	"github.com/streamspace/controlplane/pkg/registry/stream/sessionshare"
	"github.com/streamspace/controlplane/pkg/registry/stream/template"
	"github.com/streamspace/controlplane/pkg/registry/stream/usage"
	"github.com/streamspace/controlplane/pkg/registry/stream/user"
	"github.com/streamspace/controlplane/pkg/storage/postgres"
)

var (
	// Scheme knows every type the server serves.
	Scheme = runtime.NewScheme()
	// Codecs encode and decode those types.
	Codecs = serializer.NewCodecFactory(Scheme)
)

func init() {
	streaminstall.Install(Scheme)
	cataloginstall.Install(Scheme)

	// Options and status types of meta/v1, as every API server needs.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	unversioned := schema.GroupVersion{Group: "", Version: "v1"}
	Scheme.AddUnversionedTypes(unversioned,
		&metav1.Status{},
		&metav1.APIVersions{},
		&metav1.APIGroupList{},
		&metav1.APIGroup{},
		&metav1.APIResourceList{},
	)
}

// StorageCodec encodes resource's objects for Postgres as its group's
// v1alpha1 in mediaType (protobuf or JSON) and decodes them, in either,
// into internal types: the bytes of rows written before a change of media
// type stay readable, as in kube-apiserver's storage. Protobuf is the
// default: encoding and decoding a Session take a fraction of JSON's CPU,
// and the rows and history are smaller. PlatformConfigurations stay JSON
// whatever mediaType says, because the configuration view (migration
// 00006) reads their JSON.
func StorageCodec(resource schema.GroupResource, mediaType string) (runtime.Codec, error) {
	if jsonStoredResources.Has(resource) {
		mediaType = runtime.ContentTypeJSON
	}
	version := streamv1alpha1.SchemeGroupVersion
	if resource.Group == catalogv1alpha1.GroupName {
		version = catalogv1alpha1.SchemeGroupVersion
	}
	codec, _, err := serverstorage.NewStorageCodec(serverstorage.StorageCodecConfig{
		StorageMediaType:  mediaType,
		StorageSerializer: Codecs,
		StorageVersion:    version,
		MemoryVersion:     schema.GroupVersion{Group: version.Group, Version: runtime.APIVersionInternal},
	})
	if err != nil {
		return nil, fmt.Errorf("storage codec of %s: %w", resource, err)
	}
	return codec, nil
}

// jsonStoredResources are stored as JSON whatever the storage media type.
var jsonStoredResources = sets.New(stream.Resource("platformconfigurations"))

// ExtraConfig is what this server adds to the generic configuration.
type ExtraConfig struct {
	// Backend is the Postgres storage every resource is kept in.
	Backend *postgres.Backend
	// EnableWatchCache puts the apiserver's watch cache in front of the storage.
	EnableWatchCache bool
	// StorageMediaType encodes objects in Postgres (StorageCodec); empty:
	// protobuf.
	StorageMediaType string
	// UserRecorder, when set, is given the storage of Users once the server
	// runs; the handler chain feeds it the callers (users.WithRecording).
	UserRecorder *users.Recorder
	// TokenWebhookAllowedNames are the users (kube-apiserver's client
	// certificate) that may call the API key token webhook at
	// TokenReviewPath; none: the webhook is not served.
	TokenWebhookAllowedNames []string
	// AuditPool reads the audit trail (audit_log) for the auditevents
	// resource; nil: the trail is not kept, and auditevents not served.
	AuditPool *pgxpool.Pool
	// StaleConnectionTimeout: connections silent this long are reaped,
	// unless the PlatformConfiguration sets another timeout.
	StaleConnectionTimeout time.Duration
	// HeartbeatPersistInterval is the resolution of status.lastHeartbeat
	// in Connection objects (heartbeats in between go to the lease only).
	HeartbeatPersistInterval time.Duration
	// AdmissionStorage is filled with the storage the admission plugins
	// read in process (admission's initializer.Storage); nil: none.
	AdmissionStorage *admissioninitializer.Storage
	// KubeClientConfig reaches kube-apiserver, through whose aggregator
	// heartbeats arrive: the connection reaper holds while it is not live.
	// nil: the reaper does not ask.
	KubeClientConfig *restclient.Config
}

// Config is the whole configuration of the server.
type Config struct {
	GenericConfig *genericapiserver.RecommendedConfig
	ExtraConfig   ExtraConfig
}

// CompletedConfig is a Config with defaults filled in.
type CompletedConfig struct {
	GenericConfig genericapiserver.CompletedConfig
	ExtraConfig   *ExtraConfig
}

// Server is the running API server.
type Server struct {
	GenericAPIServer *genericapiserver.GenericAPIServer
}

// Complete fills in defaults.
func (cfg *Config) Complete() CompletedConfig {
	return CompletedConfig{GenericConfig: cfg.GenericConfig.Complete(), ExtraConfig: &cfg.ExtraConfig}
}

// New builds the server and installs both API groups.
func (c CompletedConfig) New() (*Server, error) {
	if c.ExtraConfig.Backend == nil {
		return nil, fmt.Errorf("no storage backend configured")
	}
	genericServer, err := c.GenericConfig.New("streamspace-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	s := &Server{GenericAPIServer: genericServer}

	optsGetter := restOptionsGetter{
		mediaType:    c.ExtraConfig.StorageMediaType,
		decorator:    c.ExtraConfig.Backend.StorageDecorator(storageTables(), c.ExtraConfig.EnableWatchCache),
		uncached:     c.ExtraConfig.Backend.StorageDecorator(storageTables(), false),
		countTracker: c.GenericConfig.StorageObjectCountTracker,
	}

	streamGroup := genericapiserver.NewDefaultAPIGroupInfo(stream.GroupName, Scheme, metav1.ParameterCodec, Codecs)
	streamStorage, err := storageMap(optsGetter, streamResources)
	if err != nil {
		return nil, err
	}
	pathDown, err := heartbeatPathDown(c.ExtraConfig.KubeClientConfig)
	if err != nil {
		return nil, err
	}
	reaper := connection.NewReaper(c.ExtraConfig.Backend, streamStorage["connections"].(*storebuilder.REST).Store,
		streamStorage["connections/status"].(*storebuilder.StatusREST),
		staleConnectionTimeout(streamStorage["platformconfigurations"].(*storebuilder.REST), c.ExtraConfig.StaleConnectionTimeout),
		pathDown)
	// Not ready until every watch cache has filled (or the configured
	// storage initialization timeout has passed), as kube-apiserver: a
	// replica taken into its Service earlier answers informers 429 "storage
	// is (re)initializing" and sends consistent lists to Postgres.
	if err := genericServer.AddPostStartHook("storage-readiness", genericServer.StorageReadinessHook.Hook); err != nil {
		return nil, err
	}
	if err := genericServer.AddPostStartHook("streamspace-connection-reaper", func(ctx genericapiserver.PostStartHookContext) error {
		go reaper.Run(ctx)
		return nil
	}); err != nil {
		return nil, err
	}
	if st := c.ExtraConfig.AdmissionStorage; st != nil {
		// Before the privacy wrapper: admission reads every quota whole.
		st.Set(stream.Resource("sessionquotas"), streamStorage["sessionquotas"].(*storebuilder.REST))
		st.Set(stream.Resource("sessions"), streamStorage["sessions"].(*storebuilder.REST))
	}
	// Readers of a quota see only their own usage unless they may write it.
	streamStorage["sessionquotas"], streamStorage["sessionquotas/status"] = sessionquota.WithUsagePrivacy(
		streamStorage["sessionquotas"].(*storebuilder.REST), streamStorage["sessionquotas/status"].(*storebuilder.StatusREST),
		c.GenericConfig.Authorization.Authorizer)
	userStorage, userStore, err := user.NewREST(Scheme, optsGetter)
	if err != nil {
		return nil, fmt.Errorf("build storage of users: %w", err)
	}
	streamStorage["users"] = userStorage
	apiKeyStorage, apiKeyStore, err := apikey.NewREST(Scheme, optsGetter, c.GenericConfig.Authorization.Authorizer)
	if err != nil {
		return nil, fmt.Errorf("build storage of apikeys: %w", err)
	}
	streamStorage["apikeys"] = apiKeyStorage
	sessions := streamStorage["sessions"].(*storebuilder.REST)
	shareStorage, shareStatus, err := sessionshare.NewREST(Scheme, optsGetter, sessions, c.GenericConfig.Authorization.Authorizer)
	if err != nil {
		return nil, fmt.Errorf("build storage of sessionshares: %w", err)
	}
	streamStorage["sessionshares"], streamStorage["sessionshares/status"] = shareStorage, shareStatus
	if c.ExtraConfig.AuditPool != nil {
		streamStorage["auditevents"] = auditevent.NewREST(c.ExtraConfig.AuditPool)
	}
	// Usages are computed from the intervals the storage records as
	// sessions run, priced by the platform configuration.
	streamStorage["usages"] = usage.NewREST(usage.Sources{
		Usage:   c.ExtraConfig.Backend.SessionUsage,
		Pricing: usage.PricingFrom(streamStorage["platformconfigurations"].(*storebuilder.REST)),
		Members: usage.MembersFrom(userStore),
	}, c.GenericConfig.Authorization.Authorizer)
	if names := c.ExtraConfig.TokenWebhookAllowedNames; len(names) > 0 {
		genericServer.Handler.NonGoRestfulMux.Handle(TokenReviewPath,
			tokenReviewHandler(apikey.NewAuthenticator(apiKeyStore), sets.New(names...)))
	}
	if recorder := c.ExtraConfig.UserRecorder; recorder != nil {
		err := genericServer.AddPostStartHook("streamspace-user-recorder", func(ctx genericapiserver.PostStartHookContext) error {
			go recorder.Run(ctx, userStore)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	heartbeat := addSessionSubresources(streamStorage, c.GenericConfig.Authorization.Authorizer, c.ExtraConfig.Backend, c.ExtraConfig.HeartbeatPersistInterval)
	if err := genericServer.AddPostStartHook("streamspace-heartbeat-persister", func(ctx genericapiserver.PostStartHookContext) error {
		go heartbeat.Run(ctx)
		return nil
	}); err != nil {
		return nil, err
	}
	streamGroup.VersionedResourcesStorageMap[streamv1alpha1.SchemeGroupVersion.Version] = streamStorage
	if err := genericServer.InstallAPIGroup(&streamGroup); err != nil {
		return nil, err
	}

	catalogGroup := genericapiserver.NewDefaultAPIGroupInfo(catalog.GroupName, Scheme, metav1.ParameterCodec, Codecs)
	catalogStorage, err := storageMap(optsGetter, catalogResources)
	if err != nil {
		return nil, err
	}
	catalogGroup.VersionedResourcesStorageMap[catalogv1alpha1.SchemeGroupVersion.Version] = catalogStorage
	if err := genericServer.InstallAPIGroup(&catalogGroup); err != nil {
		return nil, err
	}
	return s, nil
}

type newREST func(*runtime.Scheme, generic.RESTOptionsGetter) (*storebuilder.REST, *storebuilder.StatusREST, error)

// The resources of each group, by name, with the function that builds their storage.
var (
	streamResources = map[string]newREST{
		"sessions":      session.NewREST,
		"templates":     template.NewREST,
		"connections":   connection.NewREST,
		"sessionquotas": sessionquota.NewREST,
		// Warm workloads of a template, claimed by new sessions.
		"sessionpools": sessionpool.NewREST,
		// The platform's settings, one object named "cluster".
		"platformconfigurations": platformconfiguration.NewREST,
	}
	catalogResources = map[string]newREST{
		"templaterepositories": templaterepository.NewREST,
		"catalogtemplates":     catalogtemplate.NewREST,
	}
)

func storageMap(optsGetter generic.RESTOptionsGetter, resources map[string]newREST) (map[string]rest.Storage, error) {
	out := map[string]rest.Storage{}
	for name, build := range resources {
		main, status, err := build(Scheme, optsGetter)
		if err != nil {
			return nil, fmt.Errorf("build storage of %s: %w", name, err)
		}
		out[name] = main
		if status != nil {
			out[name+"/status"] = status
		}
	}
	return out, nil
}

// restOptionsGetter hands every resource the Postgres storage: through
// decorator, or through uncached (no watch cache) for uncachedResources.
type restOptionsGetter struct {
	mediaType    string // of StorageCodec; empty: protobuf
	decorator    generic.StorageDecorator
	uncached     generic.StorageDecorator
	countTracker flowcontrolrequest.StorageObjectCountTracker
}

// uncachedResources are served without a watch cache: a consistent list
// (resourceVersion "") reads Postgres at once. SessionQuotas are listed
// consistently by session-quota admission on every charged create, so that
// a quota made a moment ago applies to the next request; from a watch cache
// such a list waits until the cache has caught up with the database's
// current resourceVersion. That resourceVersion is global and moves with
// every write of any resource while the quota cache moves only with quota
// writes and progress notifications, which the cache requests at most every
// 100 ms (k8s.io/apiserver's cacher/progress): every create waited up to
// 100 ms, one client made 10 creates a second. The table is small and
// rarely written; its watches are served by the storage's own watch.
var uncachedResources = sets.New(stream.Resource("sessionquotas"))

func (g restOptionsGetter) GetRESTOptions(resource schema.GroupResource, example runtime.Object) (generic.RESTOptions, error) {
	decorator := g.decorator
	if uncachedResources.Has(resource) && g.uncached != nil {
		decorator = g.uncached
	}
	mediaType := g.mediaType
	if mediaType == "" {
		mediaType = runtime.ContentTypeProtobuf
	}
	codec, err := StorageCodec(resource, mediaType)
	if err != nil {
		return generic.RESTOptions{}, err
	}
	return generic.RESTOptions{
		StorageConfig: &storagebackend.ConfigForResource{
			Config:        *storagebackend.NewDefaultConfig("/", codec),
			GroupResource: resource,
		},
		Decorator:                 decorator,
		EnableGarbageCollection:   true,
		DeleteCollectionWorkers:   1,
		ResourcePrefix:            "/" + resource.Group + "/" + resource.Resource,
		CountMetricPollPeriod:     time.Minute,
		StorageObjectCountTracker: g.countTracker,
	}, nil
}
