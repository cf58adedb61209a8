// Package owner fills in and guards the user a Session, Connection or APIKey
// belongs to (spec.user), with the owner rule of package ownership:
//
//   - CREATE: an empty spec.user becomes the caller; naming another user
//     needs the "assign" verb on the resource, asked of the authorizer
//     (RBAC).
//   - UPDATE (update, patch, server-side apply, the status subresource) and
//     DELETE (delete, and each object of a deletecollection): only the
//     owner in the stored object's spec.user may, or a caller with the
//     assign verb in the namespace. Changing spec.user is an assign too.
//
// DELETE reaches validating admission once per object with the stored
// object as the old object (the registry's deleteValidation); mutating
// admission sees it without objects, so Admit does nothing on it.
//
// The subresources sessions/connect and connections/heartbeat are creates
// whose body is a request, not the object they act on, so admission cannot
// see its owner there: their REST handlers read the object and apply the
// same rule (pkg/registry/stream/session/connect.go,
// pkg/registry/stream/connection/heartbeat.go). That is cheaper and simpler
// than giving this plugin a getter to read the object a second time.
package owner

import (
	"context"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/ownership"
)

// PluginName is the name of the admission plugin.
const PluginName = "StreamSpaceOwner"

// Register adds the plugin to the registry.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) {
		return New(), nil
	})
}

// New returns the plugin, without its authorizer.
func New() *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update, admission.Delete)}
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
	stream.Resource("apikeys"):     true,
}

// userField returns a pointer to spec.user of a Session, Connection or APIKey, or nil.
func userField(obj runtime.Object) *string {
	switch o := obj.(type) {
	case *stream.Session:
		return &o.Spec.User
	case *stream.Connection:
		return &o.Spec.User
	case *stream.APIKey:
		return &o.Spec.User
	}
	return nil
}

// Admit sets spec.user to the caller when a create leaves it empty.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetOperation() != admission.Create || a.GetSubresource() != "" || !owned[a.GetResource().GroupResource()] {
		return nil
	}
	if user := userField(a.GetObject()); user != nil && *user == "" && a.GetUserInfo() != nil {
		*user = a.GetUserInfo().GetName()
	}
	return nil
}

// Validate refuses, with 403, what the owner rule does not allow the caller.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if !owned[a.GetResource().GroupResource()] {
		return nil
	}
	switch a.GetOperation() {
	case admission.Create:
		return p.validateCreate(ctx, a)
	case admission.Update:
		return p.validateUpdate(ctx, a)
	case admission.Delete:
		return p.validateDelete(ctx, a)
	}
	return nil
}

// validateCreate allows a spec.user other than the caller only with the
// assign verb.
func (p *Plugin) validateCreate(ctx context.Context, a admission.Attributes) error {
	user := userField(a.GetObject())
	caller := a.GetUserInfo()
	if a.GetSubresource() != "" || user == nil || caller == nil || *user == caller.GetName() {
		return nil
	}
	allowed, reason, err := ownership.MayAssign(ctx, p.authorizer, caller, object(a, a.GetName(), *user))
	if allowed {
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

// validateUpdate allows the stored object's owner to change it, and
// changing spec.user only with the assign verb.
func (p *Plugin) validateUpdate(ctx context.Context, a admission.Attributes) error {
	oldUser, newUser := userField(a.GetOldObject()), userField(a.GetObject())
	if oldUser == nil || newUser == nil {
		return nil
	}
	action := "update"
	if a.GetSubresource() != "" {
		action = "update the " + a.GetSubresource() + " of"
	}
	if err := ownership.Authorize(ctx, p.authorizer, a.GetUserInfo(), object(a, a.GetName(), *oldUser), action); err != nil {
		return err
	}
	if *newUser != *oldUser {
		return ownership.RequireAssign(ctx, p.authorizer, a.GetUserInfo(), object(a, a.GetName(), *oldUser),
			fmt.Sprintf("set spec.user to %q in", *newUser))
	}
	return nil
}

// validateDelete allows the stored object's owner to delete it. A
// deletecollection has no name in its attributes: the object's is used.
func (p *Plugin) validateDelete(ctx context.Context, a admission.Attributes) error {
	old := a.GetOldObject()
	user := userField(old)
	if user == nil {
		return nil
	}
	name := a.GetName()
	if m, ok := old.(interface{ GetName() string }); ok && m.GetName() != "" {
		name = m.GetName()
	}
	return ownership.Authorize(ctx, p.authorizer, a.GetUserInfo(), object(a, name, *user), "delete")
}

func object(a admission.Attributes, name, owner string) ownership.Object {
	return ownership.Object{Resource: a.GetResource(), Namespace: a.GetNamespace(), Name: name, Owner: owner}
}
