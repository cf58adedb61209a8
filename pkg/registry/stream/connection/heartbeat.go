package connection

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/ownership"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// HeartbeatREST serves POST connections/{name}/heartbeat: it sets
// status.lastHeartbeat to now and answers the Connection. It reads and
// writes in one guaranteed update with no resourceVersion precondition, so
// a heartbeat never conflicts, and costs one round trip for the client.
//
// Only the connection's own user (spec.user) may send its heartbeats, or a
// caller RBAC grants the "assign" verb on connections (package ownership):
// RBAC on connections/heartbeat alone would let anyone in the namespace
// keep someone else's viewer, and so the session, awake. Admission sees
// this create with the request body only, so the rule is applied here,
// where the connection is read.
type HeartbeatREST struct {
	status     *storebuilder.StatusREST
	authorizer authorizer.Authorizer
	now        func() time.Time
}

var (
	_ rest.NamedCreater    = &HeartbeatREST{}
	_ rest.StorageMetadata = &HeartbeatREST{}
)

// NewHeartbeatREST returns the heartbeat subresource over the status
// storage; authz decides whether a caller may beat for another user.
func NewHeartbeatREST(status *storebuilder.StatusREST, authz authorizer.Authorizer) *HeartbeatREST {
	return &HeartbeatREST{status: status, authorizer: authz, now: time.Now}
}

// New returns the request body type.
func (r *HeartbeatREST) New() runtime.Object { return &stream.ConnectionHeartbeat{} }

// Destroy is a no-op: the main store owns the storage.
func (r *HeartbeatREST) Destroy() {}

// ProducesMIMETypes implements rest.StorageMetadata.
func (r *HeartbeatREST) ProducesMIMETypes(verb string) []string { return nil }

// ProducesObject documents the answer type (the Connection) in OpenAPI.
func (r *HeartbeatREST) ProducesObject(verb string) interface{} {
	return streamv1alpha1.Connection{}
}

// Create records a heartbeat of connection name.
func (r *HeartbeatREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	if _, ok := obj.(*stream.ConnectionHeartbeat); !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a ConnectionHeartbeat: %T", obj))
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	caller, ok := genericapirequest.UserFrom(ctx)
	if !ok || caller.GetName() == "" {
		return nil, apierrors.NewBadRequest("a heartbeat needs an authenticated user")
	}
	now := metav1.NewTime(r.now())
	// spec.user is immutable, so one decision holds for every retry of the
	// update; the authorizer is only asked when the caller is someone else.
	var ownerChecked bool
	beat := func(ctx context.Context, _, oldObj runtime.Object) (runtime.Object, error) {
		// DefaultUpdatedObjectInfo without an object passes nil as newObj:
		// the update starts from the stored object.
		c := oldObj.DeepCopyObject().(*stream.Connection)
		if c.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(stream.Resource("connections"), name, fmt.Errorf("the connection is being deleted"))
		}
		if !ownerChecked {
			if err := r.authorizeBeat(ctx, caller, c); err != nil {
				return nil, err
			}
			ownerChecked = true
		}
		c.Status.LastHeartbeat = &now
		c.Status.State = stream.ConnectionStateActive
		return c, nil
	}
	updated, _, err := r.status.Update(ctx, name, rest.DefaultUpdatedObjectInfo(nil, beat),
		rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{DryRun: options.DryRun})
	if err != nil {
		return nil, err
	}
	return updated, nil
}

// authorizeBeat allows the connection's own user, and callers with the
// assign verb on connections in its namespace; it answers 403 otherwise.
func (r *HeartbeatREST) authorizeBeat(ctx context.Context, caller user.Info, c *stream.Connection) error {
	return ownership.Authorize(ctx, r.authorizer, caller, ownership.Object{
		Resource:  streamv1alpha1.SchemeGroupVersion.WithResource("connections"),
		Namespace: c.Namespace,
		Name:      c.Name,
		Owner:     c.Spec.User,
	}, "send heartbeats for")
}
