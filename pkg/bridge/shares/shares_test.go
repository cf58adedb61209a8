package shares

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned/fake"
)

var (
	testNow = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	soon    = metav1.NewTime(testNow.Add(time.Hour))
	later   = metav1.NewTime(testNow.Add(2 * time.Hour))
	past    = metav1.NewTime(testNow.Add(-time.Minute))
)

func share(namespace, name, session, user, group string, role streamv1alpha1.ShareRole, expires *metav1.Time) *streamv1alpha1.SessionShare {
	return &streamv1alpha1.SessionShare{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       streamv1alpha1.SessionShareSpec{Session: session, User: user, Group: group, Role: role, ExpiresAt: expires},
		Status:     streamv1alpha1.SessionShareStatus{Owner: namespace},
	}
}

func sessionObject(namespace, name string) *streamv1alpha1.Session {
	return &streamv1alpha1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: streamv1alpha1.SessionSpec{User: namespace, Template: "firefox"}}
}

// startIndex fills an index from objects, as the bridge's own identity
// would list them.
func startIndex(t *testing.T, objects ...runtime.Object) *Index {
	t.Helper()
	index, err := NewIndex(fake.NewClientset(objects...))
	if err != nil {
		t.Fatal(err)
	}
	index.now = func() time.Time { return testNow }
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go index.Run(ctx)
	ready, readyCancel := context.WithTimeout(ctx, 10*time.Second)
	defer readyCancel()
	if !index.Ready(ready) {
		t.Fatal("the index did not fill")
	}
	return index
}

// callerClient is the API as a caller sees it: objects, and 403 for every
// get of a share or session whose namespace/name is not in readable.
func callerClient(readable []string, objects ...runtime.Object) *fake.Clientset {
	client := fake.NewClientset(objects...)
	for _, resource := range []string{"sessionshares", "sessions"} {
		client.PrependReactor("get", resource, func(action k8stesting.Action) (bool, runtime.Object, error) {
			get := action.(k8stesting.GetAction)
			if slices.Contains(readable, get.GetNamespace()+"/"+get.GetName()) {
				return false, nil, nil
			}
			return true, nil, apierrors.NewForbidden(streamv1alpha1.Resource(resource), get.GetName(), fmt.Errorf("RBAC: not allowed"))
		})
	}
	return client
}

func names(shares []*streamv1alpha1.SessionShare) string {
	var out []string
	for _, s := range shares {
		out = append(out, s.Namespace+"/"+s.Name)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// The index finds the shares in force that name a person or one of their
// groups, and nothing else.
func TestIndexNaming(t *testing.T) {
	deleting := share("alice", "deleting", "desk", "bob", "", streamv1alpha1.ShareRoleView, nil)
	deleting.DeletionTimestamp = &past
	deleting.Finalizers = []string{"example.com/hold"}
	index := startIndex(t,
		share("alice", "to-bob", "desk", "bob", "", streamv1alpha1.ShareRoleView, nil),
		share("alice", "to-staff", "desk", "", "staff", streamv1alpha1.ShareRoleControl, &soon),
		share("carol", "to-bob", "lab", "bob", "", streamv1alpha1.ShareRoleView, nil),
		share("alice", "to-carol", "desk", "carol", "", streamv1alpha1.ShareRoleView, nil),
		share("alice", "to-others", "desk", "", "others", streamv1alpha1.ShareRoleView, nil),
		share("alice", "expired", "desk", "bob", "", streamv1alpha1.ShareRoleView, &past),
		deleting,
	)
	for _, tc := range []struct {
		name, user, namespace string
		groups                []string
		want                  string
	}{
		{"user", "bob", "", nil, "alice/to-bob,carol/to-bob"},
		{"user and group", "bob", "", []string{"staff", "system:authenticated"}, "alice/to-bob,alice/to-staff,carol/to-bob"},
		{"one namespace", "bob", "carol", []string{"staff"}, "carol/to-bob"},
		{"group only", "dana", "", []string{"staff"}, "alice/to-staff"},
		{"a group's name is not a user's", "staff", "", nil, ""},
		{"nobody", "", "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(index.Naming(tc.user, tc.groups, tc.namespace)); got != tc.want {
				t.Errorf("Naming(%q, %v, %q) = %s, want %s", tc.user, tc.groups, tc.namespace, got, tc.want)
			}
		})
	}
	if got := names(index.OfSession("alice", "desk", "bob", []string{"staff"})); got != "alice/to-bob,alice/to-staff" {
		t.Errorf("OfSession(alice/desk) for bob of staff = %s", got)
	}
	var nilIndex *Index
	if nilIndex.Naming("bob", nil, "") != nil || nilIndex.Ready(context.Background()) {
		t.Error("a nil index found something")
	}
}

// Verify believes only what the caller's own reads return: a share the
// caller may not read (no Role yet), that is gone, that names someone else
// or has expired by the time the caller reads it gives nothing; of the
// others, control outranks view and the earliest expiry is kept.
func TestVerifyReadsAsTheCaller(t *testing.T) {
	toBob := share("alice", "to-bob", "desk", "bob", "", streamv1alpha1.ShareRoleView, &later)
	toStaff := share("alice", "to-staff", "desk", "", "staff", streamv1alpha1.ShareRoleControl, &soon)
	bob := func(readable []string, objects ...runtime.Object) Grantee {
		return Grantee{User: "bob", Groups: []string{"staff"}, Client: callerClient(readable, objects...)}
	}
	expiredForCaller := toBob.DeepCopy()
	expiredForCaller.Spec.ExpiresAt = &past
	renamed := toBob.DeepCopy()
	renamed.Spec.User = "mallory"
	for _, tc := range []struct {
		name      string
		grantee   Grantee
		wantOK    bool
		wantRole  streamv1alpha1.ShareRole
		wantUntil *metav1.Time
	}{
		{"both readable", bob([]string{"alice/to-bob", "alice/to-staff"}, toBob, toStaff), true, streamv1alpha1.ShareRoleControl, &soon},
		{"only the view share readable", bob([]string{"alice/to-bob"}, toBob, toStaff), true, streamv1alpha1.ShareRoleView, &later},
		{"none readable yet", bob(nil, toBob, toStaff), false, "", nil},
		{"gone for the caller", bob([]string{"alice/to-bob", "alice/to-staff"}), false, "", nil},
		{"expired when the caller reads it", bob([]string{"alice/to-bob"}, expiredForCaller), false, "", nil},
		{"names someone else when the caller reads it", bob([]string{"alice/to-bob"}, renamed), false, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			grant, ok, err := Verify(context.Background(), tc.grantee, []*streamv1alpha1.SessionShare{toBob, toStaff}, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK || grant.Role != tc.wantRole {
				t.Fatalf("Verify = %+v, %v; want role %q, %v", grant, ok, tc.wantRole, tc.wantOK)
			}
			if ok && grant.Owner != "alice" {
				t.Errorf("owner %q, want alice", grant.Owner)
			}
			if tc.wantUntil != nil && (grant.Until == nil || !grant.Until.Equal(tc.wantUntil.Time)) {
				t.Errorf("until %v, want %v", grant.Until, tc.wantUntil.Time)
			}
		})
	}

	failing := fake.NewClientset(toBob)
	failing.PrependReactor("get", "sessionshares", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd is away")
	})
	if _, _, err := Verify(context.Background(), Grantee{User: "bob", Client: failing}, []*streamv1alpha1.SessionShare{toBob}, testNow); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("Verify with the API failing: %v, want the 503", err)
	}
}

// List gives the sessions shared with the caller that the caller may read,
// each once, in namespace and name order.
func TestListSharedSessions(t *testing.T) {
	shares := []runtime.Object{
		share("erin", "desk-bob", "desk", "bob", "", streamv1alpha1.ShareRoleView, nil),
		share("alice", "desk-bob", "desk", "bob", "", streamv1alpha1.ShareRoleView, nil),
		share("alice", "desk-staff", "desk", "", "staff", streamv1alpha1.ShareRoleControl, nil),
		// Its Role is not in place: neither the share nor the session is
		// readable yet.
		share("alice", "lab-bob", "lab", "bob", "", streamv1alpha1.ShareRoleView, nil),
		// The share is readable but the session is not.
		share("carol", "notes-bob", "notes", "bob", "", streamv1alpha1.ShareRoleView, nil),
	}
	index := startIndex(t, shares...)
	objects := append(slices.Clone(shares), sessionObject("erin", "desk"), sessionObject("alice", "desk"),
		sessionObject("alice", "lab"), sessionObject("carol", "notes"))
	bob := Grantee{User: "bob", Groups: []string{"staff"}, Client: callerClient([]string{
		"erin/desk-bob", "erin/desk", "alice/desk-bob", "alice/desk-staff", "alice/desk", "carol/notes-bob",
	}, objects...)}
	got, err := List(context.Background(), index, bob)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, s := range got {
		listed = append(listed, fmt.Sprintf("%s/%s:%s:%s", s.Session.Namespace, s.Session.Name, s.Grant.Role, s.Grant.Owner))
	}
	if want := "alice/desk:control:alice,erin/desk:view:erin"; strings.Join(listed, ",") != want {
		t.Errorf("List = %v, want %s", listed, want)
	}
	if grant, ok, err := ForSession(context.Background(), index, bob, "alice", "lab"); ok || err != nil {
		t.Errorf("ForSession(alice/lab) = %+v, %v, %v; want nothing before its Role is in place", grant, ok, err)
	}
}
