package devstack

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/streamspace/controlplane/internal/devstack/ports"
)

// StartExtraStreamspace starts one more streamspace-apiserver on the stack's
// database (another replica), with the serving certificate and kubeconfig of
// the first, on a free port; it is not behind the APIServices, so clients
// address it directly at url (it authenticates callers through
// kube-apiserver like the first). stop ends it; Stop of the stack does too.
// Each call needs its own name ("streamspace-apiserver-2", ...), which names
// its log file.
func (s *Stack) StartExtraStreamspace(ctx context.Context, name string) (url string, stop func() error, err error) {
	url, stop, err = s.LaunchExtraStreamspace(name)
	if err != nil {
		return "", nil, err
	}
	if err := s.waitReady(ctx, name, url); err != nil {
		_ = stop()
		return "", nil, fmt.Errorf("start %s: %w", name, err)
	}
	return url, stop, nil
}

// LaunchExtraStreamspace is StartExtraStreamspace without the wait: it
// returns as soon as the process is started, before it listens, so a test
// can send requests from the server's first listening moment.
func (s *Stack) LaunchExtraStreamspace(name string) (url string, stop func() error, err error) {
	if s.cfg.WithoutStreamspace {
		return "", nil, errors.New("devstack: stack runs without streamspace-apiserver")
	}
	if s.procs.Get(name) != nil {
		return "", nil, fmt.Errorf("devstack: %s is already running", name)
	}
	port, err := ports.Free()
	if err != nil {
		return "", nil, err
	}
	p, err := s.startStreamspaceReplica(name, port)
	if err != nil {
		return "", nil, err
	}
	var (
		once    sync.Once
		stopErr error
	)
	stop = func() error {
		once.Do(func() {
			stopErr = s.procs.Stop(p)
		})
		return stopErr
	}
	return "https://127.0.0.1:" + strconv.Itoa(port), stop, nil
}
