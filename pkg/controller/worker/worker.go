// Package worker drains a controller's workqueue: the loop every controller
// here shares (take a key, sync it, retry it with the queue's rate limit on
// error, forget it on success).
package worker

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// SyncFunc moves the object of one key one step toward its desired state.
type SyncFunc func(ctx context.Context, key string) error

// Start starts n workers that drain queue with sync until ctx ends. what
// names the work in error messages ("sync session").
func Start(ctx context.Context, n int, queue workqueue.TypedRateLimitingInterface[string], what string, sync SyncFunc) {
	for range n {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for ProcessNext(ctx, queue, what, sync) {
			}
		}, time.Second)
	}
}

// ProcessNext syncs the next key of queue; it returns false once the queue
// is shut down. A conflict means the informer cache was behind the server:
// the key is retried like any error, but logged only at high verbosity.
func ProcessNext(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], what string, sync SyncFunc) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	if err := sync(ctx, key); err != nil {
		if apierrors.IsConflict(err) {
			klog.FromContext(ctx).V(4).Info("object changed meanwhile; retrying", "work", what, "key", key, "err", err)
		} else {
			utilruntime.HandleErrorWithContext(ctx, err, what, "key", key)
		}
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}

// Queue is a workqueue, the sync that drains it, its number of workers and
// what its work is called in logs ("sync session").
type Queue struct {
	Queue   workqueue.TypedRateLimitingInterface[string]
	Workers int
	What    string
	Sync    SyncFunc
}

// Run is a controller's Run: it waits for the informers' caches, drains
// every queue until ctx ends, then shuts the queues down. name is the
// controller's, for errors.
func Run(ctx context.Context, name string, synced []cache.InformerSynced, queues ...Queue) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	for _, q := range queues {
		defer q.Queue.ShutDown()
	}
	if !cache.WaitForNamedCacheSyncWithContext(ctx, synced...) {
		return fmt.Errorf("%s: caches did not sync", name)
	}
	for _, q := range queues {
		Start(ctx, q.Workers, q.Queue, q.What, q.Sync)
	}
	<-ctx.Done()
	return nil
}
