package devstack

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/streamspace/controlplane/internal/devstack/credentials"
	"github.com/streamspace/controlplane/internal/devstack/health"
	"github.com/streamspace/controlplane/pkg/apis/stream"
)

const (
	kwokNodeName       = "kwok-node-0"
	kwokNodeAnnotation = "kwok.x-k8s.io/node"
)

// APIServices registers streamspace-apiserver for.
var streamspaceAPIServices = []string{"v1alpha1.stream.space", "v1alpha1.catalog.stream.space"}

// bootstrapTemplate holds what must exist before the components start: the
// identity of streamspace-apiserver (delegated authentication and
// authorization, as k8s.io/sample-apiserver's artifacts grant), the fake
// node, the metrics scraper's binding, the namespaces of the sample users
// and of the provider's people in UsersGroup (enabled for sessions), each
// bound to its owner (alice the static-token user and oidc:alice the
// person are two users, each bound in namespace alice), and
// streamspace-admin for AdminsGroup.
var bootstrapTemplate = template.Must(template.New("bootstrap").Parse(`apiVersion: v1
kind: Namespace
metadata:
  name: {{.Namespace}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: streamspace-dev:{{.User}}:auth-delegator
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:auth-delegator}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: {{.User}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: streamspace-dev:{{.User}}:auth-reader
  namespace: kube-system
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: {{.User}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: streamspace-dev:{{.User}}
rules:
- apiGroups: [""]
  resources: [namespaces, resourcequotas]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [resourcequotas/status]
  verbs: [update]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list]
- apiGroups: [admissionregistration.k8s.io]
  resources: [mutatingwebhookconfigurations, validatingwebhookconfigurations, validatingadmissionpolicies, validatingadmissionpolicybindings, mutatingadmissionpolicies, mutatingadmissionpolicybindings]
  verbs: [get, list, watch]
- apiGroups: [flowcontrol.apiserver.k8s.io]
  resources: [flowschemas, prioritylevelconfigurations]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: streamspace-dev:{{.User}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: streamspace-dev:{{.User}}}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: {{.User}}}]
---
apiVersion: v1
kind: Node
metadata:
  name: {{.Node}}
  annotations:
    {{.NodeAnnotation}}: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: {{.Node}}
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
    type: kwok
spec: {}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 1Ti}
  capacity: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 1Ti}
  nodeInfo:
    architecture: amd64
    kubeletVersion: fake
    kubeProxyVersion: fake
    operatingSystem: linux
  phase: Running
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: streamspace-metrics-reader:{{.MetricsScraper}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: streamspace-metrics-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: {{.MetricsScraper}}}]
{{- range .Namespaces}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: {{.}}
  labels:
    {{$.SessionsLabel}}: {{$.SessionsEnabled}}
{{- end}}
{{- range .Users}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: streamspace-user:{{.}}
  namespace: {{.}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: streamspace-user}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: {{.}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: streamspace-terminal:{{.}}
  namespace: {{.}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: streamspace-terminal}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: {{.}}}]
{{- end}}
{{- range .People}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: streamspace-user:{{.User}}
  namespace: {{.Namespace}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: streamspace-user}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{{.User}}"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: streamspace-terminal:{{.User}}
  namespace: {{.Namespace}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: streamspace-terminal}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{{.User}}"}]
{{- end}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: streamspace-admin:{{.AdminsGroup}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: streamspace-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: {{.AdminsGroup}}}]
`))

// registrationTemplate points the aggregator at streamspace-apiserver on
// localhost, verified with caBundle, exactly as in a cluster.
var registrationTemplate = template.Must(template.New("registration").Parse(`apiVersion: v1
kind: Service
metadata:
  name: {{.Service}}
  namespace: {{.Namespace}}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: https, port: {{.Port}}, protocol: TCP}]
{{- range .APIServices}}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: {{.Name}}
spec:
  group: {{.Group}}
  version: {{.Version}}
  groupPriorityMinimum: 1000
  versionPriority: 15
  service: {name: {{$.Service}}, namespace: {{$.Namespace}}, port: {{$.Port}}}
  caBundle: {{$.CABundle}}
{{- end}}
`))

func (s *Stack) applyBootstrap(ctx context.Context) error {
	// The bootstrap first: it creates the streamspace-system namespace, which
	// namespaced objects of the kustomization (e.g. the catalog controller's
	// RoleBinding for Secrets) need. Bindings to the ClusterRoles applied
	// next are valid before those exist.
	type personBinding struct{ User, Namespace string }
	var people []personBinding
	for _, p := range s.cfg.People {
		if p.hasNamespace() {
			people = append(people, personBinding{OIDCUser(p.Name), p.Name})
		}
	}
	path := s.paths.Manifest("bootstrap.yaml")
	if err := renderTo(path, bootstrapTemplate, map[string]any{
		"Namespace": credentials.Namespace, "User": credentials.StreamspaceUser,
		"Node": kwokNodeName, "NodeAnnotation": kwokNodeAnnotation, "Users": s.cfg.Users,
		"Namespaces": s.userNamespaces(), "People": people, "AdminsGroup": AdminsGroup,
		"MetricsScraper": MetricsScraper, "SessionsLabel": stream.SessionsNamespaceLabel, "SessionsEnabled": stream.SessionsNamespaceEnabled,
	}); err != nil {
		return err
	}
	if err := s.kubectl.Apply(ctx, s.AdminKubeconfig, "-f", path); err != nil {
		return err
	}
	if s.cfg.Kustomization == "" {
		return nil
	}
	if _, err := os.Stat(s.cfg.Kustomization); err != nil {
		s.logf("no %s yet, skipping the ClusterRoles", s.cfg.Kustomization)
		return nil
	}
	if err := s.kubectl.Apply(ctx, s.AdminKubeconfig, "-k", s.cfg.Kustomization); err != nil {
		return fmt.Errorf("apply %s: %w", s.cfg.Kustomization, err)
	}
	return nil
}

func (s *Stack) applyRegistration(ctx context.Context) error {
	type apiService struct{ Name, Group, Version string }
	var services []apiService
	for _, name := range streamspaceAPIServices {
		version, group, _ := strings.Cut(name, ".")
		services = append(services, apiService{name, group, version})
	}
	path := s.paths.Manifest("registration.yaml")
	if err := renderTo(path, registrationTemplate, map[string]any{
		"Namespace": credentials.Namespace, "Service": credentials.StreamspaceService, "Port": s.Ports.Streamspace,
		"CABundle": base64.StdEncoding.EncodeToString(readFile(s.StreamspaceCA)), "APIServices": services,
	}); err != nil {
		return err
	}
	return s.kubectl.Apply(ctx, s.AdminKubeconfig, "-f", path)
}

func (s *Stack) applySamples(ctx context.Context) error {
	if s.cfg.SampleTemplates == "" {
		return nil
	}
	if _, err := os.Stat(s.cfg.SampleTemplates); err != nil {
		s.logf("no %s, skipping the sample Templates", s.cfg.SampleTemplates)
		return nil
	}
	for _, namespace := range s.userNamespaces() {
		if err := s.kubectl.Apply(ctx, s.AdminKubeconfig, "-n", namespace, "-f", s.cfg.SampleTemplates); err != nil {
			return fmt.Errorf("apply sample templates in %s: %w", namespace, err)
		}
	}
	return nil
}

// userNamespaces are the namespaces of the sample users and of the
// provider's people in UsersGroup, each once.
func (s *Stack) userNamespaces() []string {
	namespaces := slices.Clone(s.cfg.Users)
	for _, p := range s.cfg.People {
		if p.hasNamespace() && !slices.Contains(namespaces, p.Name) {
			namespaces = append(namespaces, p.Name)
		}
	}
	return namespaces
}

func renderTo(path string, t *template.Template, data any) error {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return fmt.Errorf("render %s: %w", filepath.Base(path), err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func (s *Stack) waitNodeReady(ctx context.Context) error {
	cfg, err := s.RESTConfig("")
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return health.Poll(ctx, s.procs.Get("kwok"), "node "+kwokNodeName+" Ready", s.logf, func() error {
		node, err := client.CoreV1().Nodes().Get(ctx, kwokNodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				return nil
			}
		}
		return fmt.Errorf("node %s not Ready", kwokNodeName)
	})
}

var apiServiceResource = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

func (s *Stack) waitAPIServicesAvailable(ctx context.Context) error {
	cfg, err := s.RESTConfig("")
	if err != nil {
		return err
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return health.Poll(ctx, s.procs.Get("streamspace-apiserver"), "APIServices Available", s.logf, func() error {
		for _, name := range streamspaceAPIServices {
			obj, err := client.Resource(apiServiceResource).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			var status struct {
				Conditions []metav1.Condition `json:"conditions"`
			}
			raw, _ := json.Marshal(obj.Object["status"])
			_ = json.Unmarshal(raw, &status)
			available := false
			for _, c := range status.Conditions {
				if c.Type == "Available" {
					if c.Status != metav1.ConditionTrue {
						return fmt.Errorf("%s not Available: %s: %s", name, c.Reason, c.Message)
					}
					available = true
				}
			}
			if !available {
				return fmt.Errorf("%s has no Available condition yet", name)
			}
		}
		// The condition can still be the one of a previous process (after a
		// restart): a request through the aggregator proves the path works.
		for _, gv := range []string{"stream.space/v1alpha1", "catalog.stream.space/v1alpha1"} {
			if _, err := kube.Discovery().ServerResourcesForGroupVersion(gv); err != nil {
				return fmt.Errorf("discovery of %s through the aggregator: %w", gv, err)
			}
		}
		return nil
	})
}
