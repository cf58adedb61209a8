package connection

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// HeartbeatREST serves POST connections/{name}/heartbeat: it sets
// status.lastHeartbeat to now and answers the Connection. It reads and
// writes in one guaranteed update with no resourceVersion precondition, so
// a heartbeat never conflicts, and costs one round trip for the client.
type HeartbeatREST struct {
	status *storebuilder.StatusREST
	now    func() time.Time
}

var (
	_ rest.NamedCreater    = &HeartbeatREST{}
	_ rest.StorageMetadata = &HeartbeatREST{}
)

// NewHeartbeatREST returns the heartbeat subresource over the status storage.
func NewHeartbeatREST(status *storebuilder.StatusREST) *HeartbeatREST {
	return &HeartbeatREST{status: status, now: time.Now}
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
	now := metav1.NewTime(r.now())
	beat := func(ctx context.Context, _, oldObj runtime.Object) (runtime.Object, error) {
		// DefaultUpdatedObjectInfo without an object passes nil as newObj:
		// the update starts from the stored object.
		c := oldObj.DeepCopyObject().(*stream.Connection)
		if c.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(stream.Resource("connections"), name, fmt.Errorf("the connection is being deleted"))
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
