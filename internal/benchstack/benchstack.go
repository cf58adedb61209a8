// Package benchstack starts the local control plane the way the benchmark
// programs under hack/ measure it: streamspace-controller stopped (it would
// turn every benchmark Session into a Deployment and write status, so the
// API alone is measured) and an admin client without client-go's rate limit;
// Parallel drives it with concurrent clients.
package benchstack

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/rest"

	"github.com/streamspace/controlplane/internal/devstack"
)

// Start starts a stack in dir (a new temporary folder named after program
// when dir is empty). stop ends it and removes the temporary folder, unless
// keep is set; it is safe to call when Start failed.
func Start(ctx context.Context, program, dir string, keep bool) (stack *devstack.Stack, admin *rest.Config, stop func(), err error) {
	var cleanups []func()
	stop = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "streamspace-"+program+"-")
		if err != nil {
			return nil, nil, stop, err
		}
		dir = d
		if !keep {
			cleanups = append(cleanups, func() { os.RemoveAll(d) })
		}
	}
	stack, err = devstack.Start(ctx, devstack.Config{Dir: dir, Log: os.Stderr})
	if err != nil {
		return nil, nil, stop, fmt.Errorf("start the control plane: %w", err)
	}
	if !keep {
		cleanups = append(cleanups, func() {
			if err := stack.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "%s: stop the control plane: %v\n", program, err)
			}
		})
	}
	if err := stack.StopController(); err != nil {
		return nil, nil, stop, fmt.Errorf("stop streamspace-controller: %w", err)
	}
	admin, err = stack.RESTConfig("admin")
	if err != nil {
		return nil, nil, stop, err
	}
	// client-go's default rate limit (5 QPS) would measure the client:
	// lifted for every side alike.
	admin.QPS, admin.Burst = 100000, 100000
	admin.Timeout = 5 * time.Minute
	admin.UserAgent = "streamspace-" + program
	return stack, admin, stop, nil
}
