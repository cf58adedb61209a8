// Package worker drains a controller's workqueue: the loop every controller
// here shares (take a key, sync it, retry it with the queue's rate limit on
// error, forget it on success).
package worker

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
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
