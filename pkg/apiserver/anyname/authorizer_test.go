package anyname

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// rbac stands for kube-apiserver's RBAC: alice may create heartbeats of any
// connection in namespace alice; bob only of the connection named "shared"
// there (a rule with resourceNames). It counts the questions it is asked.
type rbac struct{ asked []string }

func (r *rbac) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	r.asked = append(r.asked, a.GetUser().GetName()+"/"+a.GetName())
	if a.GetNamespace() != "alice" || a.GetResource() != "connections" || a.GetSubresource() != "heartbeat" || a.GetVerb() != "create" {
		return authorizer.DecisionNoOpinion, "", nil
	}
	switch a.GetUser().GetName() {
	case "alice":
		return authorizer.DecisionAllow, "", nil
	case "bob":
		if a.GetName() == "shared" {
			return authorizer.DecisionAllow, "", nil
		}
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func heartbeat(who, name string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{
		User: &user.DefaultInfo{Name: who}, Verb: "create", Namespace: "alice", APIGroup: "stream.space",
		APIVersion: "v1alpha1", Resource: "connections", Subresource: "heartbeat", Name: name, ResourceRequest: true,
	}
}

func TestDecisionsAreRBACsAndUnnamedFirst(t *testing.T) {
	for _, tc := range []struct {
		who, name string
		want      authorizer.Decision
		asked     []string
	}{
		// A namespace-wide grant is answered by the unnamed question alone.
		{"alice", "c-1", authorizer.DecisionAllow, []string{"alice/"}},
		{"alice", "c-2", authorizer.DecisionAllow, []string{"alice/"}},
		// A grant restricted to names still allows its names, and only them.
		{"bob", "shared", authorizer.DecisionAllow, []string{"bob/", "bob/shared"}},
		{"bob", "c-1", authorizer.DecisionNoOpinion, []string{"bob/", "bob/c-1"}},
		{"carol", "c-1", authorizer.DecisionNoOpinion, []string{"carol/", "carol/c-1"}},
	} {
		delegate := &rbac{}
		got, _, err := NewAuthorizer(authorizer.AuthorizerFunc(delegate.Authorize)).Authorize(context.Background(), heartbeat(tc.who, tc.name))
		if err != nil || got != tc.want {
			t.Errorf("%s on %s: decision %v, %v; want %v", tc.who, tc.name, got, err, tc.want)
		}
		if len(delegate.asked) != len(tc.asked) {
			t.Errorf("%s on %s: asked %v, want %v", tc.who, tc.name, delegate.asked, tc.asked)
			continue
		}
		for i := range tc.asked {
			if delegate.asked[i] != tc.asked[i] {
				t.Errorf("%s on %s: asked %v, want %v", tc.who, tc.name, delegate.asked, tc.asked)
			}
		}
	}
}

func TestUnnamedRequestsAreAskedOnce(t *testing.T) {
	delegate := &rbac{}
	a := heartbeat("alice", "")
	a.Subresource, a.Verb = "", "list"
	if _, _, err := NewAuthorizer(authorizer.AuthorizerFunc(delegate.Authorize)).Authorize(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if len(delegate.asked) != 1 {
		t.Errorf("a list was asked %d times (%v), want once", len(delegate.asked), delegate.asked)
	}
}

// slow answers allow after release is closed, counting the questions.
type slow struct {
	asked   atomic.Int32
	release chan struct{}
}

func (s *slow) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	s.asked.Add(1)
	<-s.release
	return authorizer.DecisionAllow, "", nil
}

func TestConcurrentQuestionsAreAskedOnce(t *testing.T) {
	delegate := &slow{release: make(chan struct{})}
	authz := NewAuthorizer(authorizer.AuthorizerFunc(delegate.Authorize))
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if d, _, err := authz.Authorize(context.Background(), heartbeat("alice", fmt.Sprintf("c-%d", i))); d != authorizer.DecisionAllow || err != nil {
				t.Errorf("heartbeat %d: %v, %v", i, d, err)
			}
		})
	}
	// Every caller is waiting on the one question before it is answered.
	if err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return delegate.asked.Load() >= 1, nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	close(delegate.release)
	wg.Wait()
	if n := delegate.asked.Load(); n >= 50 {
		t.Errorf("50 concurrent heartbeats asked the delegate %d times, want the shared question far fewer times", n)
	}
}
