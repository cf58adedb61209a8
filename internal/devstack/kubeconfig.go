package devstack

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ensureTokens gives each sample user, and the metrics scraper, a random
// bearer token, kept across restarts, and writes kube-apiserver's
// --token-auth-file from them.
func (s *Stack) ensureTokens() error {
	var csv strings.Builder
	for _, user := range append(append([]string(nil), s.cfg.Users...), MetricsScraper) {
		path := s.paths.userToken(user)
		token := strings.TrimSpace(string(readFile(path)))
		if token == "" {
			buf := make([]byte, 24)
			if _, err := rand.Read(buf); err != nil {
				return err
			}
			token = hex.EncodeToString(buf)
			if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
				return fmt.Errorf("write token of %s: %w", user, err)
			}
		}
		// token,user,uid
		fmt.Fprintf(&csv, "%s,%s,%s\n", token, user, user)
	}
	return os.WriteFile(s.paths.pkiFile("tokens.csv"), []byte(csv.String()), 0o600)
}

// writeKubeconfigs writes the admin's, the users' and the components'
// kubeconfigs with the current kube-apiserver URL. Credentials are embedded,
// so the files work from anywhere.
func (s *Stack) writeKubeconfigs() error {
	ca := readFile(s.CACert)
	clientCert := func(name string) func(*clientcmdapi.AuthInfo) {
		return func(a *clientcmdapi.AuthInfo) {
			a.ClientCertificateData = readFile(s.paths.pkiFile(name + ".crt"))
			a.ClientKeyData = readFile(s.paths.pkiFile(name + ".key"))
		}
	}
	write := func(path, user string, auth func(*clientcmdapi.AuthInfo)) error {
		cfg := clientcmdapi.NewConfig()
		cluster := clientcmdapi.NewCluster()
		cluster.Server = s.KubeAPIServerURL
		cluster.CertificateAuthorityData = ca
		cfg.Clusters["streamspace-dev"] = cluster
		authInfo := clientcmdapi.NewAuthInfo()
		auth(authInfo)
		cfg.AuthInfos[user] = authInfo
		kctx := clientcmdapi.NewContext()
		kctx.Cluster = "streamspace-dev"
		kctx.AuthInfo = user
		cfg.Contexts[user+"@streamspace-dev"] = kctx
		cfg.CurrentContext = user + "@streamspace-dev"
		if err := clientcmd.WriteToFile(*cfg, path); err != nil {
			return fmt.Errorf("write kubeconfig %s: %w", path, err)
		}
		return os.Chmod(path, 0o600)
	}

	if err := write(s.AdminKubeconfig, "admin", clientCert("admin")); err != nil {
		return err
	}
	for _, c := range []struct{ component, cert string }{
		{"kube-controller-manager", "controller-manager"},
		{"kube-scheduler", "scheduler"},
		{"kwok", "admin"},
		{"streamspace-apiserver", "streamspace-apiserver-client"},
	} {
		if err := write(s.paths.kubeconfig(c.component), c.component, clientCert(c.cert)); err != nil {
			return err
		}
	}
	for _, user := range s.cfg.Users {
		token, err := s.UserToken(user)
		if err != nil {
			return err
		}
		if err := write(s.paths.userKubeconfig(user), user, func(a *clientcmdapi.AuthInfo) { a.Token = token }); err != nil {
			return err
		}
	}
	return nil
}
