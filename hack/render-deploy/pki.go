package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	certutil "k8s.io/client-go/util/cert"

	"github.com/streamspace/controlplane/internal/pki"
)

const (
	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"
	// Certificates start a little in the past so that a clock slightly
	// behind the one that signed them still accepts them.
	clockSkew = 5 * time.Minute
)

// authority is the CA the aggregator trusts for streamspace-apiserver.
type authority struct {
	cert    *x509.Certificate
	certPEM []byte
	signer  *pki.KeyPair
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
	now := time.Now()
	pair, err := pki.NewCA(certutil.Config{
		CommonName: "streamspace-apiserver-ca@" + now.UTC().Format("20060102T150405Z"),
		NotBefore:  now.Add(-clockSkew),
	})
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create CA directory: %w", err)
	}
	if err := pair.Write(certPath, keyPath); err != nil {
		return nil, false, fmt.Errorf("write CA: %w", err)
	}
	return &authority{cert: pair.Cert, certPEM: pair.CertPEM, signer: pair}, true, nil
}

func loadCA(certPath, keyPath string) (*authority, error) {
	pair, err := pki.LoadCA(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("load CA %s: %w", certPath, err)
	}
	if time.Now().After(pair.Cert.NotAfter) {
		return nil, fmt.Errorf("load CA %s: expired on %s; rotate the CA (docs/deploy.md)", certPath, pair.Cert.NotAfter.Format(time.DateOnly))
	}
	return &authority{cert: pair.Cert, certPEM: pair.CertPEM, signer: pair}, nil
}

// issueServingCert issues the certificate streamspace-apiserver serves,
// for the names the aggregator dials (<service>.<namespace>.svc and its
// fully qualified form). It never outlives the CA.
func (ca *authority) issueServingCert(dnsNames []string, validity time.Duration) (*keyPair, error) {
	now := time.Now()
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		fmt.Fprintf(os.Stderr, "warning: the CA expires on %s, so does the serving certificate; plan a CA rotation (docs/deploy.md)\n",
			ca.cert.NotAfter.Format(time.DateOnly))
		notAfter = ca.cert.NotAfter
	}
	serving, err := ca.signer.Issue(certutil.Config{
		CommonName: dnsNames[0],
		AltNames:   certutil.AltNames{DNSNames: dnsNames},
		Usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		NotBefore:  now.Add(-clockSkew),
	}, notAfter)
	if err != nil {
		return nil, fmt.Errorf("issue serving certificate: %w", err)
	}
	return &keyPair{cert: serving.Cert, certPEM: serving.CertPEM, keyPEM: serving.KeyPEM}, nil
}

// caBundle is the CA plus any other CA to trust while rotating, as PEM.
func caBundle(ca *authority, trustFiles []string) ([]byte, error) {
	bundle := bytes.Clone(ca.certPEM)
	for _, path := range trustFiles {
		certs, err := certutil.CertsFromFile(path)
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
			certPEM, err := certutil.EncodeCertificates(cert)
			if err != nil {
				return nil, err
			}
			bundle = append(bundle, certPEM...)
		}
	}
	return bundle, nil
}

// verifyServingCert checks what the aggregator will check: the serving
// certificate chains to caBundle for every service name.
func verifyServingCert(certPEM, bundlePEM []byte, dnsNames []string) error {
	certs, err := certutil.ParseCertsPEM(certPEM)
	if err != nil {
		return err
	}
	serving := &pki.KeyPair{Cert: certs[0]}
	for _, name := range dnsNames {
		if err := serving.VerifyAgainst(bundlePEM, name, x509.ExtKeyUsageServerAuth); err != nil {
			return fmt.Errorf("serving certificate does not verify for %s: %w", name, err)
		}
	}
	return nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
