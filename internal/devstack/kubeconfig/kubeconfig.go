// Package kubeconfig writes the dev stack's kubeconfig files: one cluster,
// one context, at most one user, credentials embedded so the files work
// from anywhere.
package kubeconfig

import (
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ClusterName names the stack's kube-apiserver in every kubeconfig.
const ClusterName = "streamspace-dev"

// Cluster is the kube-apiserver a kubeconfig points at.
type Cluster struct {
	Server string // https://127.0.0.1:<port>
	CAData []byte // PEM of the CA of its serving certificate
}

// Credentials are what a user presents: a client certificate, a bearer
// token, or one from a credential plugin.
type Credentials struct {
	ClientCertificateData []byte
	ClientKeyData         []byte
	Token                 string
	Exec                  *clientcmdapi.ExecConfig
}

// ExecPlugin runs command with args for a client.authentication.k8s.io/v1
// ExecCredential, without the cluster's details and never interactively.
func ExecPlugin(command string, args ...string) *clientcmdapi.ExecConfig {
	return &clientcmdapi.ExecConfig{
		APIVersion:      "client.authentication.k8s.io/v1",
		Command:         command,
		Args:            args,
		InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
	}
}

// Write writes a kubeconfig (mode 0600) whose current context, contextName,
// connects to cluster as user with creds. An empty user writes a
// kubeconfig without credentials, for a client that acts only with tokens
// it is given.
func Write(path string, cluster Cluster, contextName, user string, creds Credentials) error {
	cfg := clientcmdapi.NewConfig()
	c := clientcmdapi.NewCluster()
	c.Server = cluster.Server
	c.CertificateAuthorityData = cluster.CAData
	cfg.Clusters[ClusterName] = c
	kctx := clientcmdapi.NewContext()
	kctx.Cluster = ClusterName
	if user != "" {
		auth := clientcmdapi.NewAuthInfo()
		auth.ClientCertificateData = creds.ClientCertificateData
		auth.ClientKeyData = creds.ClientKeyData
		auth.Token = creds.Token
		auth.Exec = creds.Exec
		cfg.AuthInfos[user] = auth
		kctx.AuthInfo = user
	}
	cfg.Contexts[contextName] = kctx
	cfg.CurrentContext = contextName
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	// WriteToFile keeps the mode of a file that exists already.
	return os.Chmod(path, 0o600)
}
