package users

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/registry/rest"
	testclock "k8s.io/utils/clock/testing"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

func TestIdentityOf(t *testing.T) {
	u := &user.DefaultInfo{
		Name: "oidc:carol", UID: "carol-sub",
		Groups: []string{"streamspace-users", user.AllAuthenticated},
		Extra: map[string][]string{
			ExtraEmail:     {"carol@example.com"},
			ExtraName:      {" Carol Example "},
			ExtraLoginTime: {"1700000000"},
		},
	}
	id := IdentityOf(u)
	want := Identity{Name: "oidc:carol", UID: "carol-sub", Email: "carol@example.com", DisplayName: "Carol Example",
		Groups: []string{"streamspace-users"}, LoginTime: time.Unix(1700000000, 0).UTC()}
	if id.Name != want.Name || id.UID != want.UID || id.Email != want.Email || id.DisplayName != want.DisplayName ||
		len(id.Groups) != 1 || id.Groups[0] != "streamspace-users" || !id.LoginTime.Equal(want.LoginTime) {
		t.Errorf("IdentityOf = %+v, want %+v", id, want)
	}

	plain := IdentityOf(&user.DefaultInfo{Name: "alice"})
	if plain.Email != "" || plain.DisplayName != "" || !plain.LoginTime.IsZero() || len(plain.Groups) != 0 {
		t.Errorf("IdentityOf without extras = %+v", plain)
	}
}

func TestParseLoginTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"1700000000":           time.Unix(1700000000, 0).UTC(),
		"1700000000.75":        time.Unix(1700000000, 0).UTC(),
		"2024-05-06T07:08:09Z": time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		"":                     {},
		"0":                    {},
		"-5":                   {},
		"yesterday":            {},
	} {
		if got := parseLoginTime(in); !got.Equal(want) {
			t.Errorf("parseLoginTime(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestRole(t *testing.T) {
	if r := Role([]string{"streamspace-users", "streamspace-admins"}, DefaultAdminGroup); r != stream.UserRoleAdmin {
		t.Errorf("member of the admin group: role %q", r)
	}
	if r := Role([]string{"streamspace-users"}, DefaultAdminGroup); r != stream.UserRoleUser {
		t.Errorf("not a member: role %q", r)
	}
	if r := Role([]string{"ops"}, "ops"); r != stream.UserRoleAdmin {
		t.Errorf("configured admin group: role %q", r)
	}
	if r := Role([]string{""}, ""); r != stream.UserRoleUser {
		t.Errorf("no admin group: role %q", r)
	}
}

func TestRecorded(t *testing.T) {
	for name, want := range map[string]bool{
		"alice":                          true,
		"oidc:carol":                     true,
		"carol@example.com":              true,
		"system:apiserver":               false,
		"system:kube-controller-manager": false,
		"system:serviceaccount:streamspace-system:streamspace-controller": false,
		"system:anonymous":           false,
		"":                           false,
		"https://issuer.example#123": false, // '/' cannot be in an object name
		"..":                         false,
	} {
		if got, reason := Recorded(&user.DefaultInfo{Name: name}); got != want {
			t.Errorf("Recorded(%q) = %v (%s), want %v", name, got, reason, want)
		}
	}
}

func TestChanged(t *testing.T) {
	now := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	base := Identity{Name: "oidc:carol", UID: "sub", Email: "c@x", DisplayName: "Carol", Groups: []string{"a", "b"}, LoginTime: now.Add(-time.Hour)}
	last := &record{id: base, seen: now.Add(-10 * time.Second)}
	with := func(f func(*Identity)) Identity {
		id := base
		id.Groups = append([]string(nil), base.Groups...)
		f(&id)
		return id
	}
	for _, tc := range []struct {
		name string
		last *record
		id   Identity
		now  time.Time
		want bool
	}{
		{"new identity", nil, base, now, true},
		{"nothing changed, seen recently", last, base, now, false},
		{"seen an interval ago", last, base, last.seen.Add(time.Minute), true},
		{"just under an interval", last, base, last.seen.Add(time.Minute - time.Second), false},
		{"uid changed", last, with(func(i *Identity) { i.UID = "other" }), now, true},
		{"email changed", last, with(func(i *Identity) { i.Email = "new@x" }), now, true},
		{"display name changed", last, with(func(i *Identity) { i.DisplayName = "C." }), now, true},
		{"group added", last, with(func(i *Identity) { i.Groups = append(i.Groups, "c") }), now, true},
		{"signed in again", last, with(func(i *Identity) { i.LoginTime = now }), now, true},
	} {
		if got := changed(tc.last, tc.id, tc.now, time.Minute); got != tc.want {
			t.Errorf("%s: changed = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMerge(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	id := Identity{Name: "oidc:carol", UID: "sub", Email: "c@x", DisplayName: "Carol", Groups: []string{"g"}, LoginTime: t0.Add(-time.Hour)}
	s := Merge(stream.UserStatus{}, id, stream.UserRoleUser, t0.Add(500*time.Millisecond))
	if s.FirstSeen == nil || !s.FirstSeen.Time.Equal(t0) || !s.LastSeen.Time.Equal(t0) || !s.LastLogin.Time.Equal(t0.Add(-time.Hour)) {
		t.Errorf("first record: %+v", s)
	}
	if s.UID != "sub" || s.Email != "c@x" || s.DisplayName != "Carol" || s.Role != stream.UserRoleUser || len(s.Groups) != 1 {
		t.Errorf("first record: %+v", s)
	}

	// A later request without claims keeps email and name, takes the new
	// groups and role, moves last seen; unknown login time means last seen.
	later := t0.Add(time.Hour)
	s2 := Merge(s, Identity{Name: "oidc:carol", Groups: []string{"streamspace-admins"}}, stream.UserRoleAdmin, later)
	if !s2.FirstSeen.Time.Equal(t0) || !s2.LastSeen.Time.Equal(later) || !s2.LastLogin.Time.Equal(later) {
		t.Errorf("second record times: %+v", s2)
	}
	if s2.UID != "sub" || s2.Email != "c@x" || s2.DisplayName != "Carol" || s2.Role != stream.UserRoleAdmin || s2.Groups[0] != "streamspace-admins" {
		t.Errorf("second record: %+v", s2)
	}

	// An observation older than the stored one (another replica wrote a
	// newer one first) does not move the times back.
	s3 := Merge(s2, id, stream.UserRoleUser, t0)
	if !s3.LastSeen.Time.Equal(later) || !s3.LastLogin.Time.Equal(later) || !s3.FirstSeen.Time.Equal(t0) {
		t.Errorf("older observation moved times: %+v", s3)
	}
	// An observation older than the stored first one moves first seen back.
	s4 := Merge(s3, id, stream.UserRoleUser, t0.Add(-time.Hour))
	if !s4.FirstSeen.Time.Equal(t0.Add(-time.Hour)) || !s4.LastSeen.Time.Equal(later) {
		t.Errorf("an earlier observation: %+v", s4)
	}
	if s.LastSeen.Time.Equal(later) {
		t.Error("Merge changed the old status")
	}
}

// fakeStore keeps one User per name, as the registry's Update with
// forceAllowCreate does.
type fakeStore struct {
	users  map[string]*stream.User
	writes chan string
}

func (f *fakeStore) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, _ rest.ValidateObjectFunc,
	_ rest.ValidateObjectUpdateFunc, forceAllowCreate bool, _ *metav1.UpdateOptions) (runtime.Object, bool, error) {
	old, ok := f.users[name]
	if !ok {
		old = &stream.User{}
	}
	obj, err := objInfo.UpdatedObject(ctx, old)
	if err != nil {
		return nil, false, err
	}
	f.users[name] = obj.(*stream.User)
	f.writes <- name
	return obj, !ok, nil
}

func TestRecorderThrottlesAndDrops(t *testing.T) {
	clk := testclock.NewFakeClock(time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC))
	r := NewRecorder(Options{AdminGroup: DefaultAdminGroup, QueueLength: 1, Clock: clk})
	ctx := context.Background()
	carol := &user.DefaultInfo{Name: "oidc:carol", Groups: []string{"streamspace-users"}}

	r.Observe(ctx, carol)
	r.Observe(ctx, carol) // remembered: not queued again
	if len(r.queue) != 1 {
		t.Fatalf("queued %d writes for two requests of one person, want 1", len(r.queue))
	}
	r.Observe(ctx, &user.DefaultInfo{Name: "system:serviceaccount:ns:sa"})
	bob := &user.DefaultInfo{Name: "bob"}
	r.Observe(ctx, bob) // the queue is full: dropped and forgotten
	if len(r.queue) != 1 {
		t.Fatalf("queue holds %d, want 1", len(r.queue))
	}
	if _, remembered := r.remembered["bob"]; remembered {
		t.Error("a dropped observation stays remembered: bob's next request would not be recorded")
	}
	if _, remembered := r.remembered["system:serviceaccount:ns:sa"]; remembered {
		t.Error("a ServiceAccount was recorded")
	}

	store := &fakeStore{users: map[string]*stream.User{}, writes: make(chan string, 10)}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go r.Run(runCtx, store)
	if got := <-store.writes; got != "oidc:carol" {
		t.Fatalf("wrote %s, want oidc:carol", got)
	}
	r.Observe(ctx, bob)
	if got := <-store.writes; got != "bob" {
		t.Fatalf("wrote %s, want bob", got)
	}
	if u := store.users["oidc:carol"]; u.Name != "oidc:carol" || u.Status.Role != stream.UserRoleUser || u.Status.FirstSeen == nil {
		t.Errorf("recorded %+v", u)
	}

	// A minute later the next request writes again.
	clk.Step(time.Minute)
	r.Observe(ctx, carol)
	if got := <-store.writes; got != "oidc:carol" {
		t.Fatalf("wrote %s, want oidc:carol", got)
	}
	if u := store.users["oidc:carol"]; !u.Status.LastSeen.Time.Equal(clk.Now()) {
		t.Errorf("last seen %v, want %v", u.Status.LastSeen, clk.Now())
	}
}

// TestAuthorizer: the delegate stands for kube-apiserver's RBAC with the
// rules of artifacts/rbac: everyone may get users (so kube-apiserver lets the
// request through), only dana may list them.
func TestAuthorizer(t *testing.T) {
	delegate := authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		switch {
		case a.GetResource() == "users" && a.GetVerb() == "get":
			return authorizer.DecisionAllow, "streamspace-user-self", nil
		case a.GetUser().GetName() == "oidc:dana":
			return authorizer.DecisionAllow, "streamspace-admin", nil
		}
		return authorizer.DecisionNoOpinion, "", nil
	})
	authz := NewAuthorizer(delegate)
	attrs := func(who, verb, name string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: &user.DefaultInfo{Name: who}, Verb: verb, APIGroup: stream.GroupName,
			APIVersion: "v1alpha1", Resource: "users", Name: name, ResourceRequest: true}
	}
	for _, tc := range []struct {
		name  string
		attrs authorizer.AttributesRecord
		want  authorizer.Decision
	}{
		{"carol gets her own", attrs("oidc:carol", "get", "oidc:carol"), authorizer.DecisionAllow},
		{"carol gets bob's", attrs("oidc:carol", "get", "oidc:bob"), authorizer.DecisionDeny},
		{"carol lists", attrs("oidc:carol", "list", ""), authorizer.DecisionNoOpinion},
		{"carol deletes her own", attrs("oidc:carol", "delete", "oidc:carol"), authorizer.DecisionNoOpinion},
		{"dana gets carol's", attrs("oidc:dana", "get", "oidc:carol"), authorizer.DecisionAllow},
		{"dana lists", attrs("oidc:dana", "list", ""), authorizer.DecisionAllow},
		{"carol gets a session (delegated)", func() authorizer.AttributesRecord {
			a := attrs("oidc:carol", "get", "oidc:carol")
			a.Resource = "sessions"
			return a
		}(), authorizer.DecisionNoOpinion},
		{"carol gets users of another group (delegated)", func() authorizer.AttributesRecord {
			a := attrs("oidc:carol", "get", "oidc:bob")
			a.APIGroup = "example.com"
			return a
		}(), authorizer.DecisionAllow},
		{"carol gets a subresource of her own (delegated)", func() authorizer.AttributesRecord {
			a := attrs("oidc:carol", "get", "oidc:carol")
			a.Subresource = "status"
			a.Verb = "update"
			return a
		}(), authorizer.DecisionNoOpinion},
	} {
		got, _, err := authz.Authorize(context.Background(), tc.attrs)
		if err != nil || got != tc.want {
			t.Errorf("%s: decision %v (%v), want %v", tc.name, got, err, tc.want)
		}
	}
}

// failingStore fails every write.
type failingStore struct{ calls chan string }

func (f *failingStore) Update(_ context.Context, name string, _ rest.UpdatedObjectInfo, _ rest.ValidateObjectFunc,
	_ rest.ValidateObjectUpdateFunc, _ bool, _ *metav1.UpdateOptions) (runtime.Object, bool, error) {
	f.calls <- name
	return nil, false, errors.New("storage unavailable")
}

func TestRecorderRetriesAFailedWriteLater(t *testing.T) {
	clk := testclock.NewFakeClock(time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC))
	r := NewRecorder(Options{Clock: clk})
	store := &failingStore{calls: make(chan string, 10)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx, store)
	alice := &user.DefaultInfo{Name: "alice"}

	r.Observe(ctx, alice)
	<-store.calls
	// The worker handles the failure after the call: wait until it has
	// moved the remembered time.
	err := wait.PollUntilContextTimeout(ctx, time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		rec := r.remembered["alice"]
		return rec != nil && !rec.seen.Equal(clk.Now()), nil
	})
	if err != nil {
		t.Fatal("the failed write was not scheduled for a retry")
	}
	r.Observe(ctx, alice)
	if len(r.queue) != 0 {
		t.Error("a request right after a failed write queued another write")
	}
	clk.Step(retryDelay)
	r.Observe(ctx, alice)
	if got := <-store.calls; got != "alice" {
		t.Errorf("retried %s", got)
	}
}
