package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/streamspace/controlplane/internal/devstack"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// TestBridgeIdentityMayOnlyRequestSync: the bridge's own identity
// (ServiceAccount streamspace-bridge) may set the sync-requested-at
// annotation of a TemplateRepository and nothing else. RBAC allows patch;
// the ValidatingAdmissionPolicy of artifacts/rbac/policy-bridge.yaml,
// evaluated by streamspace-apiserver itself, refuses every other change.
func TestBridgeIdentityMayOnlyRequestSync(t *testing.T) {
	ctx := context.Background()
	admin, _ := clients(t, "admin")
	cfg, err := clientcmd.BuildConfigFromFlags("", stack.BridgeKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	bridge, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("e2e-bridge-fence")
	const url = "https://git.invalid/bridge-fence.git"
	if _, err := admin.CatalogV1alpha1().TemplateRepositories().Create(ctx, &catalogv1alpha1.TemplateRepository{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"team": "e2e"}, Annotations: map[string]string{"owner": "e2e"}},
		// Never reachable: the sync fails, the object stays the test's.
		Spec: catalogv1alpha1.TemplateRepositorySpec{URL: url, SyncInterval: &metav1.Duration{}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.CatalogV1alpha1().TemplateRepositories().Delete(context.Background(), name, metav1.DeleteOptions{})
	})

	patch := func(body string) error {
		_, err := bridge.CatalogV1alpha1().TemplateRepositories().Patch(ctx, name, types.MergePatchType, []byte(body), metav1.PatchOptions{})
		return err
	}
	requested := time.Now().UTC().Format(time.RFC3339Nano)
	if err := patch(fmt.Sprintf(`{"metadata":{"annotations":{"catalog.stream.space/sync-requested-at":%q}}}`, requested)); err != nil {
		t.Fatalf("the bridge's identity could not request a sync: %v", err)
	}
	const policyMessage = "streamspace-bridge may only change the annotations catalog.stream.space/sync-requested-at and catalog.stream.space/webhook-deliveries"
	for _, tc := range []struct{ what, body string }{
		{"spec.url", `{"spec":{"url":"https://git.invalid/evil.git"}}`},
		{"spec.url beside the sync annotation", `{"metadata":{"annotations":{"catalog.stream.space/sync-requested-at":"x"}},"spec":{"url":"https://git.invalid/evil.git"}}`},
		{"a label", `{"metadata":{"labels":{"team":"evil"}}}`},
		{"another annotation", `{"metadata":{"annotations":{"owner":null}}}`},
		{"a finalizer", `{"metadata":{"finalizers":["example.com/hold"]}}`},
	} {
		err := patch(tc.body)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), policyMessage) {
			t.Errorf("the bridge's identity changing %s: got %v, want 403 with the policy's message", tc.what, err)
		}
	}
	if err := bridge.CatalogV1alpha1().TemplateRepositories().Delete(ctx, name, metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the bridge's identity deleting a repository: got %v, want 403", err)
	}
	got, err := admin.CatalogV1alpha1().TemplateRepositories().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.URL != url || got.Labels["team"] != "e2e" || got.Annotations["owner"] != "e2e" || len(got.Finalizers) != 0 {
		t.Errorf("the repository changed: url %q, labels %v, annotations %v, finalizers %v", got.Spec.URL, got.Labels, got.Annotations, got.Finalizers)
	}
	if got.Annotations["catalog.stream.space/sync-requested-at"] != requested {
		t.Errorf("sync-requested-at = %q, want %q", got.Annotations["catalog.stream.space/sync-requested-at"], requested)
	}
	// An admin is not fenced by the policy.
	if _, err := admin.CatalogV1alpha1().TemplateRepositories().Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"labels":{"team":"e2e-2"}}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("the admin changing a label: %v", err)
	}
}

// TestControllerWritesOnlyInSessionNamespaces: streamspace-controller's
// identity may create workloads only in namespaces labelled
// stream.space/sessions=enabled, never in kube-system (the policy of
// artifacts/rbac/policy-controller-namespaces.yaml, evaluated by
// kube-apiserver); a Session in a namespace that is not enabled goes Failed
// with the refusal, and an Event says why.
func TestControllerWritesOnlyInSessionNamespaces(t *testing.T) {
	ctx := context.Background()
	ss, kube := clients(t, "admin")
	cfg, err := clientcmd.BuildConfigFromFlags("", stack.ControllerKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	controller, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	plain := uniqueName("e2e-not-enabled")
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: plain}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), plain, metav1.DeleteOptions{}) })
	enabled := newNamespace(t, kube, "e2e-enabled")
	systemLabelled := "kube-public" // labelled for sessions below: the system namespaces stay refused

	deployment := func(ns string) *appsv1.Deployment {
		labels := map[string]string{"app": "fence"}
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "fence", Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/c"}}},
				},
			},
		}
	}
	if _, err := kube.CoreV1().Namespaces().Patch(ctx, systemLabelled, types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"stream.space/sessions":"enabled"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = kube.CoreV1().Namespaces().Patch(context.Background(), systemLabelled, types.MergePatchType,
			[]byte(`{"metadata":{"labels":{"stream.space/sessions":null}}}`), metav1.PatchOptions{})
	})
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	for _, tc := range []struct {
		ns, message string
	}{
		{"kube-system", "may not write deployments in the system namespace kube-system"},
		{systemLabelled, "may not write deployments in the system namespace kube-public"},
		{plain, "only in namespaces labelled stream.space/sessions=enabled; namespace " + plain + " is not"},
	} {
		_, err := controller.AppsV1().Deployments(tc.ns).Create(ctx, deployment(tc.ns), dryRun)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("the controller creating a Deployment in %s: got %v, want 403 saying %q", tc.ns, err, tc.message)
		}
	}
	event := func(ns string) *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: uniqueName("fence"), Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "fence", APIVersion: "v1"},
			Reason:         "Fence", Message: "fence", Type: corev1.EventTypeNormal,
		}
	}
	if _, err := controller.CoreV1().Events("kube-system").Create(ctx, event("kube-system"), dryRun); !apierrors.IsForbidden(err) {
		t.Errorf("the controller creating an Event in kube-system: got %v, want 403", err)
	}
	if _, err := controller.CoreV1().Events(plain).Create(ctx, event(plain), dryRun); err != nil {
		t.Errorf("the controller creating an Event in %s (to explain a refusal there): %v", plain, err)
	}
	if _, err := controller.AppsV1().Deployments(enabled).Create(ctx, deployment(enabled), dryRun); err != nil {
		t.Errorf("the controller creating a Deployment in the enabled namespace %s: %v", enabled, err)
	}
	// Others are not fenced: the admin writes where it likes.
	if _, err := kube.AppsV1().Deployments(plain).Create(ctx, deployment(plain), dryRun); err != nil {
		t.Errorf("the admin creating a Deployment in %s: %v", plain, err)
	}

	t.Run("session in a namespace not enabled", func(t *testing.T) {
		mustKubectl(t, "admin", "", "-n", plain, "apply", "-f", "../../artifacts/samples/templates.yaml")
		s := createSession(t, ss, plain, "desk", "firefox")
		failed := waitSession(t, ss, plain, "desk", time.Minute, "Failed: WorkloadForbidden", func(s *streamv1alpha1.Session) bool {
			return s.Status.Phase == streamv1alpha1.SessionPhaseFailed && s.Status.Reason == stream.SessionReasonWorkloadForbidden
		})
		for _, want := range []string{"stream.space/sessions=enabled", "namespace " + plain} {
			if !strings.Contains(failed.Status.Message, want) {
				t.Errorf("status message %q does not say %q", failed.Status.Message, want)
			}
		}
		event := waitEvent(t, kube, s, stream.SessionReasonWorkloadForbidden)
		if !strings.Contains(event, "stream.space/sessions=enabled") {
			t.Errorf("event %q does not say how to enable the namespace", event)
		}
		if _, err := kube.AppsV1().Deployments(plain).Get(ctx, "desk", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("deployment %s/desk: got %v, want NotFound", plain, err)
		}
	})
}

// TestMetricsNeedAuthorization: streamspace-controller's and
// streamspace-bridge's /metrics answer only callers whom RBAC allows get on
// /metrics (the dev stack's metrics scraper, bound to
// streamspace-metrics-reader); probes stay open.
func TestMetricsNeedAuthorization(t *testing.T) {
	for _, component := range []struct{ name, url string }{
		{"streamspace-controller", stack.ControllerURL()},
		{"streamspace-bridge", stack.BridgeURL},
	} {
		t.Run(component.name, func(t *testing.T) {
			for _, tc := range []struct {
				who    string
				header string
				want   int
			}{
				{"anonymous", "", http.StatusUnauthorized},
				{"a forged token", "Bearer not-a-token", http.StatusUnauthorized},
				{"alice (authenticated, no right)", "user:alice", http.StatusForbidden},
				{"the metrics scraper", "user:" + devstack.MetricsScraper, http.StatusOK},
			} {
				req, err := http.NewRequest(http.MethodGet, component.url+"/metrics", nil)
				if err != nil {
					t.Fatal(err)
				}
				if user, ok := strings.CutPrefix(tc.header, "user:"); ok {
					token, err := stack.UserToken(user)
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Authorization", "Bearer "+token)
				} else if tc.header != "" {
					req.Header.Set("Authorization", tc.header)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Errorf("%s: GET /metrics = %d (%s), want %d", tc.who, resp.StatusCode, strings.TrimSpace(string(body)), tc.want)
				}
				if tc.want == http.StatusOK && !strings.Contains(string(body), "# TYPE ") {
					t.Errorf("%s: /metrics holds no metrics", tc.who)
				}
			}
			resp, err := http.Get(component.url + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("anonymous GET /healthz = %d, want 200", resp.StatusCode)
			}
		})
	}
}
