package catalogsource

import (
	"k8s.io/apiserver/pkg/admission"

	"github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
)

// WantsCatalogInformers is a plugin that reads our own API through
// informers on the server's loopback client (as sample-apiserver's
// wardleinitializer does).
type WantsCatalogInformers interface {
	SetCatalogInformers(externalversions.SharedInformerFactory)
	admission.InitializationValidator
}

type pluginInitializer struct {
	informers externalversions.SharedInformerFactory
}

// NewInitializer hands plugins the informer factory of our API.
func NewInitializer(informers externalversions.SharedInformerFactory) admission.PluginInitializer {
	return pluginInitializer{informers: informers}
}

// Initialize implements admission.PluginInitializer.
func (i pluginInitializer) Initialize(plugin admission.Interface) {
	if wants, ok := plugin.(WantsCatalogInformers); ok {
		wants.SetCatalogInformers(i.informers)
	}
}
