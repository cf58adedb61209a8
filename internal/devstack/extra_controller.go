package devstack

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/streamspace/controlplane/internal/devstack/health"
	"github.com/streamspace/controlplane/internal/devstack/ports"
	"github.com/streamspace/controlplane/internal/devstack/process"
)

// ExtraController is one more streamspace-controller replica on the stack
// (StartExtraController): same identity, flags and Lease as the first.
type ExtraController struct {
	// Name names its log file (LogFile(Name)).
	Name string
	// URL serves its /healthz and /metrics.
	URL string

	stack *Stack
	proc  *process.Process
	once  sync.Once
}

// StartExtraController starts another streamspace-controller replica with
// the first one's kubeconfig and flags, its /healthz and /metrics on a free
// port, and waits until it is healthy (a standby is healthy). Each call
// needs its own name ("streamspace-controller-2", ...). Stop of the stack
// stops it too.
func (s *Stack) StartExtraController(ctx context.Context, name string) (*ExtraController, error) {
	if name == controllerComponent {
		return nil, fmt.Errorf("devstack: %s is the first replica's name; StartController starts it", name)
	}
	if s.procs.Get(name) != nil {
		return nil, fmt.Errorf("devstack: %s is already running", name)
	}
	port, err := ports.Free()
	if err != nil {
		return nil, err
	}
	p, err := s.startControllerReplica(name, port, filepath.Join(s.Dir, "repositories-"+name))
	if err != nil {
		return nil, err
	}
	extra := &ExtraController{Name: name, URL: "http://127.0.0.1:" + strconv.Itoa(port), stack: s, proc: p}
	if err := health.PollHTTP(ctx, p, name+" healthy", s.logf, health.Client(), extra.URL+"/healthz"); err != nil {
		_ = extra.Stop()
		return nil, err
	}
	return extra, nil
}

// Stop ends the replica with SIGTERM (it releases the Lease if it holds
// it) and waits until it has exited. Safe to call more than once.
func (e *ExtraController) Stop() error {
	e.once.Do(func() {
		_ = e.stack.procs.Stop(e.proc)
	})
	return nil
}

// Kill ends the replica with SIGKILL, as a crash would: it does not release
// the Lease. Safe to call more than once, and after Stop.
func (e *ExtraController) Kill() error {
	e.once.Do(func() {
		e.stack.procs.Kill(e.proc)
	})
	return nil
}

// KillController ends the first streamspace-controller with SIGKILL, as a
// crash would: its Lease is not released, so another replica takes over
// only once the Lease expires. StartController starts it again.
func (s *Stack) KillController() error {
	p := s.procs.Get(controllerComponent)
	if p == nil {
		return errors.New("devstack: streamspace-controller is not running")
	}
	s.procs.Kill(p)
	return nil
}
