package pki

import (
	"crypto/x509"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	certutil "k8s.io/client-go/util/cert"
)

func TestIssueAndLoad(t *testing.T) {
	ca, err := NewCA(certutil.Config{CommonName: "test-ca@20260101T000000Z", NotBefore: time.Now().Add(-5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caCert, caKey := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if err := ca.Write(caCert, caKey); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadCA(caCert, caKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cfg   certutil.Config
		usage x509.ExtKeyUsage
	}{
		{"serving", certutil.Config{CommonName: "svc.ns.svc", AltNames: certutil.AltNames{
			DNSNames: []string{"svc.ns.svc", "localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}},
			Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, x509.ExtKeyUsageServerAuth},
		{"client", certutil.Config{CommonName: "user", Organization: []string{"group"},
			Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, x509.ExtKeyUsageClientAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			notAfter := time.Now().Add(time.Hour).Truncate(time.Second)
			leaf, err := loaded.Issue(tt.cfg, notAfter)
			if err != nil {
				t.Fatal(err)
			}
			certFile, keyFile := filepath.Join(dir, tt.name+".crt"), filepath.Join(dir, tt.name+".key")
			if err := leaf.Write(certFile, keyFile); err != nil {
				t.Fatal(err)
			}
			again, err := Load(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			c := again.Cert
			if c.Subject.CommonName != tt.cfg.CommonName || !slices.Equal(c.Subject.Organization, tt.cfg.Organization) || !c.NotAfter.Equal(notAfter) {
				t.Errorf("subject %v until %s, want CN=%s O=%v until %s", c.Subject, c.NotAfter, tt.cfg.CommonName, tt.cfg.Organization, notAfter)
			}
			for _, name := range append([]string{""}, tt.cfg.AltNames.DNSNames...) {
				if err := again.VerifyAgainst(ca.CertPEM, name, tt.usage); err != nil {
					t.Errorf("verify for %q: %v", name, err)
				}
			}
			if _, err := LoadCA(certFile, keyFile); err == nil {
				t.Error("LoadCA accepted a leaf certificate")
			}
		})
	}
}
