package rest

import (
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/streamspace/controlplane/pkg/bridge/identity"
)

// apiFeatureTTL is how long a discovery answer is trusted: a subresource
// added by a newer API server is used within a minute of its rollout.
const apiFeatureTTL = time.Minute

// apiFeatures remembers which resources and subresources the API offers
// (discovery is the same for every user; any caller's token may ask).
type apiFeatures struct {
	mu      sync.Mutex
	fetched map[string]time.Time
	offered map[string]map[string]bool // group/version → resource names
}

func newAPIFeatures() *apiFeatures {
	return &apiFeatures{fetched: map[string]time.Time{}, offered: map[string]map[string]bool{}}
}

// has reports whether groupVersion offers resource (e.g. "connections/heartbeat").
func (f *apiFeatures) has(c *identity.Caller, groupVersion, resource string) (bool, error) {
	f.mu.Lock()
	if time.Since(f.fetched[groupVersion]) < apiFeatureTTL {
		ok := f.offered[groupVersion][resource]
		f.mu.Unlock()
		return ok, nil
	}
	f.mu.Unlock()
	list, err := c.Kube().Discovery().ServerResourcesForGroupVersion(groupVersion)
	if err != nil && !apierrors.IsNotFound(err) {
		return false, err
	}
	names := map[string]bool{}
	if list != nil {
		for _, r := range list.APIResources {
			names[r.Name] = true
		}
	}
	f.mu.Lock()
	f.fetched[groupVersion], f.offered[groupVersion] = time.Now(), names
	f.mu.Unlock()
	return names[resource], nil
}
