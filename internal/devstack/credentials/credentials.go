// Package credentials keeps the certificates, keys and bearer tokens of a
// dev stack's identities in its pki directory: made once, reused on every
// start, remade only when they no longer fit.
package credentials

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"

	"github.com/streamspace/controlplane/internal/pki"
)

// certValidity is long: the state directory is a developer's, reused for years.
const certValidity = 10 * 365 * 24 * time.Hour

// Names of the identities the stack issues certificates to.
const (
	FrontProxyClient = "front-proxy-client"
	// TokenWebhookClient is kube-apiserver's identity when it calls
	// streamspace-apiserver's API key token webhook.
	TokenWebhookClient = "streamspace-token-webhook-client"
	StreamspaceUser    = "streamspace-apiserver"
	Namespace          = "streamspace-system"
	StreamspaceService = "streamspace-apiserver"
)

// ServiceAccountGroups are the groups kube-apiserver's token authenticator
// reports for a ServiceAccount of Namespace.
var ServiceAccountGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + Namespace}

// Dir is a stack's pki directory.
type Dir string

// File is the path of a file in the directory ("ca.crt", "admin.key", ...).
func (d Dir) File(name string) string { return filepath.Join(string(d), name) }

type leafSpec struct {
	name   string // file name without extension
	cn     string
	orgs   []string
	dns    []string
	ips    []net.IP
	server bool
	client bool
}

// Ensure creates what is missing in the directory and keeps what is there:
// a leaf is remade only when it does not verify against its CA (the CA was
// remade) or lacks a SAN it needs.
func (d Dir) Ensure() error {
	ca, err := d.ensureCA("ca", "streamspace-dev-ca")
	if err != nil {
		return err
	}
	frontProxyCA, err := d.ensureCA("front-proxy-ca", "streamspace-dev-front-proxy-ca")
	if err != nil {
		return err
	}
	streamspaceCA, err := d.ensureCA("streamspace-ca", "streamspace-apiserver-ca")
	if err != nil {
		return err
	}
	oidcCA, err := d.ensureCA("oidc-ca", "streamspace-dev-oidc-ca")
	if err != nil {
		return err
	}
	local := []net.IP{net.ParseIP("127.0.0.1")}
	leaves := []struct {
		ca   *pki.KeyPair
		spec leafSpec
	}{
		{ca, leafSpec{name: "apiserver", cn: "kube-apiserver", server: true,
			dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			ips: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")}}},
		{ca, leafSpec{name: "admin", cn: "streamspace-dev-admin", orgs: []string{"system:masters"}, client: true}},
		{ca, leafSpec{name: "controller-manager", cn: "system:kube-controller-manager", client: true}},
		{ca, leafSpec{name: "scheduler", cn: "system:kube-scheduler", client: true}},
		{ca, leafSpec{name: "streamspace-apiserver-client", cn: StreamspaceUser, client: true}},
		{frontProxyCA, leafSpec{name: "front-proxy-client", cn: FrontProxyClient, client: true}},
		{ca, leafSpec{name: "token-webhook-client", cn: TokenWebhookClient, client: true}},
		{streamspaceCA, leafSpec{name: "streamspace-apiserver", cn: StreamspaceService + "." + Namespace + ".svc", server: true,
			dns: []string{
				StreamspaceService + "." + Namespace + ".svc",
				StreamspaceService + "." + Namespace + ".svc.cluster.local",
				"localhost",
			},
			ips: local}},
		{oidcCA, leafSpec{name: "oidc", cn: "streamspace-dev-oidc-provider", server: true, dns: []string{"localhost"}, ips: local}},
		// kwok's kubelet server (every fake node's address is 127.0.0.1),
		// which kube-apiserver verifies, and kube-apiserver's client
		// certificate towards it.
		{ca, leafSpec{name: "kwok-kubelet", cn: "kwok-kubelet", server: true, dns: []string{"localhost"}, ips: local}},
		{ca, leafSpec{name: "kubelet-client", cn: "kube-apiserver-kubelet-client", client: true}},
	}
	for _, l := range leaves {
		if err := d.ensureLeaf(l.ca, l.spec); err != nil {
			return err
		}
	}
	// The service-account signing key (kube-apiserver reads the public half
	// from the same file).
	if _, _, err := keyutil.LoadOrGenerateKeyFile(d.File("sa.key")); err != nil {
		return fmt.Errorf("service-account key: %w", err)
	}
	// The OpenID provider's ID token signing key (ECDSA P-256: ES256),
	// kept so tokens and the JWKS survive a restart.
	if _, _, err := keyutil.LoadOrGenerateKeyFile(d.File("oidc-signing.key")); err != nil {
		return fmt.Errorf("OpenID provider signing key: %w", err)
	}
	return nil
}

// EnsureServiceAccountClient keeps <name>.crt and <name>.key: a client
// certificate of the cluster CA that kube-apiserver reports as the
// ServiceAccount Namespace/serviceAccount, so the RBAC of the production
// ServiceAccount binds it unchanged.
func (d Dir) EnsureServiceAccountClient(name, serviceAccount string) error {
	ca, err := pki.Load(d.File("ca.crt"), d.File("ca.key"))
	if err != nil {
		return fmt.Errorf("load the cluster CA: %w", err)
	}
	return d.ensureLeaf(ca, leafSpec{name: name, cn: ServiceAccountUser(serviceAccount), orgs: ServiceAccountGroups, client: true})
}

// ServiceAccountUser is the user name of a ServiceAccount of Namespace.
func ServiceAccountUser(serviceAccount string) string {
	return "system:serviceaccount:" + Namespace + ":" + serviceAccount
}

func (d Dir) ensureCA(name, cn string) (*pki.KeyPair, error) {
	certPath, keyPath := d.File(name+".crt"), d.File(name+".key")
	if ca, err := pki.Load(certPath, keyPath); err == nil && ca.Cert.IsCA && time.Now().Before(ca.Cert.NotAfter) {
		return ca, nil
	}
	ca, err := pki.NewCA(certutil.Config{CommonName: cn})
	if err != nil {
		return nil, err
	}
	if err := ca.Write(certPath, keyPath); err != nil {
		return nil, err
	}
	return ca, nil
}

func (d Dir) ensureLeaf(ca *pki.KeyPair, spec leafSpec) error {
	certPath, keyPath := d.File(spec.name+".crt"), d.File(spec.name+".key")
	if existing, err := pki.Load(certPath, keyPath); err == nil && leafStillGood(existing, ca, spec) {
		return nil
	}
	cfg := certutil.Config{
		CommonName:   spec.cn,
		Organization: spec.orgs,
		AltNames:     certutil.AltNames{DNSNames: spec.dns, IPs: spec.ips},
		NotBefore:    time.Now().Add(-time.Hour),
	}
	if spec.server {
		cfg.Usages = append(cfg.Usages, x509.ExtKeyUsageServerAuth)
	}
	if spec.client {
		cfg.Usages = append(cfg.Usages, x509.ExtKeyUsageClientAuth)
	}
	leaf, err := ca.Issue(cfg, time.Now().Add(certValidity))
	if err != nil {
		return fmt.Errorf("certificate %s: %w", spec.name, err)
	}
	return leaf.Write(certPath, keyPath)
}

func leafStillGood(leaf, ca *pki.KeyPair, spec leafSpec) bool {
	if err := leaf.VerifyAgainst(ca.CertPEM, "", x509.ExtKeyUsageAny); err != nil {
		return false
	}
	for _, d := range spec.dns {
		if !slices.Contains(leaf.Cert.DNSNames, d) {
			return false
		}
	}
	return leaf.Cert.Subject.CommonName == spec.cn && time.Now().Add(24*time.Hour).Before(leaf.Cert.NotAfter)
}

// EnsureTokens gives each user a random bearer token in tokenFile(user),
// kept across restarts, and writes kube-apiserver's --token-auth-file
// (tokens.csv) from them.
func (d Dir) EnsureTokens(users []string, tokenFile func(user string) string) error {
	var csv strings.Builder
	for _, user := range users {
		path := tokenFile(user)
		data, _ := os.ReadFile(path) // none yet: a new token
		token := strings.TrimSpace(string(data))
		if token == "" {
			var err error
			if token, err = RandomHex(24); err != nil {
				return err
			}
			if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
				return fmt.Errorf("write token of %s: %w", user, err)
			}
		}
		// token,user,uid
		fmt.Fprintf(&csv, "%s,%s,%s\n", token, user, user)
	}
	return os.WriteFile(d.File("tokens.csv"), []byte(csv.String()), 0o600)
}

// EnsurePasswords gives each person a random password, kept across
// restarts in passwordFile(person) (0600, no newline), and returns them.
func EnsurePasswords(people []string, passwordFile func(person string) string) (map[string]string, error) {
	passwords := map[string]string{}
	for _, person := range people {
		path := passwordFile(person)
		data, _ := os.ReadFile(path) // none yet: a new password
		password := strings.TrimSpace(string(data))
		if password == "" {
			password = rand.Text()
			if err := os.WriteFile(path, []byte(password), 0o600); err != nil {
				return nil, fmt.Errorf("write password of %s: %w", person, err)
			}
		}
		passwords[person] = password
	}
	return passwords, nil
}

// RandomHex is n random bytes, hex-encoded: a token or a shared secret.
func RandomHex(n int) (string, error) {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(buf), nil
}
