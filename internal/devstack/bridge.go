package devstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/streamspace/controlplane/internal/devstack/credentials"
	"github.com/streamspace/controlplane/internal/devstack/health"
	"github.com/streamspace/controlplane/internal/devstack/kubeconfig"
)

// bridgeComponent is streamspace-bridge's name for logs and pid files.
const bridgeComponent = "streamspace-bridge"

// The bridge's Git webhook and its index of SessionShares act with the
// bridge's own identity, in production the ServiceAccount
// streamspace-system/streamspace-bridge (artifacts/rbac/catalog-controller.yaml
// lets it list and patch templaterepositories, artifacts/rbac/policy-bridge.yaml
// limits the patch to the sync annotation, artifacts/rbac/bridge-shares.yaml
// lets it list and watch sessionshares); here a client certificate that
// kube-apiserver reports as that ServiceAccount, as for streamspace-controller.
const bridgeWebhookComponent = bridgeComponent + "-webhook"

// WebhookSecretFile holds the shared secret of the bridge's Git webhook
// (<Dir>/webhook.secret, random, kept across restarts).
func (s *Stack) WebhookSecretFile() string { return filepath.Join(s.paths.Dir, "webhook.secret") }

// BridgeURLFile is where the stack writes the bridge's URL (<Dir>/bridge.url).
func (s *Stack) BridgeURLFile() string { return filepath.Join(s.paths.Dir, "bridge.url") }

// startBridge starts streamspace-bridge on loopback (plain HTTP, as in a pod
// behind TLS-terminating ingress), once the APIServices are Available, and
// waits for its /healthz. Its kubeconfig names kube-apiserver and its CA and
// holds no credentials: the bridge acts only with its callers' tokens.
func (s *Stack) startBridge(ctx context.Context) error {
	binary := s.paths.Bin(bridgeComponent)
	if _, err := os.Stat(binary); err != nil {
		return fmt.Errorf("devstack: %s missing in %s (run `make build`): %w", bridgeComponent, s.paths.BinDir, err)
	}
	kubeconfigPath := s.paths.Kubeconfig(bridgeComponent)
	if err := kubeconfig.Write(kubeconfigPath, s.cluster(), kubeconfig.ClusterName, "", kubeconfig.Credentials{}); err != nil {
		return err
	}
	if err := s.prepareBridgeWebhook(); err != nil {
		return err
	}
	address := "127.0.0.1:" + strconv.Itoa(s.Ports.Bridge)
	p, err := s.procs.Start(bridgeComponent, binary, append([]string{
		"--kubeconfig=" + kubeconfigPath,
		"--listen=" + address,
		"--webhook-secret-file=" + s.WebhookSecretFile(),
		"--webhook-kubeconfig=" + s.paths.Kubeconfig(bridgeWebhookComponent),
		// The same identity finds the SessionShares that name a caller
		// (artifacts/rbac/bridge-shares.yaml).
		"--shares-kubeconfig=" + s.paths.Kubeconfig(bridgeWebhookComponent),
		// The dashboard signs people in at the stack's OpenID provider.
		"--oidc-issuer-url=" + s.OIDCIssuerURL,
		"--oidc-client-id=" + OIDCBridgeClientID,
		"--oidc-client-secret-file=" + s.pki().File(oidcBridgeSecretFile),
		"--oidc-ca-file=" + s.OIDCCA,
		"--public-url=http://" + address,
		"--username-prefixes=" + OIDCUsernamePrefix,
		"--v=2",
	}, s.cfg.BridgeArgs...), nil)
	if err != nil {
		return err
	}
	s.BridgeURL = "http://" + address
	if err := health.PollHTTP(ctx, p, bridgeComponent+" healthy", s.logf, health.Client(), s.BridgeURL+"/healthz"); err != nil {
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
		secret, err := credentials.RandomHex(24)
		if err != nil {
			return err
		}
		if err := os.WriteFile(s.WebhookSecretFile(), []byte(secret), 0o600); err != nil {
			return fmt.Errorf("write the webhook secret: %w", err)
		}
	}
	// The certificate's name is new with the bridge's own identity: an older
	// dev stack's certificate named streamspace-apiserver's ServiceAccount.
	if err := s.writeServiceAccountKubeconfig(bridgeWebhookComponent, bridgeWebhookComponent+"-identity", "streamspace-bridge"); err != nil {
		return fmt.Errorf("identity of the bridge's webhook: %w", err)
	}
	return nil
}
