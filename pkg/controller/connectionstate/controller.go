// Package connectionstate is the controller of viewers: it removes connections
// whose heartbeats stopped (with an Event on the session) and keeps each
// session's connection counters: activeConnections, lastConnection,
// lastDisconnect and lastActivity.
package connectionstate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/connectionindex"
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/metrics"
	"github.com/streamspace/controlplane/pkg/controller/platformconfig"
	"github.com/streamspace/controlplane/pkg/controller/statusapply"
	"github.com/streamspace/controlplane/pkg/controller/worker"
	streamapply "github.com/streamspace/controlplane/pkg/generated/applyconfiguration/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	streaminformers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions/stream/v1alpha1"
	streamlisters "github.com/streamspace/controlplane/pkg/generated/listers/stream/v1alpha1"
)

// Name is the controller's name in --controllers.
const Name = "connection"

// ReasonStaleConnectionRemoved is the Event reason on a session whose viewer went silent.
const ReasonStaleConnectionRemoved = "StaleConnectionRemoved"

// Options configure connection tracking.
type Options struct {
	// StaleTimeout: a connection without a heartbeat for this long is removed.
	StaleTimeout time.Duration
}

// AddFlags adds the connection controller's flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.StaleTimeout, "stale-connection-timeout", o.StaleTimeout, "A Connection without a heartbeat for this long is stale and deleted (clients send one every 30s).")
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.StaleTimeout <= 0 {
		return fmt.Errorf("--stale-connection-timeout must be positive, got %s", o.StaleTimeout)
	}
	return nil
}

// Registration registers the controller with its default options.
func Registration() manager.Registration {
	opts := &Options{StaleTimeout: 60 * time.Second}
	return manager.Registration{Name: Name, Options: opts, New: func(c manager.Context) (manager.Controller, error) {
		return New(c, *opts)
	}}
}

// Controller reaps stale connections and counts connections per session.
type Controller struct {
	opts        Options
	stream      clientset.Interface
	clock       clock.Clock
	recorder    record.EventRecorder
	sessions    streamlisters.SessionLister
	connections streamlisters.ConnectionLister
	connInf     streaminformers.ConnectionInformer
	synced      []cache.InformerSynced

	// connQueue holds connection keys to check for staleness; sessionQueue
	// session keys whose counters to refresh.
	connQueue    workqueue.TypedRateLimitingInterface[string]
	sessionQueue workqueue.TypedRateLimitingInterface[string]

	// disconnects remembers when a session last lost a connection, until
	// its status records it.
	mu          sync.Mutex
	disconnects map[string]time.Time

	// While the API is unreachable (the connection watch fails), viewers
	// cannot send heartbeats either: their silence only counts from when
	// the API answered again (reachableSince), not from before the outage.
	outageNoticed  bool
	reachableSince time.Time

	// config may set the stale timeout over opts.
	config *platformconfig.Source
}

// staleTimeout is the platform configuration's, else the flag's.
func (c *Controller) staleTimeout() time.Duration {
	return c.config.StaleConnectionTimeout(c.opts.StaleTimeout)
}

// New builds the controller.
func New(c manager.Context, opts Options) (*Controller, error) {
	sessionInf := c.StreamInformers.Stream().V1alpha1().Sessions()
	connInf := c.StreamInformers.Stream().V1alpha1().Connections()
	if err := connectionindex.IndexBySession(connInf); err != nil {
		return nil, err
	}
	newQueue := func(name string) workqueue.TypedRateLimitingInterface[string] {
		return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name, Clock: c.Clock})
	}
	config := platformconfig.New(c.StreamInformers)
	ctrl := &Controller{
		opts: opts, stream: c.StreamClient, clock: c.Clock, recorder: c.EventRecorder(Name),
		sessions: sessionInf.Lister(), connections: connInf.Lister(), connInf: connInf, config: config,
		synced:       []cache.InformerSynced{sessionInf.Informer().HasSynced, connInf.Informer().HasSynced, config.HasSynced},
		connQueue:    newQueue("connection-staleness"),
		sessionQueue: newQueue("connection-counters"),
		disconnects:  map[string]time.Time{},
	}
	// A new stale timeout applies to every connection's deadline.
	if err := platformconfig.RequeueOnChange(config, ctrl.connections.List,
		func(conn *streamv1alpha1.Connection) { ctrl.connectionChanged(conn) }); err != nil {
		return nil, err
	}
	if err := connInf.Informer().SetWatchErrorHandlerWithContext(ctrl.watchFailed); err != nil {
		return nil, fmt.Errorf("watch connections: %w", err)
	}
	if _, err := connInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctrl.connectionChanged,
		UpdateFunc: func(_, obj any) { ctrl.connectionChanged(obj) },
		DeleteFunc: ctrl.connectionDeleted,
	}); err != nil {
		return nil, fmt.Errorf("watch connections: %w", err)
	}
	if _, err := sessionInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
				ctrl.sessionQueue.Add(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch sessions: %w", err)
	}
	return ctrl, nil
}

func (c *Controller) connectionChanged(obj any) {
	conn, ok := obj.(*streamv1alpha1.Connection)
	if !ok {
		return
	}
	c.connQueue.Add(conn.Namespace + "/" + conn.Name)
	c.sessionQueue.Add(conn.Namespace + "/" + conn.Spec.Session)
}

func (c *Controller) connectionDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	conn, ok := obj.(*streamv1alpha1.Connection)
	if !ok {
		return
	}
	key := conn.Namespace + "/" + conn.Spec.Session
	c.mu.Lock()
	c.disconnects[key] = c.clock.Now()
	c.mu.Unlock()
	c.sessionQueue.Add(key)
}

// Run implements manager.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return worker.Run(ctx, Name, c.synced,
		worker.Queue{Queue: c.connQueue, Workers: workers, What: "reap stale connection", Sync: c.reapIfStale},
		worker.Queue{Queue: c.sessionQueue, Workers: workers, What: "update connection counters", Sync: c.updateCounters})
}

// LastSeen is the last sign of life of a connection: its last heartbeat,
// else when it connected, else when it was created.
func LastSeen(c *streamv1alpha1.Connection) time.Time {
	last := c.CreationTimestamp.Time
	for _, t := range []*metav1.Time{c.Status.ConnectedAt, c.Status.LastHeartbeat} {
		if t != nil && t.After(last) {
			last = t.Time
		}
	}
	return last
}

// reapIfStale deletes a connection silent for the stale timeout, or checks
// it again when it would become stale.
func (c *Controller) reapIfStale(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	conn, err := c.connections.Connections(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if conn.DeletionTimestamp != nil {
		return nil
	}
	now := c.clock.Now()
	c.mu.Lock()
	silentSince, outage := LastSeen(conn), c.outageNoticed
	if silentSince.Before(c.reachableSince) {
		silentSince = c.reachableSince
	}
	c.mu.Unlock()
	silent := now.Sub(silentSince)
	if silent < c.staleTimeout() {
		c.connQueue.AddAfter(key, c.staleTimeout()-silent)
		return nil
	}
	if outage {
		// The API was unreachable meanwhile (viewers' heartbeats failed as
		// this controller's calls did): once it answers, every viewer gets
		// a full stale timeout to send its next heartbeat.
		if _, err := c.stream.StreamV1alpha1().Connections(namespace).Get(ctx, name, metav1.GetOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("check that the API answers again before removing connection %s: %w", key, err)
		}
		c.mu.Lock()
		c.outageNoticed, c.reachableSince = false, now
		c.mu.Unlock()
		klog.FromContext(ctx).Info("the API answers again after an outage; silent connections get a full stale timeout", "staleTimeout", c.staleTimeout())
		c.connQueue.AddAfter(key, c.staleTimeout())
		return nil
	}
	// The precondition makes a heartbeat that raced with this decision win.
	rv, uid := conn.ResourceVersion, conn.UID
	err = c.stream.StreamV1alpha1().Connections(namespace).Delete(ctx, name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{ResourceVersion: &rv, UID: &uid},
	})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		c.connQueue.AddAfter(key, time.Second) // a heartbeat came in; look again when the cache has it
		return nil
	case err != nil:
		if unreachable(err) {
			c.noticeOutage()
		}
		return fmt.Errorf("delete stale connection %s: %w", key, err)
	}
	metrics.StaleConnectionsRemoved.Inc()
	klog.FromContext(ctx).Info("removed stale connection", "connection", klog.KObj(conn), "session", conn.Spec.Session, "user", conn.Spec.User, "silentFor", silent.Round(time.Second))
	if s, err := c.sessions.Sessions(namespace).Get(conn.Spec.Session); err == nil {
		c.recorder.Eventf(s, corev1.EventTypeNormal, ReasonStaleConnectionRemoved,
			"Removed connection %s of %s: no heartbeat for %s (stale after %s)", name, conn.Spec.User, silent.Round(time.Second), c.staleTimeout())
	}
	return nil
}

// watchFailed notes an outage of the API when the connection watch fails
// (not when it merely ends) and logs the error as the informer would.
func (c *Controller) watchFailed(ctx context.Context, r *cache.Reflector, err error) {
	if unreachable(err) {
		c.noticeOutage()
	}
	cache.DefaultWatchErrorHandler(ctx, r, err)
}

func (c *Controller) noticeOutage() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outageNoticed = true
}

// unreachable tells errors of an API that cannot answer (down, shutting
// down, overloaded, or not reachable at all) from answers about the object.
func unreachable(err error) bool {
	var netErr net.Error
	return apierrors.IsServiceUnavailable(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsInternalError(err) || apierrors.IsTooManyRequests(err) || apierrors.IsUnexpectedServerError(err) ||
		utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		errors.As(err, &netErr)
}

// activityResolution bounds how often lastActivity is written while
// viewers heartbeat: not on every heartbeat.
func (c *Controller) activityResolution() time.Duration {
	return min(30*time.Second, c.staleTimeout()/2)
}

// updateCounters writes a session's connection counters.
func (c *Controller) updateCounters(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	s, err := c.sessions.Sessions(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.forgetDisconnect(key, time.Time{})
		return nil
	}
	if err != nil {
		return err
	}
	conns, err := connectionindex.OfSession(c.connInf, namespace, name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	disconnectedAt, sawDisconnect := c.disconnects[key]
	c.mu.Unlock()

	next := Counters(s.Status, conns, c.clock.Now(), disconnectedAt, sawDisconnect, c.activityResolution())
	desired := statusApply(&next)
	changed, err := statusapply.Changed(statusApply(&s.Status), desired)
	if err != nil {
		return err
	}
	if changed {
		apply := streamapply.Session(name, namespace).WithStatus(desired)
		if _, err := c.stream.StreamV1alpha1().Sessions(namespace).ApplyStatus(ctx, apply, statusapply.Options(fieldManager)); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("update connection counters of session %s: %w", key, err)
		}
	}
	c.forgetDisconnect(key, disconnectedAt)
	return nil
}

// fieldManager owns the connection counters of a session's status:
// activeConnections, lastConnection, lastDisconnect and lastActivity.
const fieldManager = "connection-controller"

// statusApply is the apply configuration of the connection counters.
func statusApply(st *streamv1alpha1.SessionStatus) *streamapply.SessionStatusApplyConfiguration {
	a := streamapply.SessionStatus().WithActiveConnections(st.ActiveConnections)
	if st.LastConnection != nil {
		a.WithLastConnection(*st.LastConnection)
	}
	if st.LastDisconnect != nil {
		a.WithLastDisconnect(*st.LastDisconnect)
	}
	if st.LastActivity != nil {
		a.WithLastActivity(*st.LastActivity)
	}
	return a
}

// forgetDisconnect drops a recorded disconnect once written, unless a newer
// one arrived meanwhile.
func (c *Controller) forgetDisconnect(key string, written time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.disconnects[key]; ok && (written.IsZero() || !t.After(written)) {
		delete(c.disconnects, key)
	}
}

// Counters computes a session's connection counters from its live
// connections. A disconnect is recorded when a connection was seen deleted
// or when fewer connections are live than the status counted (a restarted
// controller did not see the delete: it records the time it noticed).
func Counters(st streamv1alpha1.SessionStatus, conns []*streamv1alpha1.Connection, now, disconnectedAt time.Time, sawDisconnect bool, resolution time.Duration) streamv1alpha1.SessionStatus {
	next := *st.DeepCopy()
	next.ActiveConnections = int32(len(conns))
	later := func(cur *metav1.Time, t time.Time) *metav1.Time {
		if cur == nil || t.After(cur.Time) {
			mt := metav1.NewTime(t)
			return &mt
		}
		return cur
	}
	for _, conn := range conns {
		connected := conn.CreationTimestamp.Time
		if conn.Status.ConnectedAt != nil {
			connected = conn.Status.ConnectedAt.Time
		}
		next.LastConnection = later(next.LastConnection, connected)
		if seen := LastSeen(conn); next.LastActivity == nil || seen.Sub(next.LastActivity.Time) >= resolution {
			next.LastActivity = later(next.LastActivity, seen)
		}
		if next.LastActivity == nil || connected.After(next.LastActivity.Time) {
			next.LastActivity = later(next.LastActivity, connected)
		}
	}
	if !sawDisconnect && next.ActiveConnections < st.ActiveConnections {
		disconnectedAt, sawDisconnect = now, true
	}
	if sawDisconnect && !disconnectedAt.IsZero() {
		// Stored timestamps have whole seconds: rounding down would start
		// the idle countdown before the viewer left, so round up.
		disconnectedAt = CeilSecond(disconnectedAt)
		next.LastDisconnect = later(next.LastDisconnect, disconnectedAt)
		if next.ActiveConnections == 0 {
			next.LastActivity = later(next.LastActivity, disconnectedAt)
		}
	}
	return next
}

// CeilSecond rounds t up to a whole second, the resolution of stored times.
func CeilSecond(t time.Time) time.Time {
	if down := t.Truncate(time.Second); !down.Equal(t) {
		return down.Add(time.Second)
	}
	return t
}
