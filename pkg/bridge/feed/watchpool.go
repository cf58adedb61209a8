package feed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
)

// watchResource names what a shared watch lists and watches.
type watchResource string

const (
	sessionsResource     watchResource = "sessions"
	connectionsResource  watchResource = "connections"
	templatesResource    watchResource = "templates"
	repositoriesResource watchResource = "templaterepositories"
)

// watchKey identifies a shared watch: a watch is shared only by feeds of
// the same token, so no user ever receives an event through someone else's
// permissions.
type watchKey struct {
	token     string // tokenHash
	resource  watchResource
	namespace string
	name      string // one object (a field selector on metadata.name), or "" for all
}

// sharedWatch is one informer (list, then watch; resumed from the last
// resource version when the watch breaks, relisted on 410 Gone) that every
// feed of one token on one resource and namespace subscribes to with its own
// event handler.
type sharedWatch struct {
	key      watchKey
	informer cache.SharedIndexInformer
	cancel   context.CancelFunc
	refs     int // guarded by watchPool.mu

	failOnce sync.Once
	failed   chan struct{} // closed when the token may no longer list or watch
	failErr  error

	mu      sync.Mutex
	lastErr error
}

// Failed is closed once the API refuses this token (401/403); Err says why.
func (w *sharedWatch) Failed() <-chan struct{} { return w.failed }

// Err is the refusal after Failed is closed.
func (w *sharedWatch) Err() error { return w.failErr }

func (w *sharedWatch) fail(err error) {
	w.failOnce.Do(func() {
		w.failErr = err
		close(w.failed)
		w.cancel()
	})
}

// listWatchFunc builds the lister-watcher of a resource for a caller: in
// namespace, and of the one object called name unless name is "".
type listWatchFunc func(c *identity.Caller, resource watchResource, namespace, name string) (cache.ListerWatcher, runtime.Object, error)

type watchPool struct {
	listWatch listWatchFunc

	mu      sync.Mutex
	watches map[watchKey]*sharedWatch
}

func newWatchPool() *watchPool {
	return &watchPool{listWatch: typedListWatch, watches: map[watchKey]*sharedWatch{}}
}

// acquire returns the caller's shared watch of resource in namespace ("" =
// all namespaces, and cluster-scoped resources), started if needed, once its
// first list has succeeded; release must be called when done with it. A
// refusal of the API (401, 403) comes back as that API error, before any
// WebSocket upgrade.
func (p *watchPool) acquire(ctx context.Context, c *identity.Caller, resource watchResource, namespace string) (*sharedWatch, func(), error) {
	return p.acquireKey(ctx, c, watchKey{token: c.TokenKey(), resource: resource, namespace: namespace})
}

// acquireOne is acquire of the one object called name: a list and watch
// with a metadata.name field selector, which RBAC allows to a caller who
// may read that object alone (resourceNames), as a share's Role does.
func (p *watchPool) acquireOne(ctx context.Context, c *identity.Caller, resource watchResource, namespace, name string) (*sharedWatch, func(), error) {
	return p.acquireKey(ctx, c, watchKey{token: c.TokenKey(), resource: resource, namespace: namespace, name: name})
}

func (p *watchPool) acquireKey(ctx context.Context, c *identity.Caller, key watchKey) (*sharedWatch, func(), error) {
	resource := key.resource
	p.mu.Lock()
	w := p.watches[key]
	if w == nil {
		var err error
		if w, err = p.start(klog.FromContext(ctx), c, key); err != nil {
			p.mu.Unlock()
			return nil, nil, err
		}
		p.watches[key] = w
	}
	w.refs++
	p.mu.Unlock()

	var once sync.Once
	release := func() { once.Do(func() { p.release(w) }) }
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for !w.informer.HasSynced() {
		select {
		case <-w.failed:
			release()
			return nil, nil, w.failErr
		case <-ctx.Done():
			release()
			w.mu.Lock()
			last := w.lastErr
			w.mu.Unlock()
			if last == nil {
				last = ctx.Err()
			}
			return nil, nil, apierrors.NewServiceUnavailable(fmt.Sprintf("the first list of %s did not complete: %v", resource, last))
		case <-poll.C:
		}
	}
	return w, release, nil
}

func (p *watchPool) start(logger klog.Logger, c *identity.Caller, key watchKey) (*sharedWatch, error) {
	logger = klog.LoggerWithValues(klog.LoggerWithName(logger, "watch"), "resource", key.resource, "namespace", key.namespace, "name", key.name)
	lw, example, err := p.listWatch(c, key.resource, key.namespace, key.name)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &sharedWatch{
		key:      key,
		informer: cache.NewSharedIndexInformer(lw, example, 0, cache.Indexers{}),
		cancel:   cancel,
		failed:   make(chan struct{}),
	}
	_ = w.informer.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		watchErrors.WithLabelValues(string(key.resource)).Inc()
		w.mu.Lock()
		w.lastErr = err
		w.mu.Unlock()
		// A refusal is the token's answer (expired, revoked, or its rights
		// taken away): the feeds end and the next one asks again.
		if apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) {
			w.fail(err)
			p.forget(w) // the next feed of this token asks again
			return
		}
		// The reflector resumes from its last resource version, or relists
		// after 410 Gone; only log.
		logger.V(2).Info("shared watch interrupted; resuming", "err", err)
	})
	sharedWatches.WithLabelValues(string(key.resource)).Inc()
	go w.informer.RunWithContext(ctx)
	return w, nil
}

func (p *watchPool) release(w *sharedWatch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w.refs--
	if w.refs > 0 {
		return
	}
	if p.watches[w.key] == w {
		delete(p.watches, w.key)
	}
	w.cancel()
	sharedWatches.WithLabelValues(string(w.key.resource)).Dec()
}

// forget drops a failed watch so the next feed of that token starts afresh
// (its permissions may have changed).
func (p *watchPool) forget(w *sharedWatch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.watches[w.key] == w {
		delete(p.watches, w.key)
	}
}

func (p *watchPool) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, w := range p.watches {
		w.cancel()
		delete(p.watches, key)
	}
}

// typedListWatch lists and watches with the caller's generated clients.
func typedListWatch(c *identity.Caller, resource watchResource, ns, name string) (cache.ListerWatcher, runtime.Object, error) {
	type client interface {
		Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	}
	selectName := func(o *metav1.ListOptions) {
		if name != "" {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}
	}
	listWatch := func(list func(context.Context, metav1.ListOptions) (runtime.Object, error), w client) cache.ListerWatcher {
		consistentList := func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			// The reflector's first list asks for "any" version ("0"), which
			// a watch cache may answer from slightly behind; a feed's first
			// snapshot must include writes the user has just made.
			if o.ResourceVersion == "0" {
				o.ResourceVersion, o.ResourceVersionMatch = "", ""
			}
			selectName(&o)
			return list(ctx, o)
		}
		watchName := func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			selectName(&o)
			return w.Watch(ctx, o)
		}
		return listThenWatch{&cache.ListWatch{ListWithContextFunc: consistentList, WatchFuncWithContext: watchName}}
	}
	stream, catalog := c.Stream().StreamV1alpha1(), c.Stream().CatalogV1alpha1()
	switch resource {
	case sessionsResource:
		cl := stream.Sessions(ns)
		return listWatch(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return cl.List(ctx, o) }, cl), &streamv1alpha1.Session{}, nil
	case connectionsResource:
		cl := stream.Connections(ns)
		return listWatch(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return cl.List(ctx, o) }, cl), &streamv1alpha1.Connection{}, nil
	case templatesResource:
		cl := stream.Templates(ns)
		return listWatch(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return cl.List(ctx, o) }, cl), &streamv1alpha1.Template{}, nil
	case repositoriesResource:
		cl := catalog.TemplateRepositories()
		return listWatch(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return cl.List(ctx, o) }, cl), &catalogv1alpha1.TemplateRepository{}, nil
	}
	return nil, nil, errors.New("unknown resource " + string(resource))
}

// listThenWatch makes the reflector LIST then WATCH instead of streaming
// the initial state in a watch (WatchList, client-go's default). Both give
// the same data, but after a relist client-go hands a WatchList's initial
// state to handlers in map order, and the feed's per-change messages read
// better in the list's key order (see docs/bridge.md, "Found").
type listThenWatch struct{ *cache.ListWatch }

func (listThenWatch) IsWatchListSemanticsUnSupported() bool { return true }

// resourceVersionChanged tells a real change from a relist or resync
// replaying an object the subscriber already has.
func resourceVersionChanged(oldObj, newObj any) bool {
	o, ok1 := oldObj.(metav1.Object)
	n, ok2 := newObj.(metav1.Object)
	return !ok1 || !ok2 || o.GetResourceVersion() != n.GetResourceVersion()
}

// deletedObject unwraps the tombstone an informer hands out when it learnt
// of a deletion only by relisting.
func deletedObject(obj any) any {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return tombstone.Obj
	}
	return obj
}
