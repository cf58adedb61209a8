package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDiscoveryAndExplain(t *testing.T) {
	var err error
	out := mustKubectl(t, "admin", "", "api-resources", "--api-group=stream.space", "-o", "wide")
	for _, want := range []string{"sessions", "ss", "templates", "tpl", "connections", "conn", "streamspace"} {
		if !strings.Contains(out, want) {
			t.Errorf("api-resources for stream.space lacks %q:\n%s", want, out)
		}
	}
	out = mustKubectl(t, "admin", "", "api-resources", "--api-group=catalog.stream.space", "--namespaced=false")
	for _, want := range []string{"templaterepositories", "repo", "catalogtemplates"} {
		if !strings.Contains(out, want) {
			t.Errorf("api-resources for catalog.stream.space lacks %q:\n%s", want, out)
		}
	}
	// Other tests restart streamspace-apiserver; the aggregator re-reads its
	// OpenAPI shortly after, so give explain that long.
	eventually(t, 30*time.Second, "kubectl explain to know sessions", func() (bool, error) {
		out, err = kubectl(t, "alice", "", "explain", "session.spec.idleTimeout")
		return err == nil, err
	})
	if !strings.Contains(out, "hibernates") {
		t.Errorf("kubectl explain session.spec.idleTimeout does not explain it:\n%s", out)
	}
	out = mustKubectl(t, "alice", "", "explain", "templates.spec.vnc.port")
	if !strings.Contains(out, "3000") {
		t.Errorf("kubectl explain templates.spec.vnc.port does not give the default:\n%s", out)
	}
}

func TestSampleTemplatesInEachUsersNamespace(t *testing.T) {
	for _, user := range []string{"alice", "bob"} {
		out := mustKubectl(t, user, "", "get", "tpl", "-n", user, "-o", "name")
		for _, want := range []string{"template.stream.space/firefox", "template.stream.space/vscode"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s's namespace lacks %s:\n%s", user, want, out)
			}
		}
	}
}

func TestCreateSessionWithKubectlDefaultsAndColumns(t *testing.T) {
	manifest := `
apiVersion: stream.space/v1alpha1
kind: Session
metadata: {name: alice-firefox-defaults}
spec:
  template: firefox
`
	mustKubectl(t, "alice", manifest, "create", "-n", "alice", "-f", "-")
	var s struct {
		Spec   map[string]interface{} `json:"spec"`
		Status map[string]interface{} `json:"status"`
	}
	out := mustKubectl(t, "alice", "", "get", "session", "alice-firefox-defaults", "-n", "alice", "-o", "json")
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	want := map[string]interface{}{"user": "alice", "template": "firefox", "state": "running", "persistentHome": true, "idleTimeout": "30m0s", "maxSessionDuration": "8h0m0s"}
	for k, v := range want {
		if s.Spec[k] != v {
			t.Errorf("spec.%s = %v, want %v", k, s.Spec[k], v)
		}
	}
	// Pending until streamspace-controller sees the pod Ready, then Running.
	if s.Status["phase"] != "Pending" && s.Status["phase"] != "Running" {
		t.Errorf("status.phase = %v, want Pending or Running", s.Status["phase"])
	}

	out = mustKubectl(t, "alice", "", "get", "ss", "-n", "alice", "alice-firefox-defaults")
	header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
	wantHeader := []string{"NAME", "USER", "TEMPLATE", "STATE", "PHASE", "CONNECTIONS", "NEXT-START", "NEXT-STOP", "URL", "AGE"}
	if strings.Join(header, " ") != strings.Join(wantHeader, " ") {
		t.Errorf("kubectl get ss columns = %v, want %v", header, wantHeader)
	}
	if !strings.Contains(out, "alice-firefox-defaults   alice   firefox    running   Pending") &&
		!strings.Contains(out, "alice-firefox-defaults   alice   firefox    running   Running") {
		t.Errorf("kubectl get ss row is not what a user expects:\n%s", out)
	}

	out = mustKubectl(t, "alice", "", "get", "streamspace", "-n", "alice", "-o", "name")
	for _, want := range []string{"session.stream.space/alice-firefox-defaults", "template.stream.space/firefox"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get streamspace lacks %s:\n%s", want, out)
		}
	}
}

func TestOldFormatsAreAccepted(t *testing.T) {
	manifest := `
apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: old-style-gimp}
spec:
  displayName: GIMP
  baseImage: lscr.io/linuxserver/gimp:latest
  defaultResources: {memory: 2Gi, cpu: 1000m}
  kasmvnc: {enabled: true}
---
apiVersion: stream.space/v1alpha1
kind: Session
metadata: {name: old-style-session}
spec:
  template: old-style-gimp
  resources: {memory: 1Gi, cpu: 500m}
`
	mustKubectl(t, "alice", manifest, "apply", "-n", "alice", "-f", "-")
	out := mustKubectl(t, "alice", "", "get", "tpl", "old-style-gimp", "-n", "alice", "-o", "jsonpath={.spec.vnc.port} {.spec.vnc.enabled} {.spec.appType} {.spec.defaultResources.limits.memory} {.spec.defaultResources.requests.cpu} [{.spec.kasmvnc}]")
	if out != "3000 true desktop 2Gi 1 []" {
		t.Errorf("old-style template stored as %q, want vnc port 3000 (kasmvnc converted), desktop, limits 2Gi, requests cpu 1", out)
	}
	out = mustKubectl(t, "alice", "", "get", "ss", "old-style-session", "-n", "alice", "-o", "jsonpath={.spec.resources.requests.memory} {.spec.resources.limits.cpu} [{.spec.resources.memory}]")
	if out != "1Gi 500m []" {
		t.Errorf("flat session resources stored as %q, want requests/limits", out)
	}
}

func TestInvalidObjectsAre422WithFieldPaths(t *testing.T) {
	cases := []struct {
		name, manifest string
		want           []string
	}{
		{"missing template", `{"apiVersion":"stream.space/v1alpha1","kind":"Session","metadata":{"name":"bad-1"},"spec":{}}`,
			[]string{"spec.template: Required value"}},
		{"bad state and negative timeout", `{"apiVersion":"stream.space/v1alpha1","kind":"Session","metadata":{"name":"bad-2"},"spec":{"template":"firefox","state":"sleeping","idleTimeout":"-5m"}}`,
			[]string{`spec.state: Unsupported value: "sleeping"`, "spec.idleTimeout: Invalid value"}},
		{"requests above limits", `{"apiVersion":"stream.space/v1alpha1","kind":"Session","metadata":{"name":"bad-3"},"spec":{"template":"firefox","resources":{"requests":{"memory":"4Gi"},"limits":{"memory":"1Gi"}}}}`,
			[]string{"spec.resources.requests[memory]: Invalid value"}},
		{"template without image", `{"apiVersion":"stream.space/v1alpha1","kind":"Template","metadata":{"name":"bad-4"},"spec":{"displayName":"x","vnc":{"enabled":true,"port":70000}}}`,
			[]string{"spec.baseImage: Required value", "spec.vnc.port: Invalid value"}},
		{"unknown field", `{"apiVersion":"stream.space/v1alpha1","kind":"Session","metadata":{"name":"bad-5"},"spec":{"template":"firefox","hacker":true}}`,
			[]string{`unknown field "spec.hacker"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kubectl(t, "alice", tc.manifest, "create", "-n", "alice", "-f", "-")
			if err == nil {
				t.Fatalf("created an invalid object")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not say %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestFieldSelectors(t *testing.T) {
	for _, name := range []string{"fs-firefox", "fs-vscode"} {
		tpl := strings.TrimPrefix(name, "fs-")
		mustKubectl(t, "admin", `{"apiVersion":"stream.space/v1alpha1","kind":"Session","metadata":{"name":"`+name+`"},"spec":{"template":"`+tpl+`","user":"carol","state":"hibernated"}}`, "create", "-n", "bob", "-f", "-")
	}
	out := mustKubectl(t, "admin", "", "get", "ss", "-n", "bob", "--field-selector", "spec.user=carol,spec.template=vscode", "-o", "name")
	if strings.TrimSpace(out) != "session.stream.space/fs-vscode" {
		t.Errorf("field selector spec.user=carol,spec.template=vscode returned %q", out)
	}
	// The controller moves their phase from Pending to Hibernated meanwhile.
	out = mustKubectl(t, "admin", "", "get", "ss", "-A", "--field-selector", "spec.state=hibernated,status.phase!=Running", "-o", "name")
	if !strings.Contains(out, "fs-firefox") || !strings.Contains(out, "fs-vscode") {
		t.Errorf("field selector on state and phase returned %q", out)
	}
	if _, err := kubectl(t, "admin", "", "get", "ss", "-A", "--field-selector", "spec.resources=1"); err == nil || !strings.Contains(err.Error(), "field label not supported") {
		t.Errorf("an unsupported field selector was not refused: %v", err)
	}
}

func TestServerSideApplyAndConflicts(t *testing.T) {
	manifest := `{"apiVersion":"stream.space/v1alpha1","kind":"Session","metadata":{"name":"ssa-session"},"spec":{"template":"firefox","idleTimeout":"10m"}}`
	mustKubectl(t, "alice", manifest, "apply", "--server-side", "-n", "alice", "-f", "-")
	// Controllers may add their own status managers at any moment, so the
	// entry is looked up by manager rather than by position.
	out := mustKubectl(t, "alice", "", "get", "ss", "ssa-session", "-n", "alice", "-o", `jsonpath={.spec.idleTimeout} {.metadata.managedFields[?(@.manager=="kubectl")].operation}`)
	if out != "10m0s Apply" {
		t.Errorf("server-side applied session = %q", out)
	}
	// A stale resourceVersion is a 409 Conflict, as in Kubernetes.
	stale := `{"apiVersion":"stream.space/v1alpha1","kind":"Session","metadata":{"name":"ssa-session","resourceVersion":"1"},"spec":{"template":"firefox","user":"alice","state":"hibernated"}}`
	_, err := kubectl(t, "alice", stale, "replace", "-n", "alice", "-f", "-")
	if err == nil || !strings.Contains(err.Error(), "the object has been modified") {
		t.Errorf("a stale update was not refused with a conflict: %v", err)
	}
	// The owner and template are fixed once created.
	_, err = kubectl(t, "alice", "", "patch", "ss", "ssa-session", "-n", "alice", "--type=merge", "-p", `{"spec":{"template":"vscode"}}`)
	if err == nil || !strings.Contains(err.Error(), "spec.template: Invalid value") || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("changing spec.template was not refused: %v", err)
	}
}
