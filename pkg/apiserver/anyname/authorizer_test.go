package anyname

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	clocktesting "k8s.io/utils/clock/testing"
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

// newAuthorizer wraps delegate, which also answers the unnamed questions,
// with the delegated authorizer's default TTLs.
func newAuthorizer(delegate authorizer.Authorizer) authorizer.Authorizer {
	return NewAuthorizer(delegate, delegate, Options{AllowTTL: 10 * time.Second, DenyTTL: 10 * time.Second})
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
		got, _, err := newAuthorizer(authorizer.AuthorizerFunc(delegate.Authorize)).Authorize(context.Background(), heartbeat(tc.who, tc.name))
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
	if _, _, err := newAuthorizer(authorizer.AuthorizerFunc(delegate.Authorize)).Authorize(context.Background(), a); err != nil {
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
	authz := newAuthorizer(authorizer.AuthorizerFunc(delegate.Authorize))
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

// counting allows alice and counts the reviews it is sent.
type counting struct{ asked atomic.Int32 }

func (c *counting) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	c.asked.Add(1)
	if a.GetUser().GetName() == "alice" {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// TestAnswersInUseAreRefreshedBeforeTheyExpire follows one person's
// heartbeats through the life of their answer: served from the cache while
// fresh, refreshed in the background near its end without anyone waiting,
// asked again with a wait only after a quiet spell, never served past its
// time to live.
func TestAnswersInUseAreRefreshedBeforeTheyExpire(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Unix(1_000_000, 0))
	reviewer := &counting{}
	delegate := authorizer.AuthorizerFunc(func(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
		t.Error("the delegate was asked a question the unnamed answer settles")
		return authorizer.DecisionNoOpinion, "", nil
	})
	authz := NewAuthorizer(delegate, authorizer.AuthorizerFunc(reviewer.Authorize), Options{AllowTTL: 10 * time.Second, DenyTTL: 5 * time.Second, Clock: clock})
	beat := func(step string, name string, wantReviews int32) {
		t.Helper()
		if d, _, err := authz.Authorize(context.Background(), heartbeat("alice", name)); d != authorizer.DecisionAllow || err != nil {
			t.Fatalf("%s: %v, %v", step, d, err)
		}
		// A background refresh ends soon after; wait for the count to settle.
		if err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			return reviewer.asked.Load() >= wantReviews, nil
		}); err != nil {
			t.Fatalf("%s: %d reviews, want %d", step, reviewer.asked.Load(), wantReviews)
		}
		time.Sleep(10 * time.Millisecond)
		if n := reviewer.asked.Load(); n != wantReviews {
			t.Fatalf("%s: %d reviews, want %d", step, n, wantReviews)
		}
	}
	beat("first heartbeat", "c-1", 1)
	clock.Step(7 * time.Second)
	beat("another connection, answer 7 s old", "c-2", 1)
	clock.Step(1 * time.Second)
	beat("answer 8 s old: served, refreshed behind it", "c-1", 2)
	clock.Step(9 * time.Second)
	beat("refreshed answer 9 s old: served, refreshed", "c-1", 3)
	clock.Step(11 * time.Second)
	beat("after a quiet spell: asked again", "c-1", 4)

	// An answer that does not allow is kept for DenyTTL, and the named
	// question goes to the delegate as before.
	named := 0
	authz = NewAuthorizer(authorizer.AuthorizerFunc(func(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
		named++
		return authorizer.DecisionNoOpinion, "", nil
	}), authorizer.AuthorizerFunc(reviewer.Authorize), Options{AllowTTL: 10 * time.Second, DenyTTL: 5 * time.Second, Clock: clock})
	before := reviewer.asked.Load()
	for range 3 {
		if d, _, _ := authz.Authorize(context.Background(), heartbeat("bob", "c-1")); d == authorizer.DecisionAllow {
			t.Fatal("bob was allowed")
		}
	}
	if n := reviewer.asked.Load() - before; n != 1 || named != 3 {
		t.Errorf("bob's 3 heartbeats: %d unnamed reviews, %d named questions; want 1 and 3", n, named)
	}
	clock.Step(6 * time.Second)
	authz.Authorize(context.Background(), heartbeat("bob", "c-1"))
	if n := reviewer.asked.Load() - before; n != 2 {
		t.Errorf("after DenyTTL: %d unnamed reviews, want 2", n)
	}
}

// failing fails every review.
type failing struct{ asked atomic.Int32 }

func (f *failing) Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	f.asked.Add(1)
	return authorizer.DecisionNoOpinion, "", errors.New("kube-apiserver timed out")
}

func TestFailedReviewsAreNotKept(t *testing.T) {
	reviewer := &failing{}
	authz := NewAuthorizer(authorizer.AuthorizerFunc(reviewer.Authorize), authorizer.AuthorizerFunc(reviewer.Authorize), Options{AllowTTL: 10 * time.Second, DenyTTL: 10 * time.Second})
	list := heartbeat("alice", "")
	list.Subresource, list.Verb = "", "list"
	for i := range 2 {
		if d, _, err := authz.Authorize(context.Background(), list); d == authorizer.DecisionAllow || err == nil {
			t.Fatalf("list %d: %v, %v; want the review's error", i, d, err)
		}
	}
	if n := reviewer.asked.Load(); n != 2 {
		t.Errorf("two lists after failed reviews sent %d reviews, want 2", n)
	}
}

// TestQuestionKeysTellQuestionsApart checks that questions differing in any
// part the review carries, also where the parts' text would run together,
// never share a cached answer, and that one question asked twice does.
func TestQuestionKeysTellQuestionsApart(t *testing.T) {
	base := func() authorizer.AttributesRecord {
		return unnamed(heartbeat("alice", "c1")).(authorizer.AttributesRecord)
	}
	with := func(change func(*authorizer.AttributesRecord)) authorizer.AttributesRecord {
		a := base()
		change(&a)
		return a
	}
	withUser := func(u user.DefaultInfo) authorizer.AttributesRecord {
		return with(func(a *authorizer.AttributesRecord) { a.User = &u })
	}
	questions := map[string]authorizer.AttributesRecord{
		"base":                    base(),
		"name":                    withUser(user.DefaultInfo{Name: "alicex"}),
		"uid":                     withUser(user.DefaultInfo{Name: "alice", UID: "1"}),
		"one group":               withUser(user.DefaultInfo{Name: "alice", Groups: []string{"ab"}}),
		"two groups":              withUser(user.DefaultInfo{Name: "alice", Groups: []string{"a", "b"}}),
		"group in the name":       withUser(user.DefaultInfo{Name: "alice1:a", Groups: nil}),
		"extra":                   withUser(user.DefaultInfo{Name: "alice", Extra: map[string][]string{"k": {"v"}}}),
		"extra key and value":     withUser(user.DefaultInfo{Name: "alice", Extra: map[string][]string{"kv": nil}}),
		"two extra values":        withUser(user.DefaultInfo{Name: "alice", Extra: map[string][]string{"k": {"v", "w"}}}),
		"verb":                    with(func(a *authorizer.AttributesRecord) { a.Verb = "get" }),
		"namespace":               with(func(a *authorizer.AttributesRecord) { a.Namespace = "bob" }),
		"group":                   with(func(a *authorizer.AttributesRecord) { a.APIGroup = "other" }),
		"version":                 with(func(a *authorizer.AttributesRecord) { a.APIVersion = "v1" }),
		"resource":                with(func(a *authorizer.AttributesRecord) { a.Resource = "sessions" }),
		"no subresource":          with(func(a *authorizer.AttributesRecord) { a.Subresource = "" }),
		"subresource in resource": with(func(a *authorizer.AttributesRecord) { a.Resource, a.Subresource = "connections9:heartbeat", "" }),
		"field selector":          with(func(a *authorizer.AttributesRecord) { a.FieldSelectorParsingErr = errors.New("bad") }),
		"label selector":          with(func(a *authorizer.AttributesRecord) { a.LabelSelectorParsingErr = errors.New("bad") }),
	}
	seen := map[string]string{}
	for what, q := range questions {
		key, err := questionKey(q)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if other, ok := seen[key]; ok {
			t.Errorf("%q and %q have the same key %q", what, other, key)
		}
		seen[key] = what
	}
	extra := map[string][]string{"a": {"1"}, "b": {"2"}, "c": {"3"}}
	first, _ := questionKey(withUser(user.DefaultInfo{Name: "alice", Extra: extra}))
	for range 20 { // map order varies from one iteration to the next
		if again, _ := questionKey(withUser(user.DefaultInfo{Name: "alice", Extra: extra})); again != first {
			t.Fatalf("one question, two keys: %q and %q", first, again)
		}
	}
}

// BenchmarkQuestionKey is the key of a heartbeat's unnamed question, built
// on every request that names an object.
func BenchmarkQuestionKey(b *testing.B) {
	q := unnamed(authorizer.AttributesRecord{
		User: &user.DefaultInfo{Name: "oidc:alice", UID: "5d2c", Groups: []string{"streamspace-users", "system:authenticated"},
			Extra: map[string][]string{"authentication.kubernetes.io/credential-id": {"JTI=7f2e"}}},
		Verb: "create", Namespace: "alice", APIGroup: "stream.space", APIVersion: "v1alpha1",
		Resource: "connections", Subresource: "heartbeat", Name: "c1", ResourceRequest: true,
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := questionKey(q); err != nil {
			b.Fatal(err)
		}
	}
}
