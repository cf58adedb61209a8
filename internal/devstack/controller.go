package devstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// streamspace-controller runs as the identity of its production
// ServiceAccount: a client certificate whose CN and groups are what
// kube-apiserver's token authenticator would report for
// streamspace-system/streamspace-controller, so artifacts/rbac/controller.yaml
// binds it unchanged.
const (
	controllerComponent = "streamspace-controller"
	controllerUser      = "system:serviceaccount:" + streamspaceNamespace + ":streamspace-controller"
)

var controllerGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + streamspaceNamespace}

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
	ca, err := loadCertKey(s.paths.pkiFile("ca.crt"), s.paths.pkiFile("ca.key"))
	if err != nil {
		return fmt.Errorf("load the cluster CA: %w", err)
	}
	if err := s.ensureLeaf(ca, leafSpec{name: controllerComponent + "-client", cn: controllerUser, orgs: controllerGroups, client: true}); err != nil {
		return fmt.Errorf("issue the certificate of %s: %w", controllerComponent, err)
	}
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = s.KubeAPIServerURL
	cluster.CertificateAuthorityData = readFile(s.CACert)
	cfg.Clusters["streamspace-dev"] = cluster
	auth := clientcmdapi.NewAuthInfo()
	auth.ClientCertificateData = readFile(s.paths.pkiFile(controllerComponent + "-client.crt"))
	auth.ClientKeyData = readFile(s.paths.pkiFile(controllerComponent + "-client.key"))
	cfg.AuthInfos[controllerComponent] = auth
	kctx := clientcmdapi.NewContext()
	kctx.Cluster, kctx.AuthInfo = "streamspace-dev", controllerComponent
	cfg.Contexts[controllerComponent] = kctx
	cfg.CurrentContext = controllerComponent
	if err := clientcmd.WriteToFile(*cfg, s.paths.kubeconfig(controllerComponent)); err != nil {
		return fmt.Errorf("write kubeconfig of %s: %w", controllerComponent, err)
	}
	path := s.paths.manifest("storageclass.yaml")
	if err := os.WriteFile(path, []byte(homeStorageClass), 0o644); err != nil {
		return err
	}
	return s.kubectlApply(ctx, "-f", path)
}

// StartController starts streamspace-controller (after StopController) and
// waits until it is healthy.
func (s *Stack) StartController(ctx context.Context) error {
	if s.process(controllerComponent) != nil {
		return errors.New("devstack: streamspace-controller is already running")
	}
	args := []string{
		"--kubeconfig=" + s.paths.kubeconfig(controllerComponent),
		"--health-addr=127.0.0.1:" + strconv.Itoa(s.Ports.Controller),
		// The repository controller's clones, per stack (not shared in /tmp).
		"--repository-work-dir=" + filepath.Join(s.Dir, "repositories"),
	}
	args = append(args, s.cfg.ControllerArgs...)
	p, err := s.startProcess(controllerComponent, filepath.Join(s.paths.bin, controllerComponent), args, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second}
	return s.poll(ctx, p, controllerComponent+" healthy", func() error {
		return httpOK(client, s.ControllerURL()+"/healthz")
	})
}

// StopController stops streamspace-controller (SIGTERM: it releases its
// Lease) and waits until it has exited.
func (s *Stack) StopController() error {
	p := s.process(controllerComponent)
	if p == nil {
		return errors.New("devstack: streamspace-controller is not running")
	}
	s.removeProcess(p) // first, so its exit is not reported as a failure
	return p.stop()
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
