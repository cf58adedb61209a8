package feed

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/bridge/identity"
	"github.com/streamspace/controlplane/pkg/bridge/shares"
)

// Retries of a shared session the caller may not read yet (the Role of a
// new share is made by the sessionshare controller a moment after the
// share) or whose watch failed: from half a second, doubling, to 30 s.
const (
	sharedRetryBase = 500 * time.Millisecond
	sharedRetryMax  = 30 * time.Second
)

// errNotGranted: the index has shares of a session for the caller, but the
// caller may not read them, or the session, yet.
var errNotGranted = errors.New("the caller may not read the share or the session yet")

// sharedSessions keeps a feed's sessions shared with the caller. The index
// (the bridge's own identity) says which of the caller's shares changed;
// for each session concerned, a queue worker reads the shares as the caller
// (shares.Verify) and, while they grant anything, watches the session as
// the caller, with a watch of that one session (shared, like every watch,
// only by feeds of the same token). When the index loses the last share of
// a session, its watch stops and the client is told the session is
// deleted: a revoke or an expiry takes the session off the feed within
// moments, not when kube-apiserver next ends the watch.
type sharedSessions struct {
	feed    *sessionFeed
	caller  *identity.Caller
	grantee shares.Grantee
	index   *shares.Index
	watches *watchPool

	queue       workqueue.TypedRateLimitingInterface[string] // namespace/session
	unsubscribe func()
	cancel      context.CancelFunc
	done        chan struct{} // closed when the worker has stopped
	// followed is touched by the worker alone (and by start before it).
	followed map[string]*followedSession
}

// followedSession is the watch of one shared session.
type followedSession struct {
	watch   *sharedWatch
	release func()
	stopped chan struct{}
}

func newSharedSessions(feed *sessionFeed, c *identity.Caller, index *shares.Index, watches *watchPool) *sharedSessions {
	return &sharedSessions{
		feed: feed, caller: c, grantee: shares.GranteeOf(c), index: index, watches: watches,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](sharedRetryBase, sharedRetryMax),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: ""}),
		done:     make(chan struct{}),
		followed: map[string]*followedSession{},
	}
}

// start follows the caller's shares: it waits, within firstList, for the
// index and for the sessions shared with the caller now, so that the
// feed's first snapshot has them, then keeps following until ctx ends or
// stop is called.
func (s *sharedSessions) start(ctx context.Context, firstList time.Duration) error {
	logger := klog.LoggerWithValues(klog.LoggerWithName(klog.FromContext(ctx), "shared-sessions"), "user", s.caller.Username())
	ctx, s.cancel = context.WithCancel(klog.NewContext(ctx, logger))
	unsubscribe, err := s.index.Subscribe(s.grantee.User, s.grantee.Groups, func(namespace, session string) {
		s.queue.Add(namespace + "/" + session)
	})
	if err != nil {
		s.cancel()
		return fmt.Errorf("subscribe to the index of shares: %w", err)
	}
	s.unsubscribe = unsubscribe
	firstCtx, cancel := context.WithTimeout(ctx, firstList)
	defer cancel()
	if !s.index.Ready(firstCtx) {
		logger.V(2).Info("the index of shares is not ready; the feed shows the sessions shared with the caller once it is")
	}
	// The shares there are now; the subscription queues each of them too
	// as it replays the index, and the queue holds a key once.
	for _, share := range s.index.Naming(s.grantee.User, s.grantee.Groups, metav1.NamespaceAll) {
		s.queue.Add(share.Namespace + "/" + share.Spec.Session)
	}
	for s.queue.Len() > 0 && firstCtx.Err() == nil {
		s.processNext(firstCtx)
	}
	go func() {
		defer close(s.done)
		for s.processNext(ctx) {
		}
	}()
	go func() {
		<-ctx.Done()
		s.queue.ShutDown()
	}()
	return nil
}

// stop ends the worker and every watch of a shared session.
func (s *sharedSessions) stop() {
	s.cancel()
	s.unsubscribe()
	s.queue.ShutDown()
	<-s.done
	for key := range s.followed {
		s.unfollow(key)
	}
}

func (s *sharedSessions) processNext(ctx context.Context) bool {
	key, shutdown := s.queue.Get()
	if shutdown {
		return false
	}
	defer s.queue.Done(key)
	err := s.sync(ctx, key)
	switch {
	case err == nil:
		s.queue.Forget(key)
	case errors.Is(err, errNotGranted):
		klog.FromContext(ctx).V(4).Info("shared session not readable yet; trying again", "session", key)
		s.queue.AddRateLimited(key)
	default:
		klog.FromContext(ctx).V(2).Info("follow a shared session; trying again", "session", key, "err", err)
		s.queue.AddRateLimited(key)
	}
	return true
}

// sync brings the feed's view of one shared session in line with the
// caller's shares of it.
func (s *sharedSessions) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	candidates := s.index.OfSession(namespace, name, s.grantee.User, s.grantee.Groups)
	if len(candidates) == 0 {
		s.unfollow(key)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, firstListTimeout)
	defer cancel()
	grant, ok, err := shares.Verify(ctx, s.grantee, candidates, time.Now())
	if err != nil {
		return err
	}
	if !ok {
		s.unfollow(key)
		return errNotGranted
	}
	if grant.Until != nil {
		// The index drops an expired share, which the controller deletes
		// at its expiry anyway; look again then.
		s.queue.AddAfter(key, time.Until(*grant.Until)+time.Second)
	}
	if f := s.followed[key]; f != nil {
		select {
		case <-f.watch.Failed():
			s.unfollow(key)
		default:
			s.feed.setGrant(key, grant)
			return nil
		}
	}
	watch, release, err := s.watches.acquireOne(ctx, s.caller, sessionsResource, namespace, name)
	if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
		return errNotGranted
	}
	if err != nil {
		return err
	}
	// The grant first: the watch's events then find the session shared.
	s.feed.setGrant(key, grant)
	registration, err := watch.informer.AddEventHandler(sharedSessionEvents{feed: s.feed, key: key})
	if err != nil {
		release()
		s.feed.dropShared(key)
		return err
	}
	f := &followedSession{watch: watch, stopped: make(chan struct{})}
	f.release = func() {
		_ = watch.informer.RemoveEventHandler(registration)
		release()
	}
	s.followed[key] = f
	// A watch the API stops accepting (the share's Role is gone, say) is
	// looked at again.
	go func() {
		select {
		case <-watch.Failed():
			s.queue.AddRateLimited(key)
		case <-f.stopped:
		}
	}()
	select {
	case <-registration.HasSyncedChecker().Done():
	case <-ctx.Done():
	}
	return nil
}

// unfollow stops the watch of a session no longer shared with the caller
// and takes it off the feed.
func (s *sharedSessions) unfollow(key string) {
	if f := s.followed[key]; f != nil {
		close(f.stopped)
		f.release()
		delete(s.followed, key)
	}
	s.feed.dropShared(key)
}
