package sessionauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	streamfake "github.com/streamspace/controlplane/pkg/generated/clientset/versioned/fake"
)

// access is what RBAC allows the caller in the fake cluster, keyed by
// "verb resource[/subresource]".
type access map[string]bool

func fakeKube(t *testing.T, allowed access, reviewErr error) (*kubefake.Clientset, *[]string) {
	t.Helper()
	kube := kubefake.NewClientset()
	var asked []string
	kube.PrependReactor("create", "selfsubjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		review := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		attrs := review.Spec.ResourceAttributes
		if attrs == nil {
			t.Fatalf("a review without resource attributes: %+v", review.Spec)
		}
		key := attrs.Verb + " " + attrs.Resource
		if attrs.Subresource != "" {
			key += "/" + attrs.Subresource
		}
		asked = append(asked, key+" "+attrs.Namespace+"/"+attrs.Name)
		if reviewErr != nil {
			return true, nil, reviewErr
		}
		review = review.DeepCopy()
		review.Status.Allowed = allowed[key]
		if !review.Status.Allowed {
			review.Status.Reason = "no RBAC policy matched"
		}
		return true, review, nil
	})
	return kube, &asked
}

func session(namespace, name, owner string) *streamv1alpha1.Session {
	return &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       streamv1alpha1.SessionSpec{User: owner, Template: "firefox"},
	}
}

func TestDecide(t *testing.T) {
	member := access{"create sessions/connect": true}
	admin := access{"create sessions/connect": true, "assign sessions": true}
	for _, tc := range []struct {
		name    string
		caller  string
		allowed access
		// readForbidden makes reading the session 403, as RBAC without get.
		readForbidden bool
		status        int
		inMessage     []string
	}{
		{name: "the owner", caller: "alice", allowed: member, status: http.StatusOK},
		{name: "another user of the namespace", caller: "bob", allowed: member, status: http.StatusForbidden,
			inMessage: []string{`belongs to user "alice"`, `bob may not connect to it`, `"assign" verb`}},
		{name: "an admin with assign", caller: "dana", allowed: admin, status: http.StatusOK},
		{name: "no RBAC in the namespace", caller: "carol", allowed: access{}, status: http.StatusForbidden,
			inMessage: []string{`"carol"`, "sessions/connect", `namespace "shared"`}},
		{name: "the owner without RBAC any more", caller: "alice", allowed: access{}, status: http.StatusForbidden,
			inMessage: []string{"sessions/connect"}},
		{name: "connect but no read", caller: "alice", allowed: member, readForbidden: true, status: http.StatusForbidden,
			inMessage: []string{"forbidden"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kube, _ := fakeKube(t, tc.allowed, nil)
			streams := streamfake.NewClientset(session("shared", "desk", "alice"))
			if tc.readForbidden {
				streams.PrependReactor("get", "sessions", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(streamv1alpha1.Resource("sessions"), "desk", errors.New("no get"))
				})
			}
			d, err := Decide(context.Background(), kube, streams, &user.DefaultInfo{Name: tc.caller}, "shared", "desk")
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != tc.status {
				t.Fatalf("status %d (%s), want %d", d.Status, d.Message, tc.status)
			}
			if d.Allowed() && d.User != tc.caller {
				t.Errorf("allowed as %q, want %q", d.User, tc.caller)
			}
			for _, want := range tc.inMessage {
				if !strings.Contains(d.Message, want) {
					t.Errorf("message %q does not say %q", d.Message, want)
				}
			}
		})
	}
}

// Someone RBAC refuses learns nothing of which sessions exist: the
// session is not even read, and a missing one is 403 like an existing one.
func TestDecideRefusesBeforeReading(t *testing.T) {
	kube, asked := fakeKube(t, access{}, nil)
	streams := streamfake.NewClientset(session("shared", "desk", "alice"))
	for _, name := range []string{"desk", "missing"} {
		d, err := Decide(context.Background(), kube, streams, &user.DefaultInfo{Name: "mallory"}, "shared", name)
		if err != nil || d.Status != http.StatusForbidden {
			t.Errorf("%s: %+v %v, want 403", name, d, err)
		}
	}
	for _, a := range streams.Actions() {
		t.Errorf("read the cluster for a caller RBAC refuses: %s %s", a.GetVerb(), a.GetResource().Resource)
	}
	if want := "create sessions/connect shared/desk"; len(*asked) == 0 || (*asked)[0] != want {
		t.Errorf("reviews %q, want first %q", *asked, want)
	}
}

func TestDecideMissingSession(t *testing.T) {
	kube, _ := fakeKube(t, access{"create sessions/connect": true}, nil)
	d, err := Decide(context.Background(), kube, streamfake.NewClientset(), &user.DefaultInfo{Name: "alice"}, "shared", "gone")
	if err != nil || d.Status != http.StatusNotFound {
		t.Fatalf("%+v %v, want 404", d, err)
	}
}

// When kube-apiserver cannot answer, Decide says so instead of deciding
// (the handler answers 5xx and remembers nothing).
func TestDecideReviewError(t *testing.T) {
	kube, _ := fakeKube(t, nil, apierrors.NewServiceUnavailable("etcd is away"))
	_, err := Decide(context.Background(), kube, streamfake.NewClientset(session("shared", "desk", "alice")), &user.DefaultInfo{Name: "alice"}, "shared", "desk")
	if err == nil {
		t.Fatal("no error when the access review failed")
	}
}
