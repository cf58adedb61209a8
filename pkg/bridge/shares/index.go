// Package shares finds the sessions shared with a caller of the bridge, so
// that the caller's session list and feed include them.
//
// Finding and reading are kept apart. A person cannot list SessionShares
// outside their own namespace, so the Index watches every share with the
// bridge's own identity (ClusterRole streamspace-share-finder: list and
// watch sessionshares, nothing else) and answers one question: which shares
// in force name this person, by their user name or one of their groups as
// kube-apiserver answered the review of their token. Nothing the Index
// holds is shown to anyone. Verify and List then read each such share and
// its session with the caller's own client, which the share's Role allows
// (get on the one share and the one session), and only what those reads
// return is shown: RBAC decides, as it does for kubectl. What the Index
// adds of its own is only that a share is gone, which removes a session
// from a feed at once and reveals nothing.
package shares

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	streaminformers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions/stream/v1alpha1"
)

// byGrantee indexes shares by whom they name: "user:<name>" or
// "group:<name>".
const byGrantee = "grantee"

func granteeKeys(obj any) ([]string, error) {
	s, ok := obj.(*streamv1alpha1.SessionShare)
	if !ok {
		return nil, nil
	}
	if s.Spec.Group != "" {
		return []string{"group:" + s.Spec.Group}, nil
	}
	if s.Spec.User != "" {
		return []string{"user:" + s.Spec.User}, nil
	}
	return nil, nil
}

// Index is every SessionShare of the cluster, read with the bridge's own
// identity and indexed by whom it names. A nil *Index finds nothing: the
// bridge then shows people their own sessions only.
type Index struct {
	informer cache.SharedIndexInformer
	now      func() time.Time

	mu      sync.Mutex
	lastErr error // the last error of the watch: Ready does not wait then
}

// NewIndex builds the index on client, which acts with the bridge's own
// identity; Run fills it.
func NewIndex(client clientset.Interface) (*Index, error) {
	informer := streaminformers.NewSessionShareInformer(client, metav1.NamespaceAll, 0, cache.Indexers{byGrantee: granteeKeys})
	i := &Index{informer: informer, now: time.Now}
	if err := informer.SetWatchErrorHandlerWithContext(func(ctx context.Context, _ *cache.Reflector, err error) {
		i.mu.Lock()
		i.lastErr = err
		i.mu.Unlock()
		// Without its rights (an older streamspace-share-finder binding)
		// the bridge keeps serving each person their own sessions.
		klog.FromContext(ctx).Error(err, "watch SessionShares with the bridge's identity (ClusterRole streamspace-share-finder); sessions shared with people are not shown until it succeeds")
	}); err != nil {
		return nil, err
	}
	return i, nil
}

// Run watches the shares until ctx ends.
func (i *Index) Run(ctx context.Context) {
	if i == nil {
		return
	}
	i.informer.RunWithContext(klog.NewContext(ctx, klog.LoggerWithName(klog.FromContext(ctx), "shares")))
}

// Ready waits for the index's first list, until ctx ends or the watch
// reports an error (a request then does not wait for an index that cannot
// list), and reports whether the index is filled.
func (i *Index) Ready(ctx context.Context) bool {
	if i == nil {
		return false
	}
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for !i.informer.HasSynced() {
		i.mu.Lock()
		failing := i.lastErr != nil
		i.mu.Unlock()
		if failing {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-poll.C:
		}
	}
	return true
}

// Naming returns the shares in force that name user or one of groups, in
// namespace ("" for every namespace). The objects are the index's: callers
// must not change them, and must not show them (see Verify).
func (i *Index) Naming(user string, groups []string, namespace string) []*streamv1alpha1.SessionShare {
	if i == nil {
		return nil
	}
	keys := make([]string, 0, len(groups)+1)
	if user != "" {
		keys = append(keys, "user:"+user)
	}
	for _, g := range groups {
		keys = append(keys, "group:"+g)
	}
	now := i.now()
	var found []*streamv1alpha1.SessionShare
	seen := map[string]bool{}
	for _, key := range keys {
		objs, err := i.informer.GetIndexer().ByIndex(byGrantee, key)
		if err != nil {
			continue // the index exists: only a bug makes this fail
		}
		for _, obj := range objs {
			s := obj.(*streamv1alpha1.SessionShare)
			id := s.Namespace + "/" + s.Name
			if seen[id] || (namespace != "" && s.Namespace != namespace) ||
				!stream.ShareInForce(s.DeletionTimestamp, s.Spec.ExpiresAt, now) ||
				!stream.ShareNames(s.Spec.User, s.Spec.Group, user, groups) {
				continue
			}
			seen[id] = true
			found = append(found, s)
		}
	}
	return found
}

// OfSession returns the shares in force of session namespace/name that
// name user or one of groups.
func (i *Index) OfSession(namespace, name, user string, groups []string) []*streamv1alpha1.SessionShare {
	var found []*streamv1alpha1.SessionShare
	for _, s := range i.Naming(user, groups, namespace) {
		if s.Spec.Session == name {
			found = append(found, s)
		}
	}
	return found
}

// Subscribe calls onChange with the namespace and session of every share
// that is added, changed or deleted and names user or one of groups,
// until the returned function is called. onChange runs on the index's
// goroutine: it must be quick (add to a queue).
func (i *Index) Subscribe(user string, groups []string, onChange func(namespace, session string)) (unsubscribe func(), err error) {
	if i == nil {
		return func() {}, nil
	}
	notify := func(obj any) {
		if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		s, ok := obj.(*streamv1alpha1.SessionShare)
		if !ok || !stream.ShareNames(s.Spec.User, s.Spec.Group, user, groups) {
			return
		}
		onChange(s.Namespace, s.Spec.Session)
	}
	registration, err := i.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: notify,
		UpdateFunc: func(oldObj, newObj any) {
			// Resyncs and relists replay objects unchanged.
			o, err1 := meta.Accessor(oldObj)
			n, err2 := meta.Accessor(newObj)
			if err1 == nil && err2 == nil && o.GetResourceVersion() == n.GetResourceVersion() {
				return
			}
			notify(newObj)
		},
		DeleteFunc: notify,
	})
	if err != nil {
		return nil, err
	}
	return func() { _ = i.informer.RemoveEventHandler(registration) }, nil
}
