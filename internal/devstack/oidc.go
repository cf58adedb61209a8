package devstack

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"k8s.io/client-go/util/keyutil"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"github.com/streamspace/controlplane/internal/devstack/credentials"
	"github.com/streamspace/controlplane/internal/devstack/kubeconfig"
	"github.com/streamspace/controlplane/internal/oidclogin"
	"github.com/streamspace/controlplane/internal/oidcprovider"
)

// The dev stack's OpenID provider: its clients, the groups of its people,
// and how kube-apiserver names the people it signs in.
const (
	// OIDCKubectlClientID is the public client kubectl signs in with (the
	// code flow with PKCE, refresh tokens); the audience kube-apiserver
	// accepts.
	OIDCKubectlClientID = "streamspace-kubectl"
	// OIDCBridgeClientID is a confidential client whose redirect URI is on
	// streamspace-bridge's address; its secret is pki/oidc-bridge-client.secret.
	OIDCBridgeClientID = "streamspace-bridge"
	// OIDCUsernamePrefix keeps people of the provider apart from every other
	// kind of user: the provider's carol is oidc:carol, and no ID token can
	// pass for a static-token user, a certificate or a ServiceAccount.
	OIDCUsernamePrefix = "oidc:"
	// UsersGroup: people with a namespace of their own name.
	UsersGroup = "streamspace-users"
	// AdminsGroup is bound to the ClusterRole streamspace-admin in every namespace.
	AdminsGroup = "streamspace-admins"
	// BridgeOIDCCallbackPath is the bridge client's redirect path.
	BridgeOIDCCallbackPath = "/auth/callback"
	// oidcBridgeSecretFile (under pki/) holds the bridge client's secret.
	oidcBridgeSecretFile = "oidc-bridge-client.secret"
)

// Person is someone who signs in at the stack's OpenID provider.
type Person struct {
	Name        string // username (preferred_username); kube-apiserver names them OIDCUsernamePrefix+Name
	Email       string
	DisplayName string
	Groups      []string
}

// DefaultPeople are the provider's people unless Config.People says otherwise.
var DefaultPeople = []Person{
	{Name: "alice", Email: "alice@streamspace.dev", DisplayName: "Alice Archer", Groups: []string{UsersGroup}},
	{Name: "bob", Email: "bob@streamspace.dev", DisplayName: "Bob Baker", Groups: []string{UsersGroup}},
	{Name: "carol", Email: "carol@streamspace.dev", DisplayName: "Carol Cooper", Groups: []string{UsersGroup}},
	{Name: "dana", Email: "dana@streamspace.dev", DisplayName: "Dana Dunn", Groups: []string{AdminsGroup}},
}

// hasNamespace reports whether p gets a namespace of their own name.
func (p Person) hasNamespace() bool { return slices.Contains(p.Groups, UsersGroup) }

// OIDCUser is the user name kube-apiserver gives a person of the provider.
func OIDCUser(person string) string { return OIDCUsernamePrefix + person }

// subject is a person's sub claim: stable for a name, so RBAC keyed on the
// uid and cached tokens survive restarts, and opaque like a real provider's.
func subject(name string) string {
	sum := sha256.Sum256([]byte("streamspace-dev person " + name))
	return hex.EncodeToString(sum[:16])
}

// UserPasswordFile is the path of a person's password at the provider.
func (s *Stack) UserPasswordFile(person string) string { return s.paths.UserPassword(person) }

// UserOIDCKubeconfig is the path of a person's kubeconfig that signs in at
// the provider through `streamspace-dev oidc-token`.
func (s *Stack) UserOIDCKubeconfig(person string) string { return s.paths.UserOIDCKubeconfig(person) }

// DevCommand is the path of streamspace-dev in the bin directory: the
// credential plugin the OIDC kubeconfigs run (`make build`).
func (s *Stack) DevCommand() string { return s.paths.Bin("streamspace-dev") }

// startOIDCProvider serves the provider in this process on its port, before
// kube-apiserver, which discovers its keys.
func (s *Stack) startOIDCProvider(ctx context.Context) error {
	names := make([]string, 0, len(s.cfg.People))
	for _, p := range s.cfg.People {
		names = append(names, p.Name)
	}
	passwords, err := credentials.EnsurePasswords(names, s.paths.UserPassword)
	if err != nil {
		return err
	}
	bridgeSecret, err := s.ensureSecretFile(s.pki().File(oidcBridgeSecretFile))
	if err != nil {
		return err
	}
	key, err := keyutil.PrivateKeyFromFile(s.pki().File("oidc-signing.key"))
	if err != nil {
		return fmt.Errorf("OpenID provider signing key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return fmt.Errorf("OpenID provider signing key is a %T", key)
	}
	var people []oidcprovider.Person
	for _, p := range s.cfg.People {
		people = append(people, oidcprovider.Person{Subject: subject(p.Name), Username: p.Name, Password: passwords[p.Name],
			Email: p.Email, Name: p.DisplayName, Groups: p.Groups})
	}
	logger := klog.Background().WithName("devstack")
	handler, err := oidcprovider.New(klog.NewContext(ctx, logger), oidcprovider.Config{
		Issuer: s.OIDCIssuerURL, SigningKey: signer, People: people,
		Clients: []oidcprovider.Client{
			{ID: OIDCKubectlClientID, RedirectURIs: []string{oidclogin.RedirectURL}},
			{ID: OIDCBridgeClientID, Secret: bridgeSecret,
				RedirectURIs:           []string{"http://127.0.0.1:" + strconv.Itoa(s.Ports.Bridge) + BridgeOIDCCallbackPath},
				PostLogoutRedirectURIs: []string{"http://127.0.0.1:" + strconv.Itoa(s.Ports.Bridge) + "/auth/signed-out"}},
		},
	})
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(s.pki().File("oidc.crt"), s.pki().File("oidc.key"))
	if err != nil {
		return fmt.Errorf("OpenID provider serving certificate: %w", err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(s.Ports.OIDC))
	if err != nil {
		return fmt.Errorf("OpenID provider: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	s.oidcServer = srv
	go func() {
		if err := srv.ServeTLS(listener, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logf("OpenID provider stopped: %v", err)
		}
	}()
	s.logf("OpenID provider serving %s", s.OIDCIssuerURL)
	return nil
}

// ensureSecretFile returns the secret in path, made (random, 0600) the first time.
func (s *Stack) ensureSecretFile(path string) (string, error) {
	if data := readFile(path); len(data) > 0 {
		return string(data), nil
	}
	secret, err := credentials.RandomHex(24)
	if err != nil {
		return "", err
	}
	return secret, os.WriteFile(path, []byte(secret), 0o600)
}

func (s *Stack) stopOIDCProvider() error {
	if s.oidcServer == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.oidcServer.Shutdown(ctx)
}

// writeAuthenticationConfig writes kube-apiserver's --authentication-config:
// ID tokens of the provider, for the kubectl client, name the person
// oidc:<preferred_username> with the groups of the groups claim and the
// sub claim as uid, with the email, name and sign-in time (auth_time, or
// iat without it) as extras (see docs/identity.md). Group names are not prefixed, so the bindings read
// like an IdP's groups (streamspace-admins); names and groups under
// system: are refused.
func (s *Stack) writeAuthenticationConfig() (string, error) {
	prefix, noPrefix := OIDCUsernamePrefix, ""
	cfg := apiserverv1.AuthenticationConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: apiserverv1.SchemeGroupVersion.String(), Kind: "AuthenticationConfiguration"},
		JWT: []apiserverv1.JWTAuthenticator{{
			Issuer: apiserverv1.Issuer{
				URL:                  s.OIDCIssuerURL,
				CertificateAuthority: string(readFile(s.OIDCCA)),
				// kubectl's ID tokens and those the bridge passes on for
				// the people signed in to its dashboard.
				Audiences:           []string{OIDCKubectlClientID, OIDCBridgeClientID},
				AudienceMatchPolicy: apiserverv1.AudienceMatchPolicyMatchAny,
			},
			ClaimMappings: apiserverv1.ClaimMappings{
				Username: apiserverv1.PrefixedClaimOrExpression{Claim: "preferred_username", Prefix: &prefix},
				Groups:   apiserverv1.PrefixedClaimOrExpression{Claim: "groups", Prefix: &noPrefix},
				UID:      apiserverv1.ClaimOrExpression{Claim: "sub"},
				// The person's address, name and sign-in time, which
				// kube-apiserver forwards to streamspace-apiserver as
				// X-Remote-Extra- headers; it records them in the User.
				Extra: []apiserverv1.ExtraMapping{
					{Key: "streamspace.io/email", ValueExpression: "has(claims.email) ? claims.email : ''"},
					{Key: "streamspace.io/name", ValueExpression: "has(claims.name) ? claims.name : ''"},
					{Key: "streamspace.io/login-time", ValueExpression: "string(int(has(claims.auth_time) ? claims.auth_time : claims.iat))"},
				},
			},
			UserValidationRules: []apiserverv1.UserValidationRule{
				{Expression: "user.groups.all(g, !g.startsWith('system:'))", Message: "groups under system: are reserved"},
			},
		}},
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	path := s.paths.Manifest("authentication-config.yaml")
	return path, os.WriteFile(path, data, 0o644)
}

// writeOIDCKubeconfigs writes users/<person>.oidc.kubeconfig: kubectl runs
// `streamspace-dev oidc-token` for an ID token, which signs in with the
// person's password file and caches and refreshes the tokens.
func (s *Stack) writeOIDCKubeconfigs() error {
	dev := s.DevCommand()
	for _, p := range s.cfg.People {
		user := OIDCUser(p.Name)
		if err := s.writeKubeconfig(s.paths.UserOIDCKubeconfig(p.Name), user, kubeconfig.Credentials{Exec: kubeconfig.ExecPlugin(dev,
			"oidc-token",
			"--issuer="+s.OIDCIssuerURL,
			"--client-id="+OIDCKubectlClientID,
			"--ca="+s.OIDCCA,
			"--user="+p.Name,
			"--password-file="+s.paths.UserPassword(p.Name),
			"--cache="+s.paths.OIDCTokenCache(),
		)}); err != nil {
			return err
		}
	}
	return nil
}
