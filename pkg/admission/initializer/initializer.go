// Package initializer hands StreamSpace's admission plugins what they read
// and write of the server's own API, as k8s.io/apiserver's
// pkg/admission/initializer hands plugins the authorizer and the Kubernetes
// informers (and sample-apiserver's wardleinitializer its informers). The
// interfaces live here, not in a plugin, so that a plugin asks for them
// without importing another plugin.
package initializer

import (
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	"github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
)

// WantsInformers is a plugin that reads the stream.space and
// catalog.stream.space API through informers on the server's loopback
// client. The server starts the factory once it serves.
type WantsInformers interface {
	SetInformers(externalversions.SharedInformerFactory)
	admission.InitializationValidator
}

// WantsClient is a plugin that reads and writes the stream.space and
// catalog.stream.space API through the server's loopback client.
type WantsClient interface {
	SetClient(versioned.Interface)
	admission.InitializationValidator
}

// WantsStorage is a plugin that reads the server's own storage in
// process.
type WantsStorage interface {
	SetStorage(*Storage)
	admission.InitializationValidator
}

// Storage is the server's own storage of some resources, read in process
// (internal types, no authorization). A plugin that must see exactly what
// is stored, a consistent list on every request it admits, reads it here:
// the same list through the loopback client is a second request through
// the whole handler chain (TLS, authentication, authorization, audit,
// priority and fairness, encoding and decoding both ways) for every request
// admitted, which kube-apiserver's own plugins do not pay either (they read
// informers, or storage). Admission is configured before the server builds
// its storage, so the server fills this in when it has, before it serves.
type Storage struct {
	mu      sync.RWMutex
	listers map[schema.GroupResource]rest.Lister
}

// NewStorage returns an empty Storage.
func NewStorage() *Storage {
	return &Storage{listers: map[schema.GroupResource]rest.Lister{}}
}

// Set makes resource's storage readable.
func (s *Storage) Set(resource schema.GroupResource, l rest.Lister) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listers[resource] = l
}

// Lister is resource's storage, nil until the server has set it.
func (s *Storage) Lister(resource schema.GroupResource) rest.Lister {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.listers[resource]
}

type pluginInitializer struct {
	client    versioned.Interface
	informers externalversions.SharedInformerFactory
	storage   *Storage
}

// New hands plugins the loopback client, the informer factory and the
// storage of the server's own API.
func New(client versioned.Interface, informers externalversions.SharedInformerFactory, storage *Storage) admission.PluginInitializer {
	return pluginInitializer{client: client, informers: informers, storage: storage}
}

// Initialize implements admission.PluginInitializer.
func (i pluginInitializer) Initialize(plugin admission.Interface) {
	if wants, ok := plugin.(WantsInformers); ok {
		wants.SetInformers(i.informers)
	}
	if wants, ok := plugin.(WantsClient); ok {
		wants.SetClient(i.client)
	}
	if wants, ok := plugin.(WantsStorage); ok {
		wants.SetStorage(i.storage)
	}
}
