package sessionquota

import (
	"k8s.io/apiserver/pkg/admission"

	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	"github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
)

// WantsStreamClient is a plugin that reads our own API through informers
// on the server's loopback client and writes through that client.
type WantsStreamClient interface {
	SetStreamClient(versioned.Interface, externalversions.SharedInformerFactory)
	admission.InitializationValidator
}

type pluginInitializer struct {
	client    versioned.Interface
	informers externalversions.SharedInformerFactory
}

// NewInitializer hands plugins the loopback client and informer factory of our API.
func NewInitializer(client versioned.Interface, informers externalversions.SharedInformerFactory) admission.PluginInitializer {
	return pluginInitializer{client: client, informers: informers}
}

// Initialize implements admission.PluginInitializer.
func (i pluginInitializer) Initialize(plugin admission.Interface) {
	if wants, ok := plugin.(WantsStreamClient); ok {
		wants.SetStreamClient(i.client, i.informers)
	}
}
