// Package initializer hands StreamSpace's admission plugins what they read
// and write of the server's own API, as k8s.io/apiserver's
// pkg/admission/initializer hands plugins the authorizer and the Kubernetes
// informers (and sample-apiserver's wardleinitializer its informers). The
// interfaces live here, not in a plugin, so that a plugin asks for them
// without importing another plugin.
package initializer

import (
	"k8s.io/apiserver/pkg/admission"

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

type pluginInitializer struct {
	client    versioned.Interface
	informers externalversions.SharedInformerFactory
}

// New hands plugins the loopback client and the informer factory of the
// server's own API.
func New(client versioned.Interface, informers externalversions.SharedInformerFactory) admission.PluginInitializer {
	return pluginInitializer{client: client, informers: informers}
}

// Initialize implements admission.PluginInitializer.
func (i pluginInitializer) Initialize(plugin admission.Interface) {
	if wants, ok := plugin.(WantsInformers); ok {
		wants.SetInformers(i.informers)
	}
	if wants, ok := plugin.(WantsClient); ok {
		wants.SetClient(i.client)
	}
}
