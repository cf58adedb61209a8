package devstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ExtraController is one more streamspace-controller replica on the stack
// (StartExtraController): same identity, flags and Lease as the first.
type ExtraController struct {
	// Name names its log file (LogFile(Name)).
	Name string
	// URL serves its /healthz and /metrics.
	URL string

	stack *Stack
	proc  *process
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
	if s.process(name) != nil {
		return nil, fmt.Errorf("devstack: %s is already running", name)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--kubeconfig=" + s.paths.kubeconfig(controllerComponent),
		"--health-addr=127.0.0.1:" + strconv.Itoa(port),
		"--repository-work-dir=" + filepath.Join(s.Dir, "repositories-"+name),
	}
	args = append(args, s.cfg.ControllerArgs...)
	p, err := s.startProcess(name, filepath.Join(s.paths.bin, controllerComponent), args, nil)
	if err != nil {
		return nil, err
	}
	extra := &ExtraController{Name: name, URL: "http://127.0.0.1:" + strconv.Itoa(port), stack: s, proc: p}
	client := &http.Client{Timeout: 5 * time.Second}
	if err := s.poll(ctx, p, name+" healthy", func() error { return httpOK(client, extra.URL+"/healthz") }); err != nil {
		_ = extra.Stop()
		return nil, err
	}
	return extra, nil
}

// Stop ends the replica with SIGTERM (it releases the Lease if it holds
// it) and waits until it has exited. Safe to call more than once.
func (e *ExtraController) Stop() error {
	e.once.Do(func() {
		e.stack.removeProcess(e.proc)
		_ = e.proc.stop()
	})
	return nil
}

// Kill ends the replica with SIGKILL, as a crash would: it does not release
// the Lease. Safe to call more than once, and after Stop.
func (e *ExtraController) Kill() error {
	e.once.Do(func() {
		e.stack.removeProcess(e.proc)
		e.proc.kill()
	})
	return nil
}

// KillController ends the first streamspace-controller with SIGKILL, as a
// crash would: its Lease is not released, so another replica takes over
// only once the Lease expires. StartController starts it again.
func (s *Stack) KillController() error {
	p := s.process(controllerComponent)
	if p == nil {
		return errors.New("devstack: streamspace-controller is not running")
	}
	s.removeProcess(p) // first, so its exit is not reported as a failure
	p.kill()
	return nil
}

// kill sends SIGKILL to the process group and waits for the exit.
func (p *process) kill() {
	defer os.Remove(p.pidPath)
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}
