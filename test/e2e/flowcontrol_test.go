package e2e

import (
	"context"
	"net/http"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// streamspace-apiserver's reviews of the requests it serves are classified by
// kube-apiserver's API priority and fairness into workload-high (FlowSchema
// streamspace-apiserver, artifacts/rbac), never into global-default with
// people's requests, which hold global-default's seats while kube-apiserver
// proxies them to it. kube-apiserver names the priority level it used in a
// response header.
func TestStreamspaceReviewsDoNotQueueWithTheRequestsTheyReview(t *testing.T) {
	ctx := context.Background()
	_, admin := clients(t, "admin")
	level := func(name string) string {
		t.Helper()
		plc, err := admin.FlowcontrolV1().PriorityLevelConfigurations().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("priority level %s: %v", name, err)
		}
		return string(plc.UID)
	}
	workloadHigh, globalDefault := level("workload-high"), level("global-default")

	// The level kube-apiserver classified a SubjectAccessReview into, as
	// the response header of APF says.
	classify := func(cfg *rest.Config) string {
		t.Helper()
		var got string
		cfg = wrapLevel(cfg, func(l string) { got = l })
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: "alice", ResourceAttributes: &authorizationv1.ResourceAttributes{
				Group: "stream.space", Resource: "connections", Subresource: "heartbeat", Verb: "create", Namespace: "alice", Name: "x"}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("SubjectAccessReview: %v", err)
		}
		return got
	}
	server, err := clientcmd.BuildConfigFromFlags("", stack.StreamspaceKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := classify(server); got != workloadHigh {
		t.Errorf("streamspace-apiserver's review went to priority level %q, want workload-high (%s); global-default is %s", got, workloadHigh, globalDefault)
	}
	// A person's request is in global-default (the contrast the schema
	// exists for).
	alice, err := clientcmd.BuildConfigFromFlags("", stack.UserKubeconfig("alice"))
	if err != nil {
		t.Fatal(err)
	}
	aliceKube, err := kubernetes.NewForConfig(wrapLevel(alice, func(l string) {
		if l != globalDefault {
			t.Errorf("alice's request went to priority level %q, want global-default (%s)", l, globalDefault)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := aliceKube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Group: "stream.space", Resource: "sessions", Verb: "list", Namespace: "alice"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("alice asks what she may do: %v", err)
	}
}

// wrapLevel reports the priority level of every response of cfg's clients.
func wrapLevel(cfg *rest.Config, each func(level string)) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if err == nil {
				each(resp.Header.Get("X-Kubernetes-PF-PriorityLevel-UID"))
			}
			return resp, err
		})
	})
	return cfg
}
