package postgres

import (
	"context"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/feature"
)

// The apiserver's watch cache serves WatchList (sendInitialEvents) only when
// the storage supports RequestWatchProgress, and it asks a process-wide
// checker written for etcd, which learns the answer from etcd's version.
// This storage does support it (RequestWatchProgress makes the tailer send
// a progress bookmark to every watcher), so we tell the checker, through its
// own interface, as an endpoint of a version with the feature. Without this
// the cache refuses every WatchList and client-go informers only fall back
// to LIST+WATCH after a long timeout.
var announceWatchProgressOnce sync.Once

func announceWatchProgressSupport() {
	announceWatchProgressOnce.Do(func() {
		feature.DefaultFeatureSupportChecker.CheckClient(context.Background(), progressCapableEndpoint{}, storage.RequestWatchProgress)
	})
}

// progressCapableEndpoint answers the checker's version query.
type progressCapableEndpoint struct{}

func (progressCapableEndpoint) Endpoints() []string { return []string{"postgres"} }

func (progressCapableEndpoint) Status(context.Context, string) (*clientv3.StatusResponse, error) {
	// The first version without etcd's progress-notification bugs (3.5.13+).
	return &clientv3.StatusResponse{Version: "3.6.0"}, nil
}
