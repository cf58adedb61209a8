package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// renderedObject is one object of the rendered manifests, kept as JSON to be
// decoded into its type.
type renderedObject struct {
	file, kind, name string
	json             []byte
}

// TestDeployArtifacts builds the overlay artifacts/deploy/cluster the way
// docs/deploy.md says and checks that kube-apiserver accepts every object (a
// server-side dry run, so nothing in the shared stack changes), and that the
// aggregator would trust the server: the APIServices' caBundle verifies the
// serving certificate for the Service's DNS names.
func TestDeployArtifacts(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	const (
		postgresURL = "postgres://streamspace:s3cret@db.example.com:5432/streamspace?sslmode=verify-full"
		image       = "registry.example.com/streamspace/controlplane:e2e"
		service     = "streamspace-apiserver.streamspace-system.svc"
	)
	out := filepath.Join(t.TempDir(), "deploy")
	renderDeploy(t, root, "--out", out, "--postgres-url", postgresURL, "--image", image)

	manifest := filepath.Join(out, "streamspace.yaml")
	objects := readRendered(t, manifest)
	applied := mustKubectl(t, "admin", "", "apply", "--dry-run=server", "-f", manifest)
	for _, obj := range objects {
		if !strings.Contains(applied, "/"+obj.name+" ") {
			t.Errorf("kubectl apply did not report %s %s (%s):\n%s", obj.kind, obj.name, obj.file, applied)
		}
	}
	if n := strings.Count(applied, "(server dry run)"); n != len(objects) {
		t.Errorf("kubectl apply reported %d objects, the manifests hold %d:\n%s", n, len(objects), applied)
	}

	var tlsSecret, postgresSecret corev1.Secret
	var deployment appsv1.Deployment
	decode(t, find(t, objects, "Secret", "streamspace-apiserver-tls"), &tlsSecret)
	decode(t, find(t, objects, "Secret", "streamspace-postgres"), &postgresSecret)
	decode(t, find(t, objects, "Deployment", "streamspace-apiserver"), &deployment)

	if tlsSecret.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret streamspace-apiserver-tls has type %q, want %q", tlsSecret.Type, corev1.SecretTypeTLS)
	}
	pair, err := tls.X509KeyPair(tlsSecret.Data[corev1.TLSCertKey], tlsSecret.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		t.Fatalf("Secret streamspace-apiserver-tls: %v", err)
	}
	for _, name := range []string{"v1alpha1.stream.space", "v1alpha1.catalog.stream.space"} {
		var apiService struct {
			Spec struct {
				InsecureSkipTLSVerify bool   `json:"insecureSkipTLSVerify"`
				CABundle              []byte `json:"caBundle"`
				Service               struct {
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
					Port      int32  `json:"port"`
				} `json:"service"`
			} `json:"spec"`
		}
		decode(t, find(t, objects, "APIService", name), &apiService)
		if apiService.Spec.InsecureSkipTLSVerify {
			t.Errorf("APIService %s skips TLS verification", name)
		}
		if got := apiService.Spec.Service; got.Name+"."+got.Namespace+".svc" != service || got.Port != 443 {
			t.Errorf("APIService %s points at %+v, want %s:443", name, got, service)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(apiService.Spec.CABundle) {
			t.Fatalf("APIService %s: caBundle holds no PEM certificate", name)
		}
		for _, dnsName := range []string{service, service + ".cluster.local"} {
			if _, err := pair.Leaf.Verify(x509.VerifyOptions{
				DNSName:   dnsName,
				Roots:     roots,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}); err != nil {
				t.Errorf("APIService %s: caBundle does not verify the serving certificate for %s: %v", name, dnsName, err)
			}
		}
	}

	if got := string(postgresSecret.Data["url"]); got != postgresURL {
		t.Errorf("Secret streamspace-postgres has url %q, want %q", got, postgresURL)
	}
	if got := *deployment.Spec.Replicas; got != 2 {
		t.Errorf("Deployment has %d replicas, want 2", got)
	}
	// --image sets every container of every workload: the apiserver with
	// its sidecar, and streamspace-controller.
	workloads := 0
	for _, obj := range objects {
		if obj.kind != "Deployment" {
			continue
		}
		workloads++
		var workload appsv1.Deployment
		decode(t, obj.json, &workload)
		pod := workload.Spec.Template.Spec
		for _, c := range append(pod.InitContainers, pod.Containers...) {
			if c.Image != image {
				t.Errorf("Deployment %s: container %s runs image %q, want %q (--image)", obj.name, c.Name, c.Image, image)
			}
		}
	}
	find(t, objects, "Deployment", "streamspace-controller")
	if workloads < 3 {
		t.Errorf("the rendered manifests hold %d Deployments, want streamspace-apiserver, streamspace-bridge and streamspace-controller", workloads)
	}
	// Each component runs under its own ServiceAccount: the bridge does not
	// share streamspace-apiserver's pod, whose token may review tokens and
	// access.
	for name, account := range map[string]string{
		"streamspace-apiserver":  "streamspace-apiserver",
		"streamspace-bridge":     "streamspace-bridge",
		"streamspace-controller": "streamspace-controller",
	} {
		var workload appsv1.Deployment
		decode(t, find(t, objects, "Deployment", name), &workload)
		pod := workload.Spec.Template.Spec
		if pod.ServiceAccountName != account {
			t.Errorf("Deployment %s runs as ServiceAccount %q, want %q", name, pod.ServiceAccountName, account)
		}
		if len(pod.Containers) != 1 {
			t.Errorf("Deployment %s has %d containers, want 1 (one identity per component)", name, len(pod.Containers))
		}
	}
	for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		find(t, objects, kind, "streamspace-bridge-sync-request-only")
		find(t, objects, kind, "streamspace-controller-session-namespaces")
	}
	container := deployment.Spec.Template.Spec.Containers[0]
	var fromSecret bool
	for _, env := range container.Env {
		if ref := env.ValueFrom; env.Name == "STREAMSPACE_POSTGRES_URL" && ref != nil && ref.SecretKeyRef != nil &&
			ref.SecretKeyRef.Name == "streamspace-postgres" && ref.SecretKeyRef.Key == "url" {
			fromSecret = true
		}
	}
	if !fromSecret {
		t.Errorf("Deployment does not take STREAMSPACE_POSTGRES_URL from Secret streamspace-postgres: %+v", container.Env)
	}
	var mountsTLS bool
	for _, volume := range deployment.Spec.Template.Spec.Volumes {
		if volume.Secret != nil && volume.Secret.SecretName == "streamspace-apiserver-tls" {
			mountsTLS = true
		}
	}
	if !mountsTLS {
		t.Error("Deployment does not mount Secret streamspace-apiserver-tls")
	}

	t.Run("pod security restricted", func(t *testing.T) {
		// streamspace-system enforces the restricted Pod Security Standard;
		// check the pod template against it in a namespace of its own.
		const namespace = "deploy-artifacts-psa"
		mustKubectl(t, "admin", "", "create", "namespace", namespace)
		t.Cleanup(func() { _, _ = kubectl(t, "admin", "", "delete", "namespace", namespace, "--wait=false") })
		mustKubectl(t, "admin", "", "label", "namespace", namespace,
			"pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted")
		for _, name := range []string{"streamspace-apiserver", "streamspace-bridge", "streamspace-controller"} {
			var obj map[string]any
			decode(t, find(t, objects, "Deployment", name), &obj)
			obj["metadata"].(map[string]any)["namespace"] = namespace
			manifest, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			cmd := stack.Kubectl(ctx, "admin", "apply", "--dry-run=server", "-f", "-")
			var stderr bytes.Buffer
			cmd.Stdin, cmd.Stderr = bytes.NewReader(manifest), &stderr
			err = cmd.Run()
			cancel()
			if err != nil {
				t.Fatalf("kubectl apply the Deployment %s in %s: %v\n%s", name, namespace, err, stderr.String())
			}
			if strings.Contains(stderr.String(), "PodSecurity") {
				t.Errorf("the pod template of %s violates the restricted Pod Security Standard:\n%s", name, stderr.String())
			}
		}
	})

	t.Run("kustomization", func(t *testing.T) {
		// Every manifest beside a kustomization must be listed in it, or
		// kustomize silently leaves it out.
		for _, dir := range []string{"rbac", "deploy/base", "deploy/cluster", "deploy/dev"} {
			index, err := os.ReadFile(filepath.Join(root, "artifacts", dir, "kustomization.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(root, "artifacts", dir, "*.yaml"))
			for _, f := range files {
				if name := filepath.Base(f); name != "kustomization.yaml" && !strings.Contains(string(index), "- "+name+"\n") {
					t.Errorf("artifacts/%s/kustomization.yaml does not list %s", dir, name)
				}
			}
		}
		// The base alone is every object but the two Secrets the overlay
		// generates.
		applied := mustKubectl(t, "admin", "", "apply", "--dry-run=server", "-k", filepath.Join(root, "artifacts", "deploy", "base"))
		if n := strings.Count(applied, "(server dry run)"); n != len(objects)-2 {
			t.Errorf("kubectl apply -k artifacts/deploy/base reported %d objects, want the %d built less the 2 generated Secrets:\n%s", n, len(objects), applied)
		}
		for _, secret := range []string{"streamspace-apiserver-tls", "streamspace-postgres"} {
			if strings.Contains(applied, "secret/"+secret+" ") {
				t.Errorf("artifacts/deploy/base holds Secret %s, which the overlay generates:\n%s", secret, applied)
			}
		}

		// render-deploy builds what kubectl's kustomize builds from the
		// overlay with the input files it wrote.
		out := filepath.Join(t.TempDir(), "deploy")
		renderDeploy(t, root, "--out", out, "--postgres-url", postgresURL)
		tree := filepath.Join(t.TempDir(), "artifacts")
		if err := os.CopyFS(tree, os.DirFS(filepath.Join(root, "artifacts"))); err != nil {
			t.Fatal(err)
		}
		for _, input := range []string{"tls.crt", "tls.key", "ca.crt", "postgres-url"} {
			data, err := os.ReadFile(filepath.Join(out, input))
			if err != nil {
				t.Fatalf("render-deploy wrote no input %s: %v", input, err)
			}
			if err := os.WriteFile(filepath.Join(tree, "deploy", "cluster", input), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		built := mustKubectl(t, "admin", "", "kustomize", filepath.Join(tree, "deploy", "cluster"))
		rendered, err := os.ReadFile(filepath.Join(out, "streamspace.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if _, manifest, _ := strings.Cut(string(rendered), "\n"); manifest != built {
			t.Errorf("render-deploy's manifest differs from kubectl kustomize of the overlay with its inputs:\n%s\nkubectl kustomize:\n%s", manifest, built)
		}
	})
}

// renderDeploy runs hack/render-deploy from the repository root.
func renderDeploy(t *testing.T, root string, args ...string) {
	t.Helper()
	render := exec.Command("go", append([]string{"run", "./hack/render-deploy"}, args...)...)
	render.Dir = root
	if output, err := render.CombinedOutput(); err != nil {
		t.Fatalf("render the deployment: %v\n%s", err, output)
	}
}

// readRendered reads every object of the rendered manifest.
func readRendered(t *testing.T, file string) []renderedObject {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var objects []renderedObject
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var obj map[string]any
		if err := decoder.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("parse %s: %v", file, err)
		}
		if len(obj) == 0 {
			continue
		}
		raw, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		var header struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		decode(t, raw, &header)
		objects = append(objects, renderedObject{filepath.Base(file), header.Kind, header.Metadata.Name, raw})
	}
	if len(objects) == 0 {
		t.Fatalf("%s holds no object", file)
	}
	return objects
}

func find(t *testing.T, objects []renderedObject, kind, name string) []byte {
	t.Helper()
	for _, obj := range objects {
		if obj.kind == kind && obj.name == name {
			return obj.json
		}
	}
	t.Fatalf("the rendered manifests hold no %s %s", kind, name)
	return nil
}

func decode(t *testing.T, data []byte, into any) {
	t.Helper()
	if err := json.Unmarshal(data, into); err != nil {
		t.Fatal(err)
	}
}
