package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// The bridge's Git webhook acts with the bridge's own identity, in
// production the ServiceAccount streamspace-system/streamspace-bridge
// (artifacts/rbac/catalog-controller.yaml lets it list and patch
// templaterepositories, artifacts/rbac/policy-bridge.yaml limits the patch
// to the sync annotation); here a client certificate that kube-apiserver
// reports as that ServiceAccount, as for streamspace-controller.
const (
	bridgeWebhookComponent = bridgeComponent + "-webhook"
	bridgeWebhookUser      = "system:serviceaccount:" + streamspaceNamespace + ":streamspace-bridge"
)

// WebhookSecretFile holds the shared secret of the bridge's Git webhook
// (<Dir>/webhook.secret, random, kept across restarts).
func (s *Stack) WebhookSecretFile() string { return filepath.Join(s.paths.dir, "webhook.secret") }

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
	if err := s.prepareBridgeWebhook(); err != nil {
		return err
	}
	address := "127.0.0.1:" + strconv.Itoa(s.Ports.Bridge)
	p, err := s.startProcess(bridgeComponent, binary, append([]string{
		"--kubeconfig=" + kubeconfig,
		"--listen=" + address,
		"--webhook-secret-file=" + s.WebhookSecretFile(),
		"--webhook-kubeconfig=" + s.paths.kubeconfig(bridgeWebhookComponent),
		"--v=2",
	}, s.cfg.BridgeArgs...), nil)
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

// prepareBridgeWebhook writes the webhook's secret (once) and the
// kubeconfig of its service identity.
func (s *Stack) prepareBridgeWebhook() error {
	if len(readFile(s.WebhookSecretFile())) == 0 {
		buf := make([]byte, 24)
		if _, err := rand.Read(buf); err != nil {
			return err
		}
		if err := os.WriteFile(s.WebhookSecretFile(), []byte(hex.EncodeToString(buf)), 0o600); err != nil {
			return fmt.Errorf("write the webhook secret: %w", err)
		}
	}
	ca, err := loadCertKey(s.paths.pkiFile("ca.crt"), s.paths.pkiFile("ca.key"))
	if err != nil {
		return fmt.Errorf("load the cluster CA: %w", err)
	}
	// The certificate's name is new with the bridge's own identity: an older
	// dev stack's certificate named streamspace-apiserver's ServiceAccount.
	if err := s.ensureLeaf(ca, leafSpec{name: bridgeWebhookComponent + "-identity", cn: bridgeWebhookUser, orgs: controllerGroups, client: true}); err != nil {
		return fmt.Errorf("issue the certificate of the bridge's webhook: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = s.KubeAPIServerURL
	cluster.CertificateAuthorityData = readFile(s.CACert)
	cfg.Clusters["streamspace-dev"] = cluster
	auth := clientcmdapi.NewAuthInfo()
	auth.ClientCertificateData = readFile(s.paths.pkiFile(bridgeWebhookComponent + "-identity.crt"))
	auth.ClientKeyData = readFile(s.paths.pkiFile(bridgeWebhookComponent + "-identity.key"))
	cfg.AuthInfos[bridgeWebhookComponent] = auth
	kctx := clientcmdapi.NewContext()
	kctx.Cluster, kctx.AuthInfo = "streamspace-dev", bridgeWebhookComponent
	cfg.Contexts[bridgeWebhookComponent] = kctx
	cfg.CurrentContext = bridgeWebhookComponent
	path := s.paths.kubeconfig(bridgeWebhookComponent)
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig of the bridge's webhook: %w", err)
	}
	return os.Chmod(path, 0o600)
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
