package connection

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/ownership"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// Leases records heartbeats outside the Connection object (package
// postgres, connection_leases).
type Leases interface {
	// Beat records a heartbeat of namespace/name with uid and returns its
	// time, or found false when no such connection exists.
	Beat(ctx context.Context, namespace, name, uid string) (at time.Time, found bool, err error)
}

// HeartbeatREST serves POST connections/{name}/heartbeat: it records the
// heartbeat in the connection's lease (one batched statement, no
// resourceVersion, no history, no watch event) and answers the Connection
// with status.lastHeartbeat set to the time recorded. The Connection object
// itself is updated only when it matters: when its state is not active (the
// first heartbeat after being marked stale), before the answer, which then
// carries the new object; and when its persisted lastHeartbeat is far
// enough behind (persistDue: between half of persistEvery and
// persistEvery), after the answer, in the background (Run), so the object,
// and every watcher of connections, sees a viewer's liveness at that
// resolution while reaping uses the lease (see Reaper and
// docs/heartbeats.md). A background write that is lost (the server stops,
// the write fails) costs nothing but resolution: the lease holds the
// heartbeat, and the next heartbeat finds the write still due.
//
// Only the connection's own user (spec.user) may send its heartbeats, or a
// caller RBAC grants the "assign" verb on connections (package ownership):
// RBAC on connections/heartbeat alone would let anyone in the namespace
// keep someone else's viewer, and so the session, awake. Admission sees
// this create with the request body only, so the rule is applied here,
// where the connection is read.
type HeartbeatREST struct {
	status       *storebuilder.StatusREST
	leases       Leases
	authorizer   authorizer.Authorizer
	persistEvery time.Duration
	now          func() time.Time

	// The background writes due: connections in queue, each with the
	// latest heartbeat to write in due.
	queue workqueue.TypedInterface[types.NamespacedName]
	mu    sync.Mutex
	due   map[types.NamespacedName]metav1.Time
}

// persistWorkers is how many background writes of heartbeats run at once;
// the storage commits concurrent writes together.
const persistWorkers = 4

var (
	_ rest.NamedCreater    = &HeartbeatREST{}
	_ rest.StorageMetadata = &HeartbeatREST{}
)

// NewHeartbeatREST returns the heartbeat subresource over the status
// storage and the leases; authz decides whether a caller may beat for
// another user; persistEvery is the resolution of status.lastHeartbeat in
// the object.
func NewHeartbeatREST(status *storebuilder.StatusREST, leases Leases, authz authorizer.Authorizer, persistEvery time.Duration) *HeartbeatREST {
	return &HeartbeatREST{status: status, leases: leases, authorizer: authz, persistEvery: persistEvery, now: time.Now,
		queue: workqueue.NewTyped[types.NamespacedName](), due: map[types.NamespacedName]metav1.Time{}}
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
	if len(options.DryRun) > 0 {
		return r.persist(ctx, name, caller, metav1.NewTime(r.now()), options.DryRun)
	}
	// The watch cache's copy is enough to decide: the lease statement
	// checks the uid, so a connection deleted (or replaced) meanwhile is
	// caught there, and then read again from the database. One the cache
	// does not have yet (just created) is read from the database.
	c, err := r.get(ctx, name, "0")
	if apierrors.IsNotFound(err) {
		c, err = r.get(ctx, name, "")
	}
	if err != nil {
		return nil, err
	}
	at, found, err := r.beat(ctx, caller, c)
	if err == nil && !found {
		if c, err = r.get(ctx, name, ""); err != nil {
			return nil, err
		}
		at, found, err = r.beat(ctx, caller, c)
	}
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, apierrors.NewNotFound(stream.Resource("connections"), name)
	}
	beat := metav1.NewTime(at)
	if c.Status.State != stream.ConnectionStateActive {
		return r.persist(ctx, name, caller, beat, nil)
	}
	if persistDue(c, at, r.persistEvery) {
		r.persistLater(types.NamespacedName{Namespace: c.Namespace, Name: c.Name}, beat)
	}
	c = c.DeepCopy()
	c.Status.LastHeartbeat = &beat
	return c, nil
}

// persistDue reports whether a heartbeat at `at` is to be written into the
// Connection: when its persisted lastHeartbeat is older than a threshold
// between every/2 and every. The threshold is drawn from the connection's
// uid and the persisted time, so every replica decides alike for one
// object, and a new one is drawn after each write: viewers who connected
// together (a class at nine, a fleet opened at once) would otherwise write
// their Connections together, every `every`, in a burst of updates and the
// controllers' reactions to them, which is what the heartbeats' tail
// latency queues behind. Spread over half the interval, their writes
// decorrelate further with each one.
func persistDue(c *stream.Connection, at time.Time, every time.Duration) bool {
	if c.Status.LastHeartbeat == nil {
		return true
	}
	age := at.Sub(c.Status.LastHeartbeat.Time)
	if age >= every {
		return true
	}
	if age < every/2 {
		return false
	}
	h := fnv.New64a()
	h.Write([]byte(c.UID))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(c.Status.LastHeartbeat.UnixNano()))
	h.Write(b[:])
	threshold := every/2 + time.Duration(h.Sum64()%uint64(every/2+1))
	return age >= threshold
}

func (r *HeartbeatREST) get(ctx context.Context, name, resourceVersion string) (*stream.Connection, error) {
	obj, err := r.status.Get(ctx, name, &metav1.GetOptions{ResourceVersion: resourceVersion})
	if err != nil {
		return nil, err
	}
	c, ok := obj.(*stream.Connection)
	if !ok {
		return nil, fmt.Errorf("not a Connection: %T", obj)
	}
	return c, nil
}

// beat checks that caller may beat for c and records the heartbeat in its lease.
func (r *HeartbeatREST) beat(ctx context.Context, caller user.Info, c *stream.Connection) (time.Time, bool, error) {
	if c.DeletionTimestamp != nil {
		return time.Time{}, false, apierrors.NewConflict(stream.Resource("connections"), c.Name, fmt.Errorf("the connection is being deleted"))
	}
	if err := r.authorizeBeat(ctx, caller, c); err != nil {
		return time.Time{}, false, err
	}
	return r.leases.Beat(ctx, c.Namespace, c.Name, string(c.UID))
}

// persistLater queues the write of heartbeat at into connection key.
func (r *HeartbeatREST) persistLater(key types.NamespacedName, at metav1.Time) {
	r.mu.Lock()
	if prev, ok := r.due[key]; !ok || prev.Before(&at) {
		r.due[key] = at
	}
	r.mu.Unlock()
	r.queue.Add(key)
}

// Run writes the queued heartbeats into their Connections until ctx ends.
func (r *HeartbeatREST) Run(ctx context.Context) {
	logger := klog.FromContext(ctx).WithName("heartbeat-persister")
	var wg sync.WaitGroup
	for range persistWorkers {
		wg.Go(func() {
			for r.persistNext(klog.NewContext(ctx, logger)) {
			}
		})
	}
	<-ctx.Done()
	r.queue.ShutDown()
	wg.Wait()
}

// persistNext writes the next queued heartbeat; false once the queue is
// shut down. The caller's right to beat was checked when the heartbeat was
// recorded; a connection gone, being deleted or marked stale since, or
// written meanwhile, is left alone.
func (r *HeartbeatREST) persistNext(ctx context.Context) bool {
	key, shutdown := r.queue.Get()
	if shutdown {
		return false
	}
	defer r.queue.Done(key)
	r.mu.Lock()
	at, ok := r.due[key]
	delete(r.due, key)
	r.mu.Unlock()
	if !ok {
		return true
	}
	ctx = genericapirequest.WithNamespace(ctx, key.Namespace)
	if _, err := r.persist(ctx, key.Name, nil, at, nil); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		klog.FromContext(ctx).V(2).Info("Heartbeat not written into the connection; the next one will", "connection", key, "err", err)
	}
	return true
}

// persist writes the heartbeat into the Connection object: state active
// and lastHeartbeat at (never moving it back), in one guaranteed update
// with no resourceVersion precondition, so it never conflicts. A nil caller
// is the background write of a heartbeat whose sender was checked when it
// was recorded: no check is made, and the write is made only if the stored
// connection is active and its write still due.
func (r *HeartbeatREST) persist(ctx context.Context, name string, caller user.Info, at metav1.Time, dryRun []string) (runtime.Object, error) {
	// spec.user is immutable, so one decision holds for every retry of the
	// update; the authorizer is only asked when the caller is someone else.
	ownerChecked := caller == nil
	beat := func(ctx context.Context, _, oldObj runtime.Object) (runtime.Object, error) {
		// DefaultUpdatedObjectInfo without an object passes nil as newObj:
		// the update starts from the stored object.
		c := oldObj.DeepCopyObject().(*stream.Connection)
		if c.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(stream.Resource("connections"), name, fmt.Errorf("the connection is being deleted"))
		}
		if caller == nil && (c.Status.State != stream.ConnectionStateActive || !persistDue(c, at.Time, r.persistEvery)) {
			// A background write neither revives a connection marked
			// stale since (its lease decides) nor repeats a write made
			// meanwhile.
			return nil, apierrors.NewConflict(stream.Resource("connections"), name, fmt.Errorf("the heartbeat's write is no longer due"))
		}
		if !ownerChecked {
			if err := r.authorizeBeat(ctx, caller, c); err != nil {
				return nil, err
			}
			ownerChecked = true
		}
		if c.Status.LastHeartbeat == nil || c.Status.LastHeartbeat.Before(&at) {
			c.Status.LastHeartbeat = &at
		}
		c.Status.State = stream.ConnectionStateActive
		return c, nil
	}
	updated, _, err := r.status.Update(ctx, name, rest.DefaultUpdatedObjectInfo(nil, beat),
		rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{DryRun: dryRun})
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
