package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamspace/controlplane/internal/devstack"
)

// TestUsageNamesTheProviderAndEachPerson: make run prints the OpenID
// provider's URL and, per person, their user name, password and kubeconfig.
func TestUsageNamesTheProviderAndEachPerson(t *testing.T) {
	dir := t.TempDir()
	for _, person := range []string{"carol", "dana"} {
		if err := os.WriteFile(filepath.Join(dir, person+".password"), []byte("pw-of-"+person+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	info := devstack.Info{
		Dir: "/tmp/dev", KubeAPIServerURL: "https://127.0.0.1:6443", Kubectl: "/tools/kubectl", AdminKubeconfig: "/tmp/dev/kubeconfig",
		OIDCIssuerURL: "https://127.0.0.1:7443", OIDCCA: "/tmp/dev/pki/oidc-ca.crt",
		People: []devstack.PersonInfo{
			{Name: "carol", PasswordFile: filepath.Join(dir, "carol.password"), Kubeconfig: "/tmp/dev/users/carol.oidc.kubeconfig"},
			{Name: "dana", PasswordFile: filepath.Join(dir, "dana.password"), Kubeconfig: "/tmp/dev/users/dana.oidc.kubeconfig"},
		},
	}
	var out bytes.Buffer
	PrintUsage(&out, info)
	for _, want := range []string{
		"https://127.0.0.1:7443",
		"oidc:carol  password pw-of-carol (in " + filepath.Join(dir, "carol.password") + "), kubeconfig /tmp/dev/users/carol.oidc.kubeconfig",
		"oidc:dana  password pw-of-dana (in " + filepath.Join(dir, "dana.password") + "), kubeconfig /tmp/dev/users/dana.oidc.kubeconfig",
		"kubectl --kubeconfig /tmp/dev/users/carol.oidc.kubeconfig auth whoami",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}
