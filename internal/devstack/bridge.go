package devstack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// bridgeComponent is streamspace-bridge's name for logs and pid files.
const bridgeComponent = "streamspace-bridge"

// BridgeURLFile is where the stack writes the bridge's URL (<Dir>/bridge.url).
func (s *Stack) BridgeURLFile() string { return filepath.Join(s.paths.dir, "bridge.url") }

// startBridge starts streamspace-bridge on loopback (plain HTTP, as in a pod
// behind TLS-terminating ingress), once the APIServices are Available, and
// waits for its /healthz. Its kubeconfig names kube-apiserver and its CA and
// holds no credentials: the bridge acts only with its callers' tokens.
func (s *Stack) startBridge(ctx context.Context) error {
	binary := filepath.Join(s.paths.bin, bridgeComponent)
	if _, err := os.Stat(binary); err != nil {
		return fmt.Errorf("devstack: %s missing in %s (run `make build`): %w", bridgeComponent, s.paths.bin, err)
	}
	kubeconfig := s.paths.kubeconfig(bridgeComponent)
	if err := s.writeClusterOnlyKubeconfig(kubeconfig); err != nil {
		return err
	}
	address := "127.0.0.1:" + strconv.Itoa(s.Ports.Bridge)
	p, err := s.startProcess(bridgeComponent, binary, []string{
		"--kubeconfig=" + kubeconfig,
		"--listen=" + address,
		"--v=2",
	}, nil)
	if err != nil {
		return err
	}
	s.BridgeURL = "http://" + address
	client := &http.Client{Timeout: 5 * time.Second}
	if err := s.poll(ctx, p, bridgeComponent+" healthy", func() error {
		return httpOK(client, s.BridgeURL+"/healthz")
	}); err != nil {
		return err
	}
	if err := os.WriteFile(s.BridgeURLFile(), []byte(s.BridgeURL+"\n"), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", s.BridgeURLFile(), err)
	}
	return nil
}

func (s *Stack) writeClusterOnlyKubeconfig(path string) error {
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = s.KubeAPIServerURL
	cluster.CertificateAuthorityData = readFile(s.CACert)
	cfg.Clusters["streamspace-dev"] = cluster
	kctx := clientcmdapi.NewContext()
	kctx.Cluster = "streamspace-dev"
	cfg.Contexts["streamspace-dev"] = kctx
	cfg.CurrentContext = "streamspace-dev"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
