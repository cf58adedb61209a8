package users

import (
	"context"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// Store is the part of the Users' registry store the recorder writes through
// (genericregistry.Store): an update that creates when absent, retried on
// conflicts, so replicas recording the same person at once do not lose writes.
type Store interface {
	Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc,
		updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error)
}

// Options configure a Recorder.
type Options struct {
	// AdminGroup is the group whose members get the admin role.
	AdminGroup string
	// Interval is how stale a User's last-seen time may get before a
	// request writes it again, when nothing else changed.
	Interval time.Duration
	// QueueLength bounds the writes waiting; requests beyond it are not
	// recorded (and counted), never delayed.
	QueueLength int
	// Ignore are usernames not recorded besides the system: ones (e.g.
	// kube-apiserver's client certificate for the token webhook).
	Ignore []string
	// Clock is the time source (tests).
	Clock clock.Clock
}

// DefaultInterval and DefaultQueueLength are the defaults of Options.
const (
	DefaultInterval    = time.Minute
	DefaultQueueLength = 1024
	// maxRemembered bounds the recorder's memory of what it wrote: past
	// it, the memory is dropped and each person's next request writes again.
	maxRemembered = 100000
	// writeTimeout bounds one write.
	writeTimeout = 10 * time.Second
	// retryDelay is how long after a failed write a request writes again.
	retryDelay = 10 * time.Second
)

// Recorder keeps the Users of the callers up to date. Observe never blocks:
// it decides from memory whether the caller's User needs a write (see
// changed) and queues it; one worker (Run) writes the queue through the
// store. Requests are observed from the start, before the storage exists;
// what they queue is written once Run starts.
type Recorder struct {
	opts  Options
	queue chan observation

	mu         sync.Mutex
	remembered map[string]*record // by username
}

type observation struct {
	id  Identity
	now time.Time
}

// NewRecorder returns a Recorder; Run starts its worker.
func NewRecorder(opts Options) *Recorder {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.QueueLength <= 0 {
		opts.QueueLength = DefaultQueueLength
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	registerMetrics()
	return &Recorder{opts: opts, queue: make(chan observation, opts.QueueLength), remembered: map[string]*record{}}
}

// Observe notes a request of u. It returns at once; the write, if one is
// due, happens in the background.
func (r *Recorder) Observe(ctx context.Context, u user.Info) {
	if slices.Contains(r.opts.Ignore, u.GetName()) {
		return
	}
	if ok, reason := Recorded(u); !ok {
		klog.FromContext(ctx).V(6).Info("not recording caller", "user", u.GetName(), "reason", reason)
		return
	}
	id := IdentityOf(u)
	now := r.opts.Clock.Now()

	r.mu.Lock()
	last := r.remembered[id.Name]
	if !changed(last, id, now, r.opts.Interval) {
		r.mu.Unlock()
		return
	}
	if len(r.remembered) >= maxRemembered {
		r.remembered = map[string]*record{}
	}
	// Remembered before the write so that the requests that follow do not
	// queue it again; forgotten again if it cannot be queued or fails.
	rec := &record{id: id, seen: now}
	r.remembered[id.Name] = rec
	r.mu.Unlock()

	select {
	case r.queue <- observation{id: id, now: now}:
	default:
		recordsDropped.Inc()
		r.forget(rec)
	}
}

// forget drops rec from memory if it is still the remembered one.
func (r *Recorder) forget(rec *record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.remembered[rec.id.Name] == rec {
		delete(r.remembered, rec.id.Name)
	}
}

// Run writes queued observations through store until ctx ends.
func (r *Recorder) Run(ctx context.Context, store Store) {
	logger := klog.FromContext(ctx).WithName("user-recorder")
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-r.queue:
			if err := r.write(ctx, store, o); err != nil {
				recordWrites.WithLabelValues("error").Inc()
				logger.Error(err, "recording user", "user", o.id.Name)
				r.retryLater(o)
				continue
			}
			recordWrites.WithLabelValues("success").Inc()
			logger.V(4).Info("recorded user", "user", o.id.Name)
		}
	}
}

// retryLater makes the next request of a person whose write failed write
// again after retryDelay rather than at once, so a failing storage is not
// hit by every request.
func (r *Recorder) retryLater(o observation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec := r.remembered[o.id.Name]; rec != nil && rec.seen.Equal(o.now) {
		rec.seen = o.now.Add(retryDelay - r.opts.Interval)
	}
}

func (r *Recorder) write(ctx context.Context, store Store, o observation) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	// The registry expects the request's namespace; Users have none.
	ctx = genericapirequest.WithNamespace(ctx, metav1.NamespaceNone)
	role := Role(o.id.Groups, r.opts.AdminGroup)
	update := func(_ context.Context, _, oldObj runtime.Object) (runtime.Object, error) {
		u, ok := oldObj.(*stream.User)
		if !ok {
			return nil, apierrors.NewInternalError(errUnexpectedType(oldObj))
		}
		u = u.DeepCopy()
		u.Name = o.id.Name
		u.Status = Merge(u.Status, o.id, role, o.now)
		return u, nil
	}
	_, _, err := store.Update(ctx, o.id.Name, rest.DefaultUpdatedObjectInfo(nil, update),
		rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, true, &metav1.UpdateOptions{})
	return err
}

// Merge returns the status of a User after a request of id at now: the
// uid, email and display name of the request (the stored ones when it has
// none: a token without those claims does not erase them), its groups and
// role; first seen only moves back, last seen and last login only forward. The
// last login is the identity's sign-in time, or now when unknown.
func Merge(old stream.UserStatus, id Identity, role stream.UserRole, now time.Time) stream.UserStatus {
	s := *old.DeepCopy()
	if id.UID != "" {
		s.UID = id.UID
	}
	if id.Email != "" {
		s.Email = id.Email
	}
	if id.DisplayName != "" {
		s.DisplayName = id.DisplayName
	}
	s.Groups = append([]string(nil), id.Groups...)
	s.Role = role
	seen := metav1.NewTime(now.UTC().Truncate(time.Second))
	if s.FirstSeen == nil || seen.Before(s.FirstSeen) {
		// Replicas may write their observations out of order.
		s.FirstSeen = &seen
	}
	if s.LastSeen == nil || s.LastSeen.Before(&seen) {
		s.LastSeen = &seen
	}
	login := seen
	if !id.LoginTime.IsZero() {
		login = metav1.NewTime(id.LoginTime.UTC().Truncate(time.Second))
	}
	if s.LastLogin == nil || s.LastLogin.Before(&login) {
		s.LastLogin = &login
	}
	return s
}
