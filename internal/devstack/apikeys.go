package devstack

import (
	"strconv"
	"time"

	"github.com/streamspace/controlplane/internal/devstack/kubeconfig"
)

// tokenWebhookPath is where streamspace-apiserver serves the API key token
// webhook (pkg/apiserver.TokenReviewPath).
const tokenWebhookPath = "/authenticate/apikeys"

// TokenWebhookCacheTTL is how long kube-apiserver caches the webhook's
// answer for a token: a deleted API key stops working within it.
const TokenWebhookCacheTTL = 10 * time.Second

// tokenWebhookArgs are kube-apiserver's flags for authenticating API keys
// through streamspace-apiserver: the webhook's kubeconfig names the first
// replica's URL and serving CA, and kube-apiserver's client certificate
// (credentials.TokenWebhookClient), the one identity the webhook answers.
// Answers are cached briefly, so revoking a key takes effect within
// TokenWebhookCacheTTL. Until streamspace-apiserver is up, API keys are
// refused and every other credential works as before.
func (s *Stack) tokenWebhookArgs() ([]string, error) {
	if s.cfg.WithoutStreamspace {
		return nil, nil
	}
	path := s.paths.Manifest("token-webhook.kubeconfig")
	cluster := kubeconfig.Cluster{
		Server: "https://127.0.0.1:" + strconv.Itoa(s.Ports.Streamspace) + tokenWebhookPath,
		CAData: readFile(s.paths.PKIFile("streamspace-ca.crt")),
	}
	if err := kubeconfig.Write(path, cluster, "kube-apiserver", "kube-apiserver", s.clientCert("token-webhook-client")); err != nil {
		return nil, err
	}
	return []string{
		"--authentication-token-webhook-config-file=" + path,
		"--authentication-token-webhook-cache-ttl=" + TokenWebhookCacheTTL.String(),
		"--authentication-token-webhook-version=v1",
	}, nil
}
