package devstack

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/streamspace/controlplane/internal/devstack/health"
	"github.com/streamspace/controlplane/internal/devstack/ports"
	"github.com/streamspace/controlplane/internal/devstack/process"
)

// ExtraBridge is one more streamspace-bridge on the stack, with flags of its
// own (say, low limits for a test), on a free loopback port.
type ExtraBridge struct {
	// URL is http://127.0.0.1:<port>.
	URL   string
	stack *Stack
	proc  *process.Process

	once    sync.Once
	stopErr error
}

// PID is the process id of the bridge.
func (b *ExtraBridge) PID() int { return b.proc.Pid() }

// StartExtraBridge starts streamspace-bridge with the cluster-only
// kubeconfig and the shares identity of the first and extra flags, and
// waits for its /healthz. name ("streamspace-bridge-limits", ...) names its
// log and pid files. Its Stop ends it; Stop of the stack does too.
func (s *Stack) StartExtraBridge(ctx context.Context, name string, args ...string) (*ExtraBridge, error) {
	if s.procs.Get(name) != nil {
		return nil, fmt.Errorf("devstack: %s is already running", name)
	}
	port, err := ports.Free()
	if err != nil {
		return nil, err
	}
	address := "127.0.0.1:" + strconv.Itoa(port)
	flags := append([]string{"--kubeconfig=" + s.paths.Kubeconfig(bridgeComponent), "--listen=" + address, "--v=2",
		"--shares-kubeconfig=" + s.paths.Kubeconfig(bridgeWebhookComponent)}, args...)
	p, err := s.procs.Start(name, s.paths.Bin(bridgeComponent), flags, nil)
	if err != nil {
		return nil, err
	}
	b := &ExtraBridge{URL: "http://" + address, stack: s, proc: p}
	if err := health.PollHTTP(ctx, p, name+" healthy", s.logf, health.Client(), b.URL+"/healthz"); err != nil {
		_ = b.Stop()
		return nil, err
	}
	return b, nil
}

// Stop ends the bridge.
func (b *ExtraBridge) Stop() error {
	b.once.Do(func() {
		b.stopErr = b.stack.procs.Stop(b.proc)
	})
	return b.stopErr
}
