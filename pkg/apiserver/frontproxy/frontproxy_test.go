package frontproxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	clocktesting "k8s.io/utils/clock/testing"
)

type pki struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, cn string) pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return pki{cert, key}
}

func (ca pki) issue(t *testing.T, cn string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// caProvider is the trusted front-proxy CA, switchable like the real
// dynamic provider that follows the kube-system ConfigMap.
type caProvider struct{ pool *x509.CertPool }

func (p *caProvider) Name() string                             { return "test" }
func (p *caProvider) CurrentCABundleContent() []byte           { return nil }
func (p *caProvider) AddListener(dynamiccertificates.Listener) {}
func (p *caProvider) VerifyOptions() (x509.VerifyOptions, bool) {
	return x509.VerifyOptions{Roots: p.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, true
}

func pool(ca pki) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func request(cert *x509.Certificate, user string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, "https://streamspace/apis", nil)
	if cert != nil {
		req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	}
	req.Header.Set("X-Remote-User", user)
	req.Header.Set("X-Remote-Group", "system:authenticated")
	return req
}

func TestFrontProxyAuthentication(t *testing.T) {
	frontProxyCA, otherCA := newCA(t, "front-proxy-ca"), newCA(t, "other-ca")
	clock := clocktesting.NewFakeClock(time.Now())
	provider := &caProvider{pool: pool(frontProxyCA)}
	a := New(&authenticatorfactory.RequestHeaderConfig{
		UsernameHeaders:     headerrequest.StaticStringSlice{"X-Remote-User"},
		UIDHeaders:          headerrequest.StaticStringSlice{"X-Remote-Uid"},
		GroupHeaders:        headerrequest.StaticStringSlice{"X-Remote-Group"},
		ExtraHeaderPrefixes: headerrequest.StaticStringSlice{"X-Remote-Extra-"},
		CAContentProvider:   provider,
		AllowedClientNames:  headerrequest.StaticStringSlice{"front-proxy-client"},
	}, clock)

	proxyCert := frontProxyCA.issue(t, "front-proxy-client", time.Now().Add(90*time.Second))
	authenticate := func(cert *x509.Certificate, user string) (string, bool, error) {
		resp, ok, err := a.AuthenticateRequest(request(cert, user))
		if !ok || err != nil {
			return "", ok, err
		}
		return resp.User.GetName(), ok, nil
	}

	if _, ok, err := authenticate(nil, "alice"); ok || err != nil {
		t.Errorf("request without a certificate: ok=%v err=%v, want neither (next authenticator decides)", ok, err)
	}
	for i, user := range []string{"alice", "bob"} { // the second answer comes from the cache
		if got, ok, err := authenticate(proxyCert, user); !ok || err != nil || got != user {
			t.Errorf("front-proxy request %d: user %q ok=%v err=%v, want %s", i, got, ok, err, user)
		}
	}
	if _, ok, err := authenticate(otherCA.issue(t, "front-proxy-client", time.Now().Add(time.Hour)), "system:admin"); ok || err == nil {
		t.Errorf("a certificate of another CA with forged headers was accepted")
	}
	if _, ok, err := authenticate(frontProxyCA.issue(t, "mallory", time.Now().Add(time.Hour)), "system:admin"); ok || err == nil {
		t.Errorf("a front-proxy CA certificate with a CN outside the allow-list was accepted")
	}

	// A changed CA bundle is a new pool: the cached verdict does not apply.
	provider.pool = pool(otherCA)
	if _, ok, err := authenticate(proxyCert, "alice"); ok || err == nil {
		t.Errorf("the old proxy certificate was accepted after the CA bundle changed")
	}
	provider.pool = pool(frontProxyCA)
	if _, ok, err := authenticate(proxyCert, "alice"); !ok || err != nil {
		t.Fatalf("proxy certificate after the CA came back: ok=%v err=%v", ok, err)
	}
	// Once the certificate has expired the cached verdict ends with it.
	clock.Step(2 * time.Minute)
	if _, ok, err := authenticate(proxyCert, "alice"); ok || err == nil {
		t.Errorf("an expired proxy certificate was accepted from the cache")
	}
}
