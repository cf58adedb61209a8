package devstack

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"slices"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// certValidity is long: the state directory is a developer's, reused for years.
const certValidity = 10 * 365 * 24 * time.Hour

// Names of the identities the stack issues certificates to.
const (
	frontProxyClientName = "front-proxy-client"
	streamspaceUser      = "streamspace-apiserver"
	streamspaceNamespace = "streamspace-system"
	streamspaceService   = "streamspace-apiserver"
)

type certAuthority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

type leafSpec struct {
	name   string // file name without extension
	cn     string
	orgs   []string
	dns    []string
	ips    []net.IP
	server bool
	client bool
}

// ensurePKI creates what is missing in <Dir>/pki and keeps what is there:
// a leaf is remade only when it does not verify against its CA (the CA was
// remade) or lacks a SAN it needs.
func (s *Stack) ensurePKI() error {
	ca, err := s.ensureCA("ca", "streamspace-dev-ca")
	if err != nil {
		return err
	}
	frontProxyCA, err := s.ensureCA("front-proxy-ca", "streamspace-dev-front-proxy-ca")
	if err != nil {
		return err
	}
	streamspaceCA, err := s.ensureCA("streamspace-ca", "streamspace-apiserver-ca")
	if err != nil {
		return err
	}
	local := []net.IP{net.ParseIP("127.0.0.1")}
	leaves := []struct {
		ca   *certAuthority
		spec leafSpec
	}{
		{ca, leafSpec{name: "apiserver", cn: "kube-apiserver", server: true,
			dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			ips: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")}}},
		{ca, leafSpec{name: "admin", cn: "streamspace-dev-admin", orgs: []string{"system:masters"}, client: true}},
		{ca, leafSpec{name: "controller-manager", cn: "system:kube-controller-manager", client: true}},
		{ca, leafSpec{name: "scheduler", cn: "system:kube-scheduler", client: true}},
		{ca, leafSpec{name: "streamspace-apiserver-client", cn: streamspaceUser, client: true}},
		{frontProxyCA, leafSpec{name: "front-proxy-client", cn: frontProxyClientName, client: true}},
		{streamspaceCA, leafSpec{name: "streamspace-apiserver", cn: streamspaceService + "." + streamspaceNamespace + ".svc", server: true,
			dns: []string{
				streamspaceService + "." + streamspaceNamespace + ".svc",
				streamspaceService + "." + streamspaceNamespace + ".svc.cluster.local",
				"localhost",
			},
			ips: local}},
	}
	for _, l := range leaves {
		if err := s.ensureLeaf(l.ca, l.spec); err != nil {
			return err
		}
	}
	// The service-account signing key (kube-apiserver reads the public half
	// from the same file).
	if _, _, err := keyutil.LoadOrGenerateKeyFile(s.paths.pkiFile("sa.key")); err != nil {
		return fmt.Errorf("service-account key: %w", err)
	}
	return nil
}

func (s *Stack) ensureCA(name, cn string) (*certAuthority, error) {
	certPath, keyPath := s.paths.pkiFile(name+".crt"), s.paths.pkiFile(name+".key")
	if ca, err := loadCertKey(certPath, keyPath); err == nil && ca.cert.IsCA && time.Now().Before(ca.cert.NotAfter) {
		return ca, nil
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	cert, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: cn}, key)
	if err != nil {
		return nil, fmt.Errorf("create CA %s: %w", name, err)
	}
	ca := &certAuthority{cert: cert, key: key}
	if err := writeCertKey(certPath, keyPath, cert, key); err != nil {
		return nil, err
	}
	return ca, nil
}

func (s *Stack) ensureLeaf(ca *certAuthority, spec leafSpec) error {
	certPath, keyPath := s.paths.pkiFile(spec.name+".crt"), s.paths.pkiFile(spec.name+".key")
	if existing, err := loadCertKey(certPath, keyPath); err == nil && leafStillGood(existing.cert, ca, spec) {
		return nil
	}
	key, err := newKey()
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.cn, Organization: spec.orgs},
		DNSNames:     spec.dns,
		IPAddresses:  spec.ips,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if spec.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if spec.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return fmt.Errorf("sign certificate %s: %w", spec.name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	return writeCertKey(certPath, keyPath, cert, key)
}

func leafStillGood(cert *x509.Certificate, ca *certAuthority, spec leafSpec) bool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return false
	}
	for _, d := range spec.dns {
		if !slices.Contains(cert.DNSNames, d) {
			return false
		}
	}
	return cert.Subject.CommonName == spec.cn && time.Now().Add(24*time.Hour).Before(cert.NotAfter)
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return key, nil
}

func loadCertKey(certPath, keyPath string) (*certAuthority, error) {
	certs, err := certutil.CertsFromFile(certPath)
	if err != nil {
		return nil, err
	}
	key, err := keyutil.PrivateKeyFromFile(keyPath)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", keyPath)
	}
	return &certAuthority{cert: certs[0], key: signer}, nil
}

func writeCertKey(certPath, keyPath string, cert *x509.Certificate, key crypto.Signer) error {
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return err
	}
	certPEM, err := certutil.EncodeCertificates(cert)
	if err != nil {
		return err
	}
	if err := keyutil.WriteKey(keyPath, keyPEM); err != nil {
		return fmt.Errorf("write %s: %w", keyPath, err)
	}
	if err := certutil.WriteCert(certPath, certPEM); err != nil {
		return fmt.Errorf("write %s: %w", certPath, err)
	}
	return nil
}

func readFile(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return data
}
