package sessionquota

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		name string
		subj streamv1alpha1.QuotaSubjects
		p    Person
		want bool
	}{
		{"named user", streamv1alpha1.QuotaSubjects{Users: []string{"alice", "oidc:alice"}}, Person{User: "oidc:alice"}, true},
		{"other user", streamv1alpha1.QuotaSubjects{Users: []string{"alice"}}, Person{User: "bob"}, false},
		{"group member", streamv1alpha1.QuotaSubjects{Groups: []string{"streamspace-users"}}, Person{User: "carol", Groups: []string{"system:authenticated", "streamspace-users"}}, true},
		{"groups unknown", streamv1alpha1.QuotaSubjects{Groups: []string{"streamspace-users"}}, Person{User: "carol"}, false},
		{"everyone", streamv1alpha1.QuotaSubjects{All: true}, Person{User: "anyone"}, true},
	} {
		if got := Matches(tc.subj, tc.p); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func requests(cpu, mem string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
}

func TestOf(t *testing.T) {
	r := Of("running", requests("500m", "1Gi"))
	if r.Sessions != 1 || r.Running != 1 || r.CPU.String() != "500m" || r.Memory.String() != "1Gi" {
		t.Errorf("running: %+v", r)
	}
	h := Of("hibernated", requests("500m", "1Gi"))
	if h.Sessions != 1 || h.Running != 0 || !h.CPU.IsZero() || !h.Memory.IsZero() {
		t.Errorf("hibernated counts as a session only: %+v", h)
	}
	if x := Of("terminated", requests("1", "1Gi")); x.Sessions != 0 || x.Running != 0 {
		t.Errorf("terminated counts for nothing: %+v", x)
	}
	sum := r.Add(r).Sub(h)
	if sum.Sessions != 1 || sum.Running != 2 || sum.CPU.String() != "1" || sum.Memory.String() != "2Gi" {
		t.Errorf("arithmetic: %+v", sum)
	}
}

func quotaWith(l streamv1alpha1.QuotaLimits) *streamv1alpha1.SessionQuota {
	return &streamv1alpha1.SessionQuota{ObjectMeta: metav1.ObjectMeta{Name: "alice-limits"}, Spec: streamv1alpha1.SessionQuotaSpec{Limits: l}}
}

func TestCheckMessages(t *testing.T) {
	q := quotaWith(streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](2), MaxRunningSessions: ptr.To[int32](1), CPU: ptr.To(resource.MustParse("2"))})
	used := Of("running", requests("1", "1Gi")).Add(Of("hibernated", nil))
	err := Check(q, "alice", used, Contribution{}, Of("hibernated", nil))
	if err == nil || err.Error() != "exceeded quota alice-limits: sessions 2 of 2 used for user alice" {
		t.Errorf("third session: %v", err)
	}
	// Waking the hibernated one: running at its limit.
	err = Check(q, "alice", used, Of("hibernated", nil), Of("running", requests("500m", "1Gi")))
	if err == nil || err.Error() != "exceeded quota alice-limits: running sessions 1 of 1 used for user alice" {
		t.Errorf("wake: %v", err)
	}
	// Raising CPU beyond the total.
	q.Spec.Limits.MaxRunningSessions = nil
	err = Check(q, "alice", used, Of("running", requests("1", "1Gi")), Of("running", requests("2500m", "1Gi")))
	if err == nil || err.Error() != "exceeded quota alice-limits: cpu requested 2500m, 1 of 2 used for user alice" {
		t.Errorf("cpu: %v", err)
	}
	// Hibernating never fails, even above a lowered limit.
	q.Spec.Limits.MaxRunningSessions = ptr.To[int32](0)
	if err := Check(q, "alice", used, Of("running", requests("1", "1Gi")), Of("hibernated", nil)); err != nil {
		t.Errorf("hibernate: %v", err)
	}
}

func TestCheckDurations(t *testing.T) {
	q := quotaWith(streamv1alpha1.QuotaLimits{MaxIdleTimeout: &metav1.Duration{Duration: time.Hour}, MaxSessionDuration: &metav1.Duration{Duration: 8 * time.Hour}})
	if err := CheckDurations(q, "alice", &metav1.Duration{Duration: 30 * time.Minute}, &metav1.Duration{Duration: 8 * time.Hour}); err != nil {
		t.Errorf("within: %v", err)
	}
	err := CheckDurations(q, "alice", &metav1.Duration{}, &metav1.Duration{Duration: time.Hour})
	if err == nil || err.Error() != "exceeded quota alice-limits: spec.idleTimeout 0s (none) is longer than the 1h0m0s allowed for user alice" {
		t.Errorf("never hibernate: %v", err)
	}
	err = CheckDurations(q, "alice", nil, &metav1.Duration{Duration: 9 * time.Hour})
	if err == nil {
		t.Errorf("nil idle timeout under a maximum must be refused")
	}
	q.Spec.Limits.MaxIdleTimeout = nil
	err = CheckDurations(q, "alice", nil, &metav1.Duration{Duration: 9 * time.Hour})
	if err == nil || err.Error() != "exceeded quota alice-limits: spec.maxSessionDuration 9h0m0s is longer than the 8h0m0s allowed for user alice" {
		t.Errorf("duration: %v", err)
	}
}

func session(ns, name, user, state string, req corev1.ResourceList) *streamv1alpha1.Session {
	return &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1},
		Spec:       streamv1alpha1.SessionSpec{User: user, State: streamv1alpha1.SessionState(state), Resources: streamv1alpha1.ResourceRequirements{Requests: req}},
	}
}

func TestRecompute(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	q := quotaWith(streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](5)})
	q.Spec.Subjects = streamv1alpha1.QuotaSubjects{Users: []string{"alice", "idle-person"}}
	q.Status.Pending = []streamv1alpha1.QuotaCharge{
		// Seen stored: dropped.
		{User: "alice", Session: "a/one", Generation: 1, Running: true, CPU: resource.MustParse("1"), Time: metav1.NewTime(now.Add(-time.Second))},
		// Not yet seen: counted.
		{User: "alice", Session: "b/two", Generation: 1, Running: true, CPU: resource.MustParse("2"), Time: metav1.NewTime(now.Add(-time.Second))},
		// A wake not yet seen: counts as running instead of the stored hibernated state.
		{User: "alice", Session: "a/three", Generation: 2, Running: true, Time: metav1.NewTime(now.Add(-time.Second))},
		// A create that failed long ago: dropped.
		{User: "alice", Session: "a/failed", Time: metav1.NewTime(now.Add(-2 * PendingGrace))},
	}
	sessions := []*streamv1alpha1.Session{
		session("a", "one", "alice", "running", requests("1", "0")),
		session("a", "three", "alice", "hibernated", nil),
		session("a", "gone", "alice", "terminated", nil),
		session("a", "bobs", "bob", "running", requests("1", "1Gi")),
	}
	claims := []HomeClaim{{Namespace: "a", User: "alice", Size: resource.MustParse("10Gi")}}
	st := Recompute(q, sessions, claims, resource.MustParse("5Gi"), now)
	if len(st.Pending) != 2 || st.Pending[0].Session != "b/two" || st.Pending[1].Session != "a/three" {
		t.Errorf("pending: %+v", st.Pending)
	}
	if len(st.Usage) != 2 {
		t.Fatalf("usage: %+v", st.Usage)
	}
	a := st.Usage[0]
	if a.User != "alice" || a.Sessions != 3 || a.RunningSessions != 3 || a.CPU.String() != "3" || a.HomeStorage.String() != "10Gi" {
		t.Errorf("alice: %+v", a)
	}
	if i := st.Usage[1]; i.User != "idle-person" || i.Sessions != 0 {
		t.Errorf("a named user is listed at zero: %+v", i)
	}

	// all: true lists every owner; bob is not named but counted.
	q.Spec.Subjects = streamv1alpha1.QuotaSubjects{All: true}
	st = Recompute(q, sessions, claims, resource.MustParse("5Gi"), now)
	if FindUsage(&st, "bob") < 0 || FindUsage(&st, "idle-person") >= 0 {
		t.Errorf("all: %+v", st.Usage)
	}
	// bob's session has a persistent home and no claim yet: the claim the
	// session controller will make counts.
	if b := st.Usage[FindUsage(&st, "bob")]; b.HomeStorage.String() != "5Gi" {
		t.Errorf("bob's home storage = %s, want the 5Gi of the claim his session will get", b.HomeStorage.String())
	}
}

// Home storage: the claims that exist, a new claim for each namespace where
// a session will get one, and pending charges for sessions not yet stored;
// one claim per person and namespace.
func TestHomeUsage(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	withoutHome := session("c", "nohome", "alice", "running", nil)
	withoutHome.Spec.PersistentHome = ptr.To(false)
	deleting := session("e", "x", "carol", "running", nil)
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	sessions := Index([]*streamv1alpha1.Session{
		session("a", "one", "alice", "running", nil),    // has its claim
		session("b", "two", "alice", "hibernated", nil), // no claim in b yet: a new one
		session("b", "three", "alice", "running", nil),  // shares it
		withoutHome, // no home
		session("d", "old", "alice", "terminated", nil), // gets no claim
		deleting, // gets no claim
	})
	claims := []HomeClaim{{Namespace: "a", User: "alice", Size: resource.MustParse("10Gi")}}
	live := []streamv1alpha1.QuotaCharge{
		{User: "alice", Session: "f/pending", HomeStorage: resource.MustParse("5Gi"), Time: metav1.NewTime(now)}, // not stored yet
		{User: "alice", Session: "a/more", HomeStorage: resource.MustParse("5Gi"), Time: metav1.NewTime(now)},    // a has a claim
		{User: "alice", Session: "b/four", HomeStorage: resource.MustParse("5Gi"), Time: metav1.NewTime(now)},    // b's is counted
		{User: "bob", Session: "g/p", Time: metav1.NewTime(now)},                                                 // no home charged
	}
	home := HomeUsage(claims, sessions, live, resource.MustParse("5Gi"))
	if a := home["alice"]; a.String() != "20Gi" {
		t.Errorf("alice's home storage = %s, want 20Gi (10Gi in a, a new 5Gi claim in b, 5Gi pending in f)", a.String())
	}
	for _, who := range []string{"bob", "carol"} {
		if h, ok := home[who]; ok && !h.IsZero() {
			t.Errorf("%s's home storage = %s, want none", who, h.String())
		}
	}
	u := PersonUsage("alice", sessions, nil, home)
	if u.Home.String() != "20Gi" || u.Sessions != 4 {
		t.Errorf("alice's usage = %+v", u)
	}
}

// A session that makes a new home claim is refused when its size would take
// the person past homeStorage; one that shares an existing claim adds none.
func TestCheckHomeStorage(t *testing.T) {
	q := quotaWith(streamv1alpha1.QuotaLimits{HomeStorage: ptr.To(resource.MustParse("15Gi"))})
	used := Contribution{Sessions: 1, Home: resource.MustParse("10Gi")}
	newClaim := Of("running", nil)
	newClaim.Home = resource.MustParse("10Gi")
	err := Check(q, "alice", used, Contribution{}, newClaim)
	if err == nil || err.Error() != "exceeded quota alice-limits: home storage requested 10Gi, 10Gi of 15Gi used for user alice" {
		t.Errorf("a new 10Gi claim with 10Gi of 15Gi used: %v", err)
	}
	newClaim.Home = resource.MustParse("5Gi")
	if err := Check(q, "alice", used, Contribution{}, newClaim); err != nil {
		t.Errorf("a new 5Gi claim with 10Gi of 15Gi used: %v", err)
	}
	// Sharing the claim in its namespace adds nothing, even above the limit.
	over := Contribution{Sessions: 1, Home: resource.MustParse("20Gi")}
	if err := Check(q, "alice", over, Contribution{}, Of("running", nil)); err != nil {
		t.Errorf("a session sharing an existing claim: %v", err)
	}
	// The charge records the new usage.
	var st streamv1alpha1.SessionQuotaStatus
	SetUsage(&st, "alice", used.Add(newClaim))
	if st.Usage[0].HomeStorage.String() != "15Gi" || st.Usage[0].Sessions != 2 {
		t.Errorf("usage after the charge: %+v", st.Usage[0])
	}
}
