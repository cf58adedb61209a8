package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

const (
	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"
	caValidity = 10 * 365 * 24 * time.Hour
	// Certificates start a little in the past so that a clock slightly
	// behind the one that signed them still accepts them.
	clockSkew = 5 * time.Minute
)

// authority is the CA the aggregator trusts for streamspace-apiserver.
type authority struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

// keyPair is an issued certificate with its key, both PEM.
type keyPair struct {
	cert    *x509.Certificate
	certPEM []byte
	keyPEM  []byte
}

// loadOrCreateCA reads the CA in dir, or creates one there when dir holds
// none. Reusing the CA keeps caBundle stable, so renewing the serving
// certificate needs no APIService change.
func loadOrCreateCA(dir string) (ca *authority, created bool, err error) {
	certPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
	certExists, err := exists(certPath)
	if err != nil {
		return nil, false, err
	}
	keyExists, err := exists(keyPath)
	if err != nil {
		return nil, false, err
	}
	switch {
	case certExists && keyExists:
		ca, err := loadCA(certPath, keyPath)
		return ca, false, err
	case certExists || keyExists:
		return nil, false, fmt.Errorf("CA in %s: need both %s and %s, found only one", dir, caCertFile, caKeyFile)
	}
	ca, keyPEM, err := newCA()
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create CA directory: %w", err)
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return nil, false, fmt.Errorf("write CA key: %w", err)
	}
	if err := os.WriteFile(certPath, ca.certPEM, 0o644); err != nil {
		return nil, false, fmt.Errorf("write CA certificate: %w", err)
	}
	return ca, true, nil
}

func loadCA(certPath, keyPath string) (*authority, error) {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("load CA %s: %w", certPath, err)
	}
	cert := pair.Leaf
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("load CA %s: %s is not a certificate authority", certPath, cert.Subject)
	}
	if time.Now().After(cert.NotAfter) {
		return nil, fmt.Errorf("load CA %s: expired on %s; rotate the CA (docs/deploy.md)", certPath, cert.NotAfter.Format(time.DateOnly))
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("load CA %s: unsupported private key type %T", keyPath, pair.PrivateKey)
	}
	return &authority{cert: cert, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), key: signer}, nil
}

func newCA() (*authority, []byte, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	template := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "streamspace-apiserver-ca@" + now.UTC().Format("20060102T150405Z")},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	cert, certPEM, err := sign(template, template, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA: %w", err)
	}
	return &authority{cert: cert, certPEM: certPEM, key: key}, keyPEM, nil
}

// issueServingCert issues the certificate streamspace-apiserver serves,
// for the names the aggregator dials (<service>.<namespace>.svc and its
// fully qualified form). It never outlives the CA.
func (ca *authority) issueServingCert(dnsNames []string, validity time.Duration) (*keyPair, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		fmt.Fprintf(os.Stderr, "warning: the CA expires on %s, so does the serving certificate; plan a CA rotation (docs/deploy.md)\n",
			ca.cert.NotAfter.Format(time.DateOnly))
		notAfter = ca.cert.NotAfter
	}
	template := &x509.Certificate{
		Subject:     pkix.Name{CommonName: dnsNames[0]},
		DNSNames:    dnsNames,
		NotBefore:   now.Add(-clockSkew),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	cert, certPEM, err := sign(template, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue serving certificate: %w", err)
	}
	return &keyPair{cert: cert, certPEM: certPEM, keyPEM: keyPEM}, nil
}

// caBundle is the CA plus any other CA to trust while rotating, as PEM.
func caBundle(ca *authority, trustFiles []string) ([]byte, error) {
	bundle := bytes.Clone(ca.certPEM)
	for _, path := range trustFiles {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read --trust-ca: %w", err)
		}
		certs, err := parseCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("read --trust-ca %s: %w", path, err)
		}
		for _, cert := range certs {
			if cert.Equal(ca.cert) {
				continue
			}
			if !cert.IsCA {
				return nil, fmt.Errorf("read --trust-ca %s: %s is not a certificate authority", path, cert.Subject)
			}
			bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
		}
	}
	return bundle, nil
}

// verifyServingCert checks what the aggregator will check: the serving
// certificate chains to caBundle for every service name.
func verifyServingCert(certPEM, bundlePEM []byte, dnsNames []string) error {
	certs, err := parseCertificates(certPEM)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundlePEM) {
		return errors.New("caBundle holds no certificate")
	}
	for _, name := range dnsNames {
		if _, err := certs[0].Verify(x509.VerifyOptions{
			DNSName:   name,
			Roots:     roots,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			return fmt.Errorf("serving certificate does not verify for %s: %w", name, err)
		}
	}
	return nil
}

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func sign(template, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, []byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	template.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, template, parent, pub, signer)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
