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

// streamspace-controller's Lease reads and renewals are classified into the
// leader-election priority level (FlowSchema
// streamspace-controller-leader-election, artifacts/rbac), as
// kube-controller-manager's are, so that the cluster's work cannot queue
// them past the controller's renew deadline; its other requests are not.
func TestControllerLeaseRenewalsHaveTheirOwnPriorityLevel(t *testing.T) {
	ctx := context.Background()
	_, admin := clients(t, "admin")
	plc, err := admin.FlowcontrolV1().PriorityLevelConfigurations().Get(ctx, "leader-election", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("priority level leader-election: %v", err)
	}
	leaderElection := string(plc.UID)
	controller, err := clientcmd.BuildConfigFromFlags("", stack.ControllerKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	var got string
	kube, err := kubernetes.NewForConfig(wrapLevel(controller, func(l string) { got = l }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoordinationV1().Leases("streamspace-system").Get(ctx, "streamspace-controller", metav1.GetOptions{}); err != nil {
		t.Fatalf("the controller reads its Lease: %v", err)
	}
	if got != leaderElection {
		t.Errorf("the controller's Lease read went to priority level %q, want leader-election (%s)", got, leaderElection)
	}
	got = ""
	// A list is not leader election (the answer may be a 403: the level
	// is chosen before authorization, and the header says it either way).
	_, _ = kube.CoordinationV1().Leases("streamspace-system").List(ctx, metav1.ListOptions{Limit: 1})
	if got == "" || got == leaderElection {
		t.Errorf("the controller's list of Leases went to priority level %q, want another than leader-election (%s)", got, leaderElection)
	}
}
