package sessionquota

import (
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"

	"context"
	"errors"
	"io"
	"testing"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

func quotaOfTwo() *stream.SessionQuota {
	return &stream.SessionQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "staff", ResourceVersion: "7"},
		Spec:       stream.SessionQuotaSpec{Subjects: stream.QuotaSubjects{Users: []string{"alice", "bob"}}},
		Status: stream.SessionQuotaStatus{
			Usage: []stream.QuotaUsage{
				{User: "alice", Sessions: 2, RunningSessions: 1, CPU: resource.MustParse("500m")},
				{User: "bob", Sessions: 1},
			},
			Pending: []stream.QuotaCharge{
				{User: "alice", Session: "alice/a", Generation: 1},
				{User: "bob", Session: "bob/b", Generation: 1},
			},
			Conditions: []metav1.Condition{{Type: "UsageComputed", Status: metav1.ConditionTrue}},
		},
	}
}

func TestNarrowedKeepsOnlyTheCallersUsage(t *testing.T) {
	q := quotaOfTwo()
	before := q.DeepCopy()
	for _, tc := range []struct {
		user          string
		usage, charge []string
	}{
		{user: "alice", usage: []string{"alice"}, charge: []string{"alice/a"}},
		{user: "bob", usage: []string{"bob"}, charge: []string{"bob/b"}},
		{user: "carol"},
		{user: ""},
	} {
		got := narrowed(q, tc.user)
		var usage, charge []string
		for _, u := range got.Status.Usage {
			usage = append(usage, u.User)
		}
		for _, c := range got.Status.Pending {
			charge = append(charge, c.Session)
		}
		if !equalStrings(usage, tc.usage) || !equalStrings(charge, tc.charge) {
			t.Errorf("%q sees usage of %v and charges %v, want %v and %v", tc.user, usage, charge, tc.usage, tc.charge)
		}
		if got.Name != "staff" || got.ResourceVersion != "7" || len(got.Spec.Subjects.Users) != 2 || len(got.Status.Conditions) != 1 {
			t.Errorf("%q: narrowing changed more than the usage and charges: %+v", tc.user, got)
		}
	}
	if tc := narrowed(q, "alice"); tc.Status.Usage[0].CPU.String() != "500m" || tc.Status.Usage[0].Sessions != 2 {
		t.Errorf("alice's own entry: %+v", tc.Status.Usage[0])
	}
	if !apiequality.Semantic.DeepEqual(q, before) {
		t.Errorf("narrowing wrote into the quota it was given (the watch cache's):\n%+v\nwant\n%+v", q, before)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// rbac allows each user the (verb, subresource) pairs listed for them.
type rbac map[string][]string

func (r rbac) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.GetResource() != "sessionquotas" || a.GetAPIGroup() != stream.GroupName {
		return authorizer.DecisionNoOpinion, "", errors.New("asked about something else")
	}
	for _, allowed := range r[a.GetUser().GetName()] {
		if allowed == a.GetVerb()+" "+a.GetSubresource() {
			return authorizer.DecisionAllow, "", nil
		}
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func TestWhoSeesEveryone(t *testing.T) {
	p := usagePrivacy{authz: authorizer.AuthorizerFunc(rbac{
		"admin":      {"update ", "update status"},
		"controller": {"update status"},
		"editor":     {"update "},
		"bob":        {"get ", "list ", "watch "},
	}.Authorize)}
	for _, tc := range []struct {
		caller   user.Info
		everyone bool
		sees     string
	}{
		{caller: &user.DefaultInfo{Name: "admin"}, everyone: true, sees: "admin"},
		{caller: &user.DefaultInfo{Name: "controller"}, everyone: true, sees: "controller"},
		{caller: &user.DefaultInfo{Name: "editor"}, everyone: true, sees: "editor"},
		{caller: &user.DefaultInfo{Name: "bob"}, everyone: false, sees: "bob"},
		{caller: nil, everyone: false, sees: ""},
	} {
		ctx := context.Background()
		if tc.caller != nil {
			ctx = request.WithUser(ctx, tc.caller)
		}
		everyone, sees := p.seesEveryone(ctx, "")
		if everyone != tc.everyone || sees != tc.sees {
			t.Errorf("%v: seesEveryone = %v, %q; want %v, %q", tc.caller, everyone, sees, tc.everyone, tc.sees)
		}
	}
	if everyone, _ := (usagePrivacy{}).seesEveryone(context.Background(), ""); !everyone {
		t.Error("without an authorizer (no authorization) a caller does not see everyone")
	}
}

// cached stands for the watch cache's wrapper of an object shared by every
// watcher.
type cached struct{ runtime.Object }

func (c cached) CacheEncode(runtime.Identifier, func(runtime.Object, io.Writer) error, io.Writer) error {
	return errors.New("not used")
}
func (c cached) GetObject() runtime.Object { return c.Object.DeepCopyObject() }

// narrowEvent passes one event through the narrowing the watch of a caller
// who sees only user's usage applies.
func narrowEvent(e watch.Event, user string) watch.Event {
	in := watch.NewFakeWithChanSize(1, false)
	in.Action(e.Type, e.Object)
	out := storebuilder.MapWatch(in, func(q *stream.SessionQuota) *stream.SessionQuota { return narrowed(q, user) })
	defer out.Stop()
	return <-out.ResultChan()
}

func TestWatchEventsAreNarrowed(t *testing.T) {
	shared := quotaOfTwo()
	for name, in := range map[string]runtime.Object{"plain": quotaOfTwo(), "from the watch cache": cached{shared}} {
		out := narrowEvent(watch.Event{Type: watch.Modified, Object: in}, "bob")
		q, ok := out.Object.(*stream.SessionQuota)
		if !ok {
			t.Fatalf("%s: the event carries a %T, want the narrowed quota", name, out.Object)
		}
		if out.Type != watch.Modified || len(q.Status.Usage) != 1 || q.Status.Usage[0].User != "bob" || len(q.Status.Pending) != 1 {
			t.Errorf("%s: bob's watch gets %s %+v", name, out.Type, q.Status)
		}
	}
	if len(shared.Status.Usage) != 2 {
		t.Errorf("narrowing an event changed the shared object: %+v", shared.Status.Usage)
	}
	bookmark := &stream.SessionQuota{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "9", Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}}
	if out := narrowEvent(watch.Event{Type: watch.Bookmark, Object: bookmark}, "bob"); out.Object != bookmark {
		t.Errorf("a bookmark was replaced by %+v", out.Object)
	}
}
