package benchstack

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"

	"k8s.io/client-go/rest"

	"github.com/streamspace/controlplane/internal/devstack"
)

// DirectConfig is admin's client configuration for streamspace-apiserver
// itself, not through the aggregator: for its /metrics and /debug/pprof.
func DirectConfig(stack *devstack.Stack, admin *rest.Config) *rest.Config {
	direct := rest.CopyConfig(admin)
	direct.Host = stack.StreamspaceURL
	direct.TLSClientConfig.CAData, direct.TLSClientConfig.CAFile = nil, stack.StreamspaceCA
	direct.TLSClientConfig.ServerName = "localhost"
	return direct
}

// SaveProfile saves a profile of the server at base over seconds into
// path: "profile" (CPU) or a delta of a sampled profile such as "allocs".
func SaveProfile(ctx context.Context, client *http.Client, base, name string, seconds int, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/%s?seconds=%d", base, name, seconds), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("GET /debug/pprof/%s: %d %s", name, resp.StatusCode, body)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
