// Package connectionstate is the controller of viewers: it keeps each
// session's connection counters (activeConnections, lastConnection,
// lastDisconnect and lastActivity) and records an Event on the session when
// a viewer's connection was removed because its heartbeats stopped. The
// removal itself is streamspace-apiserver's, where heartbeats are recorded
// (package pkg/registry/stream/connection, Reaper; docs/heartbeats.md).
package connectionstate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
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
	// StaleTimeout: a connection without a heartbeat for this long is
	// removed (by streamspace-apiserver, whose --stale-connection-timeout
	// must be the same); here it sets the resolution of lastActivity.
	StaleTimeout time.Duration
}

// AddFlags adds the connection controller's flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.StaleTimeout, "stale-connection-timeout", o.StaleTimeout, "A Connection without a heartbeat for this long is stale (streamspace-apiserver deletes it, by its flag of the same name); sets how often a session's lastActivity follows its viewers' heartbeats.")
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

	// sessionQueue holds session keys whose counters to refresh.
	sessionQueue workqueue.TypedRateLimitingInterface[string]

	// disconnects remembers when a session last lost a connection, until
	// its status records it.
	mu          sync.Mutex
	disconnects map[string]time.Time

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
		sessionQueue: newQueue("connection-counters"),
		disconnects:  map[string]time.Time{},
	}
	// A new stale timeout changes the resolution of lastActivity.
	if err := platformconfig.RequeueOnChange(config, ctrl.connections.List,
		func(conn *streamv1alpha1.Connection) { ctrl.connectionChanged(conn) }); err != nil {
		return nil, err
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
	// The reaper marks a connection stale before it deletes it.
	if conn.Status.State == streamv1alpha1.ConnectionStateStale {
		metrics.StaleConnectionsRemoved.Inc()
		if s, err := c.sessions.Sessions(conn.Namespace).Get(conn.Spec.Session); err == nil {
			c.recorder.Eventf(s, corev1.EventTypeNormal, ReasonStaleConnectionRemoved,
				"Removed connection %s of %s: no heartbeat for %s (last persisted heartbeat %s)", conn.Name, conn.Spec.User, c.staleTimeout(), persistedBeat(conn))
		}
	}
}

func persistedBeat(conn *streamv1alpha1.Connection) string {
	if conn.Status.LastHeartbeat == nil {
		return "none"
	}
	return conn.Status.LastHeartbeat.UTC().Format(time.RFC3339)
}

// Run implements manager.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return worker.Run(ctx, Name, c.synced,
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

// activityRefresh is how often lastActivity follows the heartbeats of
// connected viewers. While a session has viewers its lastActivity decides
// nothing (a session with connections never hibernates, and the last
// disconnect sets lastActivity exactly), so it is refreshed at the
// resolution at which streamspace-apiserver persists heartbeats into the
// Connections (its --heartbeat-persist-interval, 5 minutes by default)
// instead of on each persisted heartbeat of each viewer: every refresh is a
// session write, with its watch events to every informer of sessions.
const activityRefresh = 5 * time.Minute

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

	next := Counters(s.Status, conns, c.clock.Now(), disconnectedAt, sawDisconnect, activityRefresh)
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
