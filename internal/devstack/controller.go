package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/streamspace/controlplane/internal/devstack/health"
	"github.com/streamspace/controlplane/internal/devstack/process"
)

// streamspace-controller runs as the identity of its production
// ServiceAccount: a client certificate whose CN and groups are what
// kube-apiserver's token authenticator would report for
// streamspace-system/streamspace-controller, so artifacts/rbac/controller.yaml
// binds it unchanged.
const controllerComponent = "streamspace-controller"

// homeStorageClass lets home claims bind on the fake node:
// kube-controller-manager's host-path provisioner (development only) makes
// a volume for every claim.
const homeStorageClass = `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: streamspace-dev-hostpath
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
`

// startController starts streamspace-controller once the APIServices are
// Available and waits for its /healthz.
func (s *Stack) startController(ctx context.Context) error {
	if err := s.prepareController(ctx); err != nil {
		return err
	}
	return s.StartController(ctx)
}

// prepareController issues the controller's certificate and kubeconfig and
// applies the default StorageClass.
func (s *Stack) prepareController(ctx context.Context) error {
	if err := s.writeServiceAccountKubeconfig(controllerComponent, controllerComponent+"-client", controllerComponent); err != nil {
		return fmt.Errorf("identity of %s: %w", controllerComponent, err)
	}
	path := s.paths.Manifest("storageclass.yaml")
	if err := os.WriteFile(path, []byte(homeStorageClass), 0o644); err != nil {
		return err
	}
	return s.kubectl.Apply(ctx, s.AdminKubeconfig, "-f", path)
}

// StartController starts streamspace-controller (after StopController) and
// waits until it is healthy.
func (s *Stack) StartController(ctx context.Context) error {
	if s.procs.Get(controllerComponent) != nil {
		return errors.New("devstack: streamspace-controller is already running")
	}
	p, err := s.startControllerReplica(controllerComponent, s.Ports.Controller, filepath.Join(s.Dir, "repositories"))
	if err != nil {
		return err
	}
	return health.PollHTTP(ctx, p, controllerComponent+" healthy", s.logf, health.Client(), s.ControllerURL()+"/healthz")
}

// startControllerReplica starts a streamspace-controller process called
// name, with the controller's kubeconfig and flags, /healthz and /metrics
// on healthPort, and its repository clones in workDir (per replica, not
// shared in /tmp).
func (s *Stack) startControllerReplica(name string, healthPort int, workDir string) (*process.Process, error) {
	args := []string{
		"--kubeconfig=" + s.paths.Kubeconfig(controllerComponent),
		"--health-addr=127.0.0.1:" + strconv.Itoa(healthPort),
		"--repository-work-dir=" + workDir,
	}
	// Session Ingresses (when ControllerArgs set --ingress-domain) ask the
	// stack's bridge before each request; the bridge's port is fixed before
	// it starts, so the controller can name it first. ControllerArgs come
	// after and may override these; with --session-auth in ControllerArgs
	// the choice is theirs.
	if !slices.ContainsFunc(s.cfg.ControllerArgs, func(a string) bool { return strings.HasPrefix(a, "--session-auth=") }) {
		bridge := "http://127.0.0.1:" + strconv.Itoa(s.Ports.Bridge)
		args = append(args, "--session-auth-url="+bridge+"/auth/sessions", "--session-signin-url="+bridge+"/auth/login")
	}
	return s.procs.Start(name, s.paths.Bin(controllerComponent), append(args, s.cfg.ControllerArgs...), nil)
}

// StopController stops streamspace-controller (SIGTERM: it releases its
// Lease) and waits until it has exited.
func (s *Stack) StopController() error {
	p := s.procs.Get(controllerComponent)
	if p == nil {
		return errors.New("devstack: streamspace-controller is not running")
	}
	return s.procs.Stop(p)
}

// RestartController stops streamspace-controller and starts it again.
func (s *Stack) RestartController(ctx context.Context) error {
	if err := s.StopController(); err != nil {
		return err
	}
	return s.StartController(ctx)
}

// ControllerURL is the HTTP address of streamspace-controller's /healthz
// and /metrics.
func (s *Stack) ControllerURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(s.Ports.Controller)
}
