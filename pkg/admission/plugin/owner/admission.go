// Package owner fills in and guards the user a Session or Connection belongs
// to. The user comes from the caller's identity; naming another user needs
// the "assign" verb on the resource, asked of the authorizer (RBAC).
package owner

import (
	"context"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// PluginName is the name of the admission plugin.
const PluginName = "StreamSpaceOwner"

// Register adds the plugin to the registry.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) {
		return &Plugin{Handler: admission.NewHandler(admission.Create)}, nil
	})
}

// Plugin defaults and authorizes spec.user.
type Plugin struct {
	*admission.Handler
	authorizer authorizer.Authorizer
}

var (
	_ admission.MutationInterface   = &Plugin{}
	_ admission.ValidationInterface = &Plugin{}
	_                               = initializer.WantsAuthorizer(&Plugin{})
)

// SetAuthorizer implements initializer.WantsAuthorizer.
func (p *Plugin) SetAuthorizer(a authorizer.Authorizer) { p.authorizer = a }

// ValidateInitialization implements admission.InitializationValidator.
func (p *Plugin) ValidateInitialization() error {
	if p.authorizer == nil {
		return fmt.Errorf("%s needs an authorizer", PluginName)
	}
	return nil
}

var owned = map[schema.GroupResource]bool{
	stream.Resource("sessions"):    true,
	stream.Resource("connections"): true,
}

// userField returns a pointer to spec.user of an owned object, or nil.
func userField(a admission.Attributes) *string {
	if a.GetSubresource() != "" || !owned[a.GetResource().GroupResource()] {
		return nil
	}
	switch o := a.GetObject().(type) {
	case *stream.Session:
		return &o.Spec.User
	case *stream.Connection:
		return &o.Spec.User
	}
	return nil
}

// Admit sets spec.user to the caller when it is empty.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if user := userField(a); user != nil && *user == "" && a.GetUserInfo() != nil {
		*user = a.GetUserInfo().GetName()
	}
	return nil
}

// Validate refuses, with 403, a spec.user other than the caller unless RBAC
// grants "assign" on the resource in the namespace.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	user := userField(a)
	caller := a.GetUserInfo()
	if user == nil || caller == nil || *user == caller.GetName() {
		return nil
	}
	decision, reason, err := p.authorizer.Authorize(ctx, authorizer.AttributesRecord{
		User:            caller,
		Verb:            stream.AssignVerb,
		Namespace:       a.GetNamespace(),
		APIGroup:        a.GetResource().Group,
		APIVersion:      a.GetResource().Version,
		Resource:        a.GetResource().Resource,
		Name:            a.GetName(),
		ResourceRequest: true,
	})
	if decision == authorizer.DecisionAllow {
		return nil
	}
	msg := fmt.Sprintf("spec.user: %q may not create %s for user %q: that needs the %q verb on %s",
		caller.GetName(), a.GetResource().Resource, *user, stream.AssignVerb, a.GetResource().GroupResource())
	if reason != "" {
		msg += ": " + reason
	}
	if err != nil {
		msg += fmt.Sprintf(" (authorizer error: %v)", err)
	}
	return admission.NewForbidden(a, fmt.Errorf("%s", msg))
}
