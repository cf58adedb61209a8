package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/streamspace/controlplane/internal/devstack"
)

// TestUsageNamesTheProviderAndEachPerson: make run prints the OpenID
// provider's URL and, per person, their user name, password file and
// kubeconfig.
func TestUsageNamesTheProviderAndEachPerson(t *testing.T) {
	info := devstack.Info{
		Dir: "/tmp/dev", KubeAPIServerURL: "https://127.0.0.1:6443", Kubectl: "/tools/kubectl", AdminKubeconfig: "/tmp/dev/kubeconfig",
		OIDCIssuerURL: "https://127.0.0.1:7443", OIDCCA: "/tmp/dev/pki/oidc-ca.crt",
		People: []devstack.PersonInfo{
			{Name: "carol", PasswordFile: "/tmp/dev/users/carol.password", Kubeconfig: "/tmp/dev/users/carol.oidc.kubeconfig"},
			{Name: "dana", PasswordFile: "/tmp/dev/users/dana.password", Kubeconfig: "/tmp/dev/users/dana.oidc.kubeconfig"},
		},
	}
	var out bytes.Buffer
	PrintUsage(&out, info)
	for _, want := range []string{
		"https://127.0.0.1:7443",
		"oidc:carol  password /tmp/dev/users/carol.password, kubeconfig /tmp/dev/users/carol.oidc.kubeconfig",
		"oidc:dana  password /tmp/dev/users/dana.password, kubeconfig /tmp/dev/users/dana.oidc.kubeconfig",
		"kubectl --kubeconfig /tmp/dev/users/carol.oidc.kubeconfig auth whoami",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}
