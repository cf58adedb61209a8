// Package platformdefaults fills a new Session's idle timeout from the
// platform configuration (the PlatformConfiguration named "cluster"), so an
// administrator's change of the default applies to every session created
// after it, as Kubernetes' DefaultStorageClass plugin defaults a claim's
// class from the cluster's current default. Without a configured default
// the old backend's 30 minutes apply. The session keeps the value it was
// created with: its spec says exactly when it hibernates.
package platformdefaults

import (
	"context"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"

	"github.com/streamspace/controlplane/pkg/admission/initializer"
	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
	streamlisters "github.com/streamspace/controlplane/pkg/generated/listers/stream/v1alpha1"
)

// PluginName is the name of the admission plugin.
const PluginName = "StreamSpacePlatformDefaults"

// Register adds the plugin to the registry.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) {
		return &Plugin{Handler: admission.NewHandler(admission.Create)}, nil
	})
}

// Plugin defaults new sessions from the platform configuration.
type Plugin struct {
	*admission.Handler
	configurations streamlisters.PlatformConfigurationLister
}

var (
	_ admission.MutationInterface = &Plugin{}
	_ initializer.WantsInformers  = &Plugin{}
)

// SetInformers implements initializer.WantsInformers.
func (p *Plugin) SetInformers(f externalversions.SharedInformerFactory) {
	informer := f.Stream().V1alpha1().PlatformConfigurations()
	p.configurations = informer.Lister()
	p.SetReadyFunc(informer.Informer().HasSynced)
}

// ValidateInitialization implements admission.InitializationValidator.
func (p *Plugin) ValidateInitialization() error {
	if p.configurations == nil {
		return fmt.Errorf("%s needs an informer of the platform configuration", PluginName)
	}
	return nil
}

// Admit sets spec.idleTimeout of a new Session that names none.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetSubresource() != "" || a.GetResource().GroupResource() != stream.Resource("sessions") {
		return nil
	}
	s, ok := a.GetObject().(*stream.Session)
	if !ok || s.Spec.IdleTimeout != nil {
		return nil
	}
	if !p.WaitForReady() {
		return admission.NewForbidden(a, fmt.Errorf("not yet ready to handle request: the platform configuration is still loading"))
	}
	idle, err := p.defaultIdleTimeout()
	if err != nil {
		return err
	}
	s.Spec.IdleTimeout = &metav1.Duration{Duration: idle}
	return nil
}

func (p *Plugin) defaultIdleTimeout() (d time.Duration, err error) {
	c, err := p.configurations.Get(streamv1alpha1.PlatformConfigurationName)
	if apierrors.IsNotFound(err) {
		return streamv1alpha1.DefaultIdleTimeout, nil
	}
	if err != nil {
		return 0, apierrors.NewInternalError(fmt.Errorf("read the platform configuration: %w", err))
	}
	if c.Spec.Sessions.DefaultIdleTimeout == nil {
		return streamv1alpha1.DefaultIdleTimeout, nil
	}
	return c.Spec.Sessions.DefaultIdleTimeout.Duration, nil
}
