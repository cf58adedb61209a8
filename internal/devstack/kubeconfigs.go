package devstack

import (
	"github.com/streamspace/controlplane/internal/devstack/credentials"
	"github.com/streamspace/controlplane/internal/devstack/kubeconfig"
)

func (s *Stack) pki() credentials.Dir { return credentials.Dir(s.paths.PKI) }

// ensureTokens gives each sample user, and the metrics scraper, a random
// bearer token, kept across restarts, and writes kube-apiserver's
// --token-auth-file from them.
func (s *Stack) ensureTokens() error {
	return s.pki().EnsureTokens(append(append([]string(nil), s.cfg.Users...), MetricsScraper), s.paths.UserToken)
}

func (s *Stack) cluster() kubeconfig.Cluster {
	return kubeconfig.Cluster{Server: s.KubeAPIServerURL, CAData: readFile(s.CACert)}
}

// clientCert is the client certificate <name>.crt of the pki directory.
func (s *Stack) clientCert(name string) kubeconfig.Credentials {
	return kubeconfig.Credentials{
		ClientCertificateData: readFile(s.pki().File(name + ".crt")),
		ClientKeyData:         readFile(s.pki().File(name + ".key")),
	}
}

// writeKubeconfig writes the kubeconfig of user at path, in the context
// <user>@streamspace-dev.
func (s *Stack) writeKubeconfig(path, user string, creds kubeconfig.Credentials) error {
	return kubeconfig.Write(path, s.cluster(), user+"@"+kubeconfig.ClusterName, user, creds)
}

// writeKubeconfigs writes the admin's, the users' and the components'
// kubeconfigs with the current kube-apiserver URL. Credentials are embedded,
// so the files work from anywhere.
func (s *Stack) writeKubeconfigs() error {
	if err := s.writeKubeconfig(s.AdminKubeconfig, "admin", s.clientCert("admin")); err != nil {
		return err
	}
	for _, c := range []struct{ component, cert string }{
		{"kube-controller-manager", "controller-manager"},
		{"kube-scheduler", "scheduler"},
		{"kwok", "admin"},
		{"streamspace-apiserver", "streamspace-apiserver-client"},
	} {
		if err := s.writeKubeconfig(s.paths.Kubeconfig(c.component), c.component, s.clientCert(c.cert)); err != nil {
			return err
		}
	}
	for _, user := range s.cfg.Users {
		token, err := s.UserToken(user)
		if err != nil {
			return err
		}
		if err := s.writeKubeconfig(s.paths.UserKubeconfig(user), user, kubeconfig.Credentials{Token: token}); err != nil {
			return err
		}
	}
	return nil
}

// writeServiceAccountKubeconfig issues a client certificate <name>.crt that
// kube-apiserver reports as the ServiceAccount
// streamspace-system/<serviceAccount> and writes the kubeconfig of
// component with it, in the context <component>.
func (s *Stack) writeServiceAccountKubeconfig(component, name, serviceAccount string) error {
	if err := s.pki().EnsureServiceAccountClient(name, serviceAccount); err != nil {
		return err
	}
	return kubeconfig.Write(s.paths.Kubeconfig(component), s.cluster(), component, component, s.clientCert(name))
}
