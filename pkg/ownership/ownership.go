// Package ownership is the owner rule of Sessions and Connections: an object
// belongs to the user named in its spec.user, and only that user may change,
// delete or act on it. A caller RBAC grants the "assign" verb on the resource
// in the object's namespace (admins, the controllers) may act on anyone's.
//
// RBAC alone cannot say this: in a namespace shared by several people it
// grants verbs on a resource, not on the objects one of them owns. The
// admission plugin owner applies the rule to writes of the objects
// themselves; the connect and heartbeat subresources, whose requests carry
// no Session or Connection for admission to look at, apply it where they
// read the object.
package ownership

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// Object names an owned object and its owner.
type Object struct {
	Resource  schema.GroupVersionResource
	Namespace string
	Name      string
	// Owner is the object's spec.user.
	Owner string
}

// MayAssign asks the authorizer whether caller has the assign verb on the
// object's resource in its namespace. The reason (and error) explain a
// refusal.
func MayAssign(ctx context.Context, authz authorizer.Authorizer, caller user.Info, o Object) (bool, string, error) {
	decision, reason, err := authz.Authorize(ctx, authorizer.AttributesRecord{
		User:            caller,
		Verb:            stream.AssignVerb,
		Namespace:       o.Namespace,
		APIGroup:        o.Resource.Group,
		APIVersion:      o.Resource.Version,
		Resource:        o.Resource.Resource,
		Name:            o.Name,
		ResourceRequest: true,
	})
	return decision == authorizer.DecisionAllow, reason, err
}

// Authorize allows the object's owner, and callers with the assign verb; it
// answers 403 naming the owner rule otherwise. action says what the caller
// tried, as a verb whose object is the owned object ("delete", "update the
// status of").
func Authorize(ctx context.Context, authz authorizer.Authorizer, caller user.Info, o Object, action string) error {
	if caller != nil && o.Owner != "" && caller.GetName() == o.Owner {
		return nil
	}
	return RequireAssign(ctx, authz, caller, o, action)
}

// RequireAssign allows only callers with the assign verb, owner or not (as
// for handing an object to another user); it answers 403 naming the owner
// rule otherwise.
func RequireAssign(ctx context.Context, authz authorizer.Authorizer, caller user.Info, o Object, action string) error {
	if caller == nil {
		return forbidden(o, "an anonymous caller", action, "", nil)
	}
	allowed, reason, err := MayAssign(ctx, authz, caller, o)
	if allowed {
		return nil
	}
	klog.FromContext(ctx).V(2).Info("refused a request on a user's object",
		"resource", o.Resource.GroupResource(), "object", klog.KRef(o.Namespace, o.Name),
		"owner", o.Owner, "caller", caller.GetName(), "action", action, "reason", reason, "err", err)
	return forbidden(o, caller.GetName(), action, reason, err)
}

func forbidden(o Object, callerName, action, reason string, err error) error {
	gr := o.Resource.GroupResource()
	msg := fmt.Sprintf("%s %q belongs to user %q: %s may not %s it (that needs the %q verb on %s)",
		o.Resource.Resource, o.Name, o.Owner, callerName, action, stream.AssignVerb, gr)
	if reason != "" {
		msg += ": " + reason
	}
	if err != nil {
		msg += fmt.Sprintf(" (authorizer error: %v)", err)
	}
	return apierrors.NewForbidden(gr, o.Name, errors.New(msg))
}
