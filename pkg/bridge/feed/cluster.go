package feed

import (
	"context"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
)

// metricsUpdate is the old metrics message, counted over what the caller may see.
type metricsUpdate struct {
	Type      string       `json:"type"` // metrics_update
	Metrics   clusterStats `json:"metrics"`
	Timestamp string       `json:"timestamp"`
}

type clusterStats struct {
	Sessions struct {
		Running    int `json:"running"`
		Hibernated int `json:"hibernated"`
		Total      int `json:"total"`
	} `json:"sessions"`
	ActiveConnections int `json:"activeConnections"`
	Repositories      int `json:"repositories"`
	Templates         int `json:"templates"`
}

// Cluster: WS /api/v1/ws/cluster[?namespace=]. metrics_update on every
// change (coalesced like snapshots) and at least every --metrics-interval.
// Sessions, connections and templates are those of the namespace;
// repositories are cluster-wide. A resource the caller may not list counts 0.
func (s *Server) Cluster(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := feedScope(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), firstListTimeout)
	defer cancel()
	sources := []struct {
		resource  watchResource
		namespace string
		required  bool
	}{
		{sessionsResource, ns, true}, {connectionsResource, ns, false},
		{templatesResource, ns, false}, {repositoriesResource, "", false},
	}
	watches := map[watchResource]*sharedWatch{}
	for _, src := range sources {
		watch, release, err := s.watches.acquire(ctx, c, src.resource, src.namespace)
		if err != nil {
			if !src.required && apierrors.IsForbidden(err) {
				continue
			}
			httpjson.APIError(w, r, "watch "+string(src.resource), err)
			return
		}
		defer release()
		watches[src.resource] = watch
	}
	client, err := s.upgrade(w, r, "cluster")
	if err != nil {
		return
	}
	dirty := make(chan struct{}, 1)
	signal := func() {
		select {
		case dirty <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { signal() },
		UpdateFunc: func(oldObj, newObj any) {
			if resourceVersionChanged(oldObj, newObj) {
				signal()
			}
		},
		DeleteFunc: func(any) { signal() },
	}
	for _, watch := range watches {
		registration, err := watch.informer.AddEventHandler(handler)
		if err != nil {
			client.close(1011, "subscribe to a watch")
			return
		}
		defer func() { _ = watch.informer.RemoveEventHandler(registration) }()
	}
	failed := watches[sessionsResource].Failed()

	send := func() {
		client.sendJSON(metricsUpdate{Type: "metrics_update", Metrics: countVisible(watches), Timestamp: now()})
	}
	send()
	every := time.NewTicker(s.cfg.MetricsInterval)
	defer every.Stop()
	var pending <-chan time.Time
	for {
		select {
		case <-client.done:
			return
		case <-failed:
			refuseFeed(client, watches[sessionsResource].Err())
			return
		case <-dirty:
			if pending == nil {
				pending = time.After(s.cfg.SnapshotInterval)
			}
		case <-pending:
			pending = nil
			send()
			every.Reset(s.cfg.MetricsInterval)
		case <-every.C:
			send()
		}
	}
}

func countVisible(watches map[watchResource]*sharedWatch) clusterStats {
	var stats clusterStats
	list := func(r watchResource) []any {
		if w, ok := watches[r]; ok {
			return w.informer.GetStore().List()
		}
		return nil
	}
	sessionConnections := 0
	for _, obj := range list(sessionsResource) {
		s := obj.(*streamv1alpha1.Session)
		stats.Sessions.Total++
		switch s.Status.Phase {
		case streamv1alpha1.SessionPhaseRunning:
			stats.Sessions.Running++
		case streamv1alpha1.SessionPhaseHibernated:
			stats.Sessions.Hibernated++
		}
		sessionConnections += int(s.Status.ActiveConnections)
	}
	if _, ok := watches[connectionsResource]; ok {
		for _, obj := range list(connectionsResource) {
			if c := obj.(*streamv1alpha1.Connection); c.Status.State == "" || c.Status.State == streamv1alpha1.ConnectionStateActive {
				stats.ActiveConnections++
			}
		}
	} else {
		stats.ActiveConnections = sessionConnections
	}
	stats.Templates = len(list(templatesResource))
	stats.Repositories = len(list(repositoriesResource))
	return stats
}
