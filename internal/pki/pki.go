// Package pki issues the certificates the control plane's tools write to
// disk: self-signed certificate authorities and the serving and client
// certificates they sign. Keys are ECDSA P-256; files are PEM, as
// k8s.io/client-go/util/cert and keyutil read and write them.
package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// KeyPair is a certificate with its private key, parsed and as PEM.
type KeyPair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// NewCA creates a self-signed certificate authority valid for ten years
// from now (cfg.NotBefore, when set, backdates its start).
func NewCA(cfg certutil.Config) (*KeyPair, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	cert, err := certutil.NewSelfSignedCACert(cfg, key)
	if err != nil {
		return nil, fmt.Errorf("create CA %s: %w", cfg.CommonName, err)
	}
	return newKeyPair(cert, key, keyPEM)
}

// Issue signs a new key's certificate with ca: for cfg's subject and
// alternative names, with cfg.Usages (server and/or client auth), valid
// from cfg.NotBefore (default now) until notAfter.
func (ca *KeyPair) Issue(cfg certutil.Config, notAfter time.Time) (*KeyPair, error) {
	if !ca.Cert.IsCA {
		return nil, fmt.Errorf("issue %s: %s is not a certificate authority", cfg.CommonName, ca.Cert.Subject)
	}
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("issue %s: %w", cfg.CommonName, err)
	}
	notBefore := cfg.NotBefore
	if notBefore.IsZero() {
		notBefore = time.Now()
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cfg.CommonName, Organization: cfg.Organization},
		DNSNames:     cfg.AltNames.DNSNames,
		IPAddresses:  cfg.AltNames.IPs,
		NotBefore:    notBefore.UTC(),
		NotAfter:     notAfter.UTC(),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  cfg.Usages,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate %s: %w", cfg.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return newKeyPair(cert, key, keyPEM)
}

// Load reads a certificate and its key (the first certificate of certFile).
func Load(certFile, keyFile string) (*KeyPair, error) {
	certs, err := certutil.CertsFromFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	key, err := parseSigner(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	return newKeyPair(certs[0], key, keyPEM)
}

// LoadCA is Load for a certificate authority: it fails when the certificate
// may not sign others.
func LoadCA(certFile, keyFile string) (*KeyPair, error) {
	ca, err := Load(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if !ca.Cert.IsCA || ca.Cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%s: %s is not a certificate authority", certFile, ca.Cert.Subject)
	}
	return ca, nil
}

// Write stores the key (mode 0600) and the certificate (0644), creating
// their directories.
func (kp *KeyPair) Write(certFile, keyFile string) error {
	if err := keyutil.WriteKey(keyFile, kp.KeyPEM); err != nil {
		return fmt.Errorf("write %s: %w", keyFile, err)
	}
	if err := certutil.WriteCert(certFile, kp.CertPEM); err != nil {
		return fmt.Errorf("write %s: %w", certFile, err)
	}
	return nil
}

// VerifyAgainst checks that the certificate chains to one of the roots in
// rootsPEM for usage, and, when dnsName is set, that it is valid for it.
func (kp *KeyPair) VerifyAgainst(rootsPEM []byte, dnsName string, usage x509.ExtKeyUsage) error {
	roots, err := certutil.NewPoolFromBytes(rootsPEM)
	if err != nil {
		return err
	}
	_, err = kp.Cert.Verify(x509.VerifyOptions{DNSName: dnsName, Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

func newKeyPair(cert *x509.Certificate, key crypto.Signer, keyPEM []byte) (*KeyPair, error) {
	certPEM, err := certutil.EncodeCertificates(cert)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

func newKey() (crypto.Signer, []byte, error) {
	keyPEM, err := keyutil.MakeEllipticPrivateKeyPEM()
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	key, err := parseSigner(keyPEM)
	if err != nil {
		return nil, nil, err
	}
	return key, keyPEM, nil
}

func parseSigner(keyPEM []byte) (crypto.Signer, error) {
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	return signer, nil
}
