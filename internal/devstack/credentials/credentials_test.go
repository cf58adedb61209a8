package credentials

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"testing"

	certutil "k8s.io/client-go/util/cert"
)

func TestEnsurePKIReusesAndRepairs(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	apiserverCert := readFile(t, d.File("apiserver.crt"))
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(apiserverCert, readFile(t, d.File("apiserver.crt"))) {
		t.Fatal("second Ensure replaced a valid certificate")
	}

	// A new CA makes every leaf it signs new; the other CAs' leaves stay.
	streamspaceCert := readFile(t, d.File("streamspace-apiserver.crt"))
	if err := os.Remove(d.File("ca.crt")); err != nil {
		t.Fatal(err)
	}
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(apiserverCert, readFile(t, d.File("apiserver.crt"))) {
		t.Fatal("apiserver certificate not reissued after its CA changed")
	}
	if !bytes.Equal(streamspaceCert, readFile(t, d.File("streamspace-apiserver.crt"))) {
		t.Fatal("streamspace-apiserver certificate reissued though its CA did not change")
	}
	for _, name := range []string{"apiserver", "admin", "controller-manager", "scheduler", "streamspace-apiserver-client"} {
		verifyAgainst(t, d.File("ca.crt"), d.File(name+".crt"))
	}
	verifyAgainst(t, d.File("front-proxy-ca.crt"), d.File("front-proxy-client.crt"))
	verifyAgainst(t, d.File("streamspace-ca.crt"), d.File("streamspace-apiserver.crt"))
}

func TestCertificateIdentities(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file     string
		cn       string
		orgs     []string
		dnsNames []string
	}{
		{file: "admin.crt", cn: "streamspace-dev-admin", orgs: []string{"system:masters"}},
		{file: "controller-manager.crt", cn: "system:kube-controller-manager"},
		{file: "scheduler.crt", cn: "system:kube-scheduler"},
		{file: "front-proxy-client.crt", cn: "front-proxy-client"},
		{file: "apiserver.crt", cn: "kube-apiserver", dnsNames: []string{"localhost", "kubernetes.default.svc"}},
		{file: "streamspace-apiserver.crt", cn: "streamspace-apiserver.streamspace-system.svc", dnsNames: []string{
			"streamspace-apiserver.streamspace-system.svc", "streamspace-apiserver.streamspace-system.svc.cluster.local", "localhost"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			certs, err := certutil.CertsFromFile(d.File(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			c := certs[0]
			if c.Subject.CommonName != tt.cn || !slices.Equal(c.Subject.Organization, tt.orgs) {
				t.Errorf("subject = %v, want CN=%s O=%v", c.Subject, tt.cn, tt.orgs)
			}
			for _, d := range tt.dnsNames {
				if err := c.VerifyHostname(d); err != nil {
					t.Errorf("VerifyHostname(%s): %v", d, err)
				}
			}
		})
	}
}

func verifyAgainst(t *testing.T, caPath, certPath string) {
	t.Helper()
	pool, err := certutil.NewPool(caPath)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := certutil.CertsFromFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("%s does not verify against %s: %v", filepath.Base(certPath), filepath.Base(caPath), err)
	}
}

func TestTokensSurviveRestart(t *testing.T) {
	d := Dir(t.TempDir())
	users := []string{"alice", "metrics-scraper"}
	tokenFile := func(user string) string { return d.File(user + ".token") }
	if err := d.EnsureTokens(users, tokenFile); err != nil {
		t.Fatal(err)
	}
	first := string(readFile(t, tokenFile("alice")))
	if len(first) < 32 {
		t.Fatalf("token %q", first)
	}
	if err := d.EnsureTokens(users, tokenFile); err != nil {
		t.Fatal(err)
	}
	if again := string(readFile(t, tokenFile("alice"))); again != first {
		t.Fatal("token changed across EnsureTokens")
	}
	scraper := string(readFile(t, tokenFile("metrics-scraper")))
	if len(scraper) < 32 {
		t.Fatalf("token of metrics-scraper %q", scraper)
	}
	want := first + ",alice,alice\n" + scraper + ",metrics-scraper,metrics-scraper\n"
	if csv := string(readFile(t, d.File("tokens.csv"))); csv != want {
		t.Fatalf("tokens.csv = %q, want %q", csv, want)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
