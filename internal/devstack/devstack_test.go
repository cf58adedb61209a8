package devstack

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	certutil "k8s.io/client-go/util/cert"
)

func newTestStack(t *testing.T) *Stack {
	t.Helper()
	dir := t.TempDir()
	s := &Stack{cfg: Config{Dir: dir, Users: []string{"alice"}}, Dir: dir, paths: newPaths(dir, "", "")}
	if err := s.prepareDirs(); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEnsurePKIReusesAndRepairs(t *testing.T) {
	s := newTestStack(t)
	if err := s.ensurePKI(); err != nil {
		t.Fatal(err)
	}
	apiserverCert := readFile(s.paths.pkiFile("apiserver.crt"))
	if err := s.ensurePKI(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(apiserverCert, readFile(s.paths.pkiFile("apiserver.crt"))) {
		t.Fatal("second ensurePKI replaced a valid certificate")
	}

	// A new CA makes every leaf it signs new; the other CAs' leaves stay.
	streamspaceCert := readFile(s.paths.pkiFile("streamspace-apiserver.crt"))
	if err := os.Remove(s.paths.pkiFile("ca.crt")); err != nil {
		t.Fatal(err)
	}
	if err := s.ensurePKI(); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(apiserverCert, readFile(s.paths.pkiFile("apiserver.crt"))) {
		t.Fatal("apiserver certificate not reissued after its CA changed")
	}
	if !bytes.Equal(streamspaceCert, readFile(s.paths.pkiFile("streamspace-apiserver.crt"))) {
		t.Fatal("streamspace-apiserver certificate reissued though its CA did not change")
	}
	for _, name := range []string{"apiserver", "admin", "controller-manager", "scheduler", "streamspace-apiserver-client"} {
		verifyAgainst(t, s.paths.pkiFile("ca.crt"), s.paths.pkiFile(name+".crt"))
	}
	verifyAgainst(t, s.paths.pkiFile("front-proxy-ca.crt"), s.paths.pkiFile("front-proxy-client.crt"))
	verifyAgainst(t, s.paths.pkiFile("streamspace-ca.crt"), s.paths.pkiFile("streamspace-apiserver.crt"))
}

func TestCertificateIdentities(t *testing.T) {
	s := newTestStack(t)
	if err := s.ensurePKI(); err != nil {
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
			certs, err := certutil.CertsFromFile(s.paths.pkiFile(tt.file))
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
	s := newTestStack(t)
	if err := s.ensureTokens(); err != nil {
		t.Fatal(err)
	}
	first, err := s.UserToken("alice")
	if err != nil || len(first) < 32 {
		t.Fatalf("token %q, %v", first, err)
	}
	if err := s.ensureTokens(); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.UserToken("alice"); again != first {
		t.Fatal("token changed across ensureTokens")
	}
	scraper, err := s.UserToken(MetricsScraper)
	if err != nil || len(scraper) < 32 {
		t.Fatalf("token of %s %q, %v", MetricsScraper, scraper, err)
	}
	want := first + ",alice,alice\n" + scraper + "," + MetricsScraper + "," + MetricsScraper + "\n"
	if csv := string(readFile(s.paths.pkiFile("tokens.csv"))); csv != want {
		t.Fatalf("tokens.csv = %q, want %q", csv, want)
	}
}

func TestResolvePorts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ports.json")
	first, err := resolvePorts(path, Ports{KubeAPIServer: 1})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range first.all() {
		if *p == 0 || seen[*p] {
			t.Fatalf("ports not distinct and non-zero: %+v", first)
		}
		seen[*p] = true
	}
	if first.KubeAPIServer != 1 {
		t.Fatalf("explicit port not kept: %+v", first)
	}
	second, err := resolvePorts(path, Ports{})
	if err != nil {
		t.Fatal(err)
	}
	if second.Etcd != first.Etcd || second.Streamspace != first.Streamspace {
		t.Fatalf("free ports not reused: %+v then %+v", first, second)
	}
}

func TestWithoutDir(t *testing.T) {
	tests := []struct{ in, want []string }{
		{nil, nil},
		{[]string{"--dir", "x", "--timeout=1m"}, []string{"--timeout=1m"}},
		{[]string{"--dir=x", "-dir", "y", "--bin-dir", "b"}, []string{"--bin-dir", "b"}},
	}
	for _, tt := range tests {
		if got := withoutDir(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("withoutDir(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestStartStop runs the real stack without streamspace-apiserver; it needs
// the binaries of `make tools` ($STREAMSPACE_TOOLS_DIR).
func TestStartStop(t *testing.T) {
	tools := os.Getenv("STREAMSPACE_TOOLS_DIR")
	if tools == "" {
		t.Fatal("STREAMSPACE_TOOLS_DIR is not set: run make test-unit, which builds the tools and sets it")
	}
	dir := t.TempDir()
	var log bytes.Buffer
	cfg := Config{Dir: dir, ToolsDir: tools, WithoutStreamspace: true, Log: &log, Timeout: 2 * time.Minute}
	for round := 1; round <= 2; round++ { // the second round reuses the state
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		stack, err := Start(ctx, cfg)
		cancel()
		if err != nil {
			t.Fatalf("round %d: %v\n%s", round, err, log.String())
		}
		if _, err := Start(context.Background(), cfg); err == nil {
			t.Fatal("a second stack started in the same directory")
		}
		restConfig, err := stack.RESTConfig("alice")
		if err != nil {
			t.Fatal(err)
		}
		client := kubernetes.NewForConfigOrDie(restConfig)
		review, err := client.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := review.Status.UserInfo.Username; got != "alice" {
			t.Fatalf("alice's token authenticates as %q", got)
		}
		if round == 1 {
			// A component that dies on its own is reported.
			_ = stack.process("kwok").cmd.Process.Kill()
			select {
			case err := <-stack.Failed():
				t.Logf("reported as expected: %.60s…", err)
			case <-time.After(10 * time.Second):
				t.Fatal("kwok's death was not reported on Failed()")
			}
		}
		if err := stack.Stop(); err != nil {
			t.Fatal(err)
		}
		if left := processesUsing(dir); len(left) > 0 {
			t.Fatalf("round %d left processes behind: %v", round, left)
		}
	}
}
