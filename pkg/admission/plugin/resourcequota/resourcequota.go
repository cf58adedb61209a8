// Package resourcequota wires k8s.io/apiserver's ResourceQuota admission plugin into
// streamspace-apiserver, so that a ResourceQuota such as
// `count/sessions.stream.space: 10` is enforced on our resources as
// kube-apiserver enforces it on its own. (kube-apiserver only proxies
// requests for aggregated groups; its admission never sees them.)
// kube-controller-manager's resource quota controller keeps status.used.
package resourcequota

import (
	"k8s.io/apiserver/pkg/admission"
	genericadmissioninitializer "k8s.io/apiserver/pkg/admission/initializer"
	upstream "k8s.io/apiserver/pkg/admission/plugin/resourcequota"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

// PluginName is the name of the admission plugin (ResourceQuota).
const PluginName = upstream.PluginName

// Register registers the ResourceQuota admission plugin.
func Register(plugins *admission.Plugins) {
	upstream.Register(plugins)
}

type initializer struct{}

// NewInitializer hands the plugin its quota configuration. Every resource
// is counted by the object-count evaluator the plugin creates on demand
// (count/<resource>.<group>); no resource is ignored. It must come after
// the generic initializer, which sets the plugin's drained notification.
func NewInitializer() admission.PluginInitializer { return initializer{} }

// Initialize implements admission.PluginInitializer.
func (initializer) Initialize(plugin admission.Interface) {
	if wants, ok := plugin.(genericadmissioninitializer.WantsQuotaConfiguration); ok {
		wants.SetQuotaConfiguration(generic.NewConfiguration(nil, nil))
	}
}
