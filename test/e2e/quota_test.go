package e2e

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/streamspace/controlplane/internal/devstack"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// The quota tests limit made-up people ("quota-tester", "quota-waker")
// whose sessions the admin creates in a namespace of their own (spec.user,
// the assign verb), so the sessions other tests create as alice or bob are
// never counted or refused. Each test has a namespace of its own.

// quotaSetup creates the namespace with a copy of alice's firefox template.
func quotaSetup(t *testing.T, ctx context.Context, quotaNamespace string) clientset.Interface {
	t.Helper()
	admin, kube := clients(t, "admin")
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: quotaNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", quotaNamespace, err)
	}
	t.Cleanup(func() {
		_ = admin.StreamV1alpha1().Sessions(quotaNamespace).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
		_ = kube.CoreV1().Namespaces().Delete(context.Background(), quotaNamespace, metav1.DeleteOptions{})
	})
	tpl, err := admin.StreamV1alpha1().Templates("alice").Get(ctx, "firefox", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get alice's firefox template: %v", err)
	}
	cp := &streamv1alpha1.Template{ObjectMeta: metav1.ObjectMeta{Name: "firefox", Namespace: quotaNamespace}, Spec: tpl.Spec}
	if _, err := admin.StreamV1alpha1().Templates(quotaNamespace).Create(ctx, cp, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("copy the firefox template: %v", err)
	}
	return admin
}

func createQuota(t *testing.T, ctx context.Context, admin clientset.Interface, q *streamv1alpha1.SessionQuota) {
	t.Helper()
	if _, err := admin.StreamV1alpha1().SessionQuotas().Create(ctx, q, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create session quota %s: %v", q.Name, err)
	}
	t.Cleanup(func() {
		_ = admin.StreamV1alpha1().SessionQuotas().Delete(context.Background(), q.Name, metav1.DeleteOptions{})
	})
}

func sessionFor(name, user string, state streamv1alpha1.SessionState) *streamv1alpha1.Session {
	return &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       streamv1alpha1.SessionSpec{User: user, Template: "firefox", State: state, PersistentHome: ptr.To(false)},
	}
}

// usageOf returns user's usage in the quota's status, or nil.
func usageOf(q *streamv1alpha1.SessionQuota, user string) *streamv1alpha1.QuotaUsage {
	for i := range q.Status.Usage {
		if q.Status.Usage[i].User == user {
			return &q.Status.Usage[i]
		}
	}
	return nil
}

// raceCreates creates n sessions for user at once, each through one of
// clients in turn, and returns how many were created; every refusal must
// be a 403 naming the quota.
func raceCreates(t *testing.T, ctx context.Context, quotaNamespace, prefix, user, quota string, n int, clients ...clientset.Interface) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[i%len(clients)]
			_, err := c.StreamV1alpha1().Sessions(quotaNamespace).Create(ctx, sessionFor(fmt.Sprintf("%s-%d", prefix, i), user, ""), metav1.CreateOptions{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota "+quota+": sessions"):
			default:
				t.Errorf("create %s-%d: want success or 403 naming quota %s, got %v", prefix, i, quota, err)
			}
		}()
	}
	wg.Wait()
	return created
}

func TestSessionQuotaMaxSessions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const quotaNamespace = "quota-e2e-max"
	admin := quotaSetup(t, ctx, quotaNamespace)
	const user, quotaName = "quota-tester", "quota-tester-limits"
	createQuota(t, ctx, admin, &streamv1alpha1.SessionQuota{
		ObjectMeta: metav1.ObjectMeta{Name: quotaName},
		Spec: streamv1alpha1.SessionQuotaSpec{
			Subjects: streamv1alpha1.QuotaSubjects{Users: []string{user}},
			Limits:   streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](2)},
		},
	})
	sessions := admin.StreamV1alpha1().Sessions(quotaNamespace)

	// Two sessions fit; the third is refused with 403 naming the quota.
	for _, name := range []string{"qt-1", "qt-2"} {
		if _, err := sessions.Create(ctx, sessionFor(name, user, ""), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s (within the quota): %v", name, err)
		}
	}
	_, err := sessions.Create(ctx, sessionFor("qt-3", user, ""), metav1.CreateOptions{})
	want := "exceeded quota " + quotaName + ": sessions 2 of 2 used for user " + user
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("third create: want 403 containing %q, got %v", want, err)
	}

	// kubectl get and describe show the limits and the person's usage.
	got := mustKubectl(t, "admin", "", "get", "sessionquota", quotaName)
	for _, col := range []string{"SUBJECTS", "MAX-SESSIONS", "MAX-RUNNING", "AGE", "user:" + user} {
		if !strings.Contains(got, col) {
			t.Errorf("kubectl get sessionquota: no %q in\n%s", col, got)
		}
	}
	eventually(t, time.Minute, "describe to show two sessions of "+user, func() (bool, error) {
		out, err := kubectl(t, "admin", "", "describe", "sessionquota", quotaName)
		if err != nil {
			return false, err
		}
		return regexp.MustCompile(`(?m)^\s+User:\s+`+user+`$`).MatchString(out) &&
			regexp.MustCompile(`(?m)^\s+Sessions:\s+2$`).MatchString(out), fmt.Errorf("describe:\n%s", out)
	})
	t.Logf("kubectl describe sessionquota %s:\n%s", quotaName, mustKubectl(t, "admin", "", "describe", "sessionquota", quotaName))
	// alice may read quotas (to see her limits).
	mustKubectl(t, "alice", "", "get", "sessionquotas")

	// After a delete the controller lowers the usage.
	if err := sessions.Delete(ctx, "qt-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "usage of "+user+" to drop to one session", func() (bool, error) {
		q, err := admin.StreamV1alpha1().SessionQuotas().Get(ctx, quotaName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		u := usageOf(q, user)
		return u != nil && u.Sessions == 1, fmt.Errorf("usage %+v", q.Status.Usage)
	})

	// 32 creates at once for the last 4 slots: exactly 4 succeed.
	setMax := func(n int32) {
		t.Helper()
		q, err := admin.StreamV1alpha1().SessionQuotas().Get(ctx, quotaName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		q.Spec.Limits.MaxSessions = ptr.To(n)
		if _, err := admin.StreamV1alpha1().SessionQuotas().Update(ctx, q, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("set maxSessions to %d: %v", n, err)
		}
	}
	// Clients without client-side throttling, so the creates really race.
	cfg, err := stack.RESTConfig("admin")
	if err != nil {
		t.Fatal(err)
	}
	unthrottled := rest.CopyConfig(cfg)
	unthrottled.QPS, unthrottled.Burst = -1, 0
	racer, err := clientset.NewForConfig(unthrottled)
	if err != nil {
		t.Fatal(err)
	}
	setMax(5) // one session now: four slots left
	waitQuotaSeen(t, ctx, admin, quotaName, 5)
	if n := raceCreates(t, ctx, quotaNamespace, "race-a", user, quotaName, 32, racer); n != 4 {
		t.Fatalf("32 concurrent creates for 4 free slots: %d succeeded", n)
	}

	// The same spread over two streamspace-apiserver replicas.
	second := replicaClient(t, secondReplica(t, ctx, "streamspace-apiserver-quota"))
	setMax(9) // five sessions now: four slots left
	waitQuotaSeen(t, ctx, admin, quotaName, 9)
	waitQuotaSeen(t, ctx, second, quotaName, 9)
	if n := raceCreates(t, ctx, quotaNamespace, "race-b", user, quotaName, 32, racer, second); n != 4 {
		t.Fatalf("32 concurrent creates over two replicas for 4 free slots: %d succeeded", n)
	}
	list, err := sessions.List(ctx, metav1.ListOptions{FieldSelector: "spec.user=" + user})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 9 {
		t.Fatalf("%s has %d sessions, want 9 (the quota)", user, len(list.Items))
	}
}

// waitQuotaSeen waits until a replica's admission sees the quota's new
// maxSessions: admission lists quotas from an informer, then charges the
// live object. Probed with a dry-run create that would fit only under the
// new limit.
func waitQuotaSeen(t *testing.T, ctx context.Context, c clientset.Interface, name string, max int32) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("quota %s with maxSessions %d", name, max), func() (bool, error) {
		q, err := c.StreamV1alpha1().SessionQuotas().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return q.Spec.Limits.MaxSessions != nil && *q.Spec.Limits.MaxSessions == max, nil
	})
}

func TestSessionQuotaWakeAtRunningLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const quotaNamespace = "quota-e2e-wake"
	admin := quotaSetup(t, ctx, quotaNamespace)
	const user, quotaName = "quota-waker", "quota-waker-limits"
	createQuota(t, ctx, admin, &streamv1alpha1.SessionQuota{
		ObjectMeta: metav1.ObjectMeta{Name: quotaName},
		Spec: streamv1alpha1.SessionQuotaSpec{
			Subjects: streamv1alpha1.QuotaSubjects{Users: []string{user}},
			Limits:   streamv1alpha1.QuotaLimits{MaxRunningSessions: ptr.To[int32](1), MaxIdleTimeout: &metav1.Duration{Duration: time.Hour}},
		},
	})
	sessions := admin.StreamV1alpha1().Sessions(quotaNamespace)
	if _, err := sessions.Create(ctx, sessionFor("qw-running", user, streamv1alpha1.SessionStateRunning), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create the running session: %v", err)
	}
	if _, err := sessions.Create(ctx, sessionFor("qw-asleep", user, streamv1alpha1.SessionStateHibernated), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a hibernated session (not running, so within the quota): %v", err)
	}
	// An idle timeout above the quota's maximum is refused, naming the field.
	tooIdle := sessionFor("qw-idle", user, streamv1alpha1.SessionStateHibernated)
	tooIdle.Spec.IdleTimeout = &metav1.Duration{Duration: 2 * time.Hour}
	if _, err := sessions.Create(ctx, tooIdle, metav1.CreateOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "spec.idleTimeout") {
		t.Fatalf("idleTimeout 2h under a 1h maximum: want 403 naming spec.idleTimeout, got %v", err)
	}

	wake := []byte(`{"spec":{"state":"running"}}`)
	want := "exceeded quota " + quotaName + ": running sessions 1 of 1 used for user " + user
	_, err := sessions.Patch(ctx, "qw-asleep", types.MergePatchType, wake, metav1.PatchOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("waking at the running limit: want 403 containing %q, got %v", want, err)
	}
	_, err = sessions.Connect(ctx, "qw-asleep", &streamv1alpha1.SessionConnectRequest{}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("connect waking at the running limit: want 403 containing %q, got %v", want, err)
	}

	// Hibernating the running one frees the slot once the controller has recomputed.
	if _, err := sessions.Patch(ctx, "qw-running", types.MergePatchType, []byte(`{"spec":{"state":"hibernated"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "waking to be allowed after hibernating the other session", func() (bool, error) {
		_, err := sessions.Patch(ctx, "qw-asleep", types.MergePatchType, wake, metav1.PatchOptions{})
		return err == nil, err
	})
}

// Nonsense quotas are refused with 422 naming the field; the example for
// alice applies as is (server-side dry run: other tests run sessions as alice).
func TestSessionQuotaValidationAndExample(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, _ := clients(t, "admin")
	for field, spec := range map[string]streamv1alpha1.SessionQuotaSpec{
		"spec.subjects":              {Limits: streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](1)}},
		"spec.limits.maxSessions":    {Subjects: streamv1alpha1.QuotaSubjects{All: true}, Limits: streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](-1)}},
		"spec.subjects.all":          {Subjects: streamv1alpha1.QuotaSubjects{All: true, Users: []string{"bob"}}},
		"spec.limits.maxIdleTimeout": {Subjects: streamv1alpha1.QuotaSubjects{Users: []string{"bob"}}, Limits: streamv1alpha1.QuotaLimits{MaxIdleTimeout: &metav1.Duration{}}},
	} {
		_, err := admin.StreamV1alpha1().SessionQuotas().Create(ctx, &streamv1alpha1.SessionQuota{ObjectMeta: metav1.ObjectMeta{GenerateName: "nonsense-"}, Spec: spec}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), field) {
			t.Errorf("quota with a bad %s: want 422 naming it, got %v", field, err)
		}
	}
	out := mustKubectl(t, "admin", "", "apply", "--dry-run=server", "-f", "../../artifacts/examples/quota-alice.yaml")
	if !strings.Contains(out, "sessionquota.stream.space/alice-limits") {
		t.Errorf("kubectl apply the example: %s", out)
	}
	// Users may not manage quotas.
	if _, err := kubectl(t, "alice", "", "apply", "--dry-run=server", "-f", "../../artifacts/examples/quota-alice.yaml"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("alice applying a quota: want forbidden, got %v", err)
	}
}

// A connect that the owner rule refuses charges nothing: bob, whom RBAC
// lets connect in the namespace, connecting to (and so asking to wake)
// someone else's hibernated session gets the owner rule's 403, not the
// quota's, and the owner's usage and pending charges stay as they were.
func TestSessionQuotaRefusedConnectChargesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const quotaNamespace = "quota-e2e-connect"
	admin := quotaSetup(t, ctx, quotaNamespace)
	_, adminKube := clients(t, "admin")
	bob, _ := clients(t, "bob")
	if _, err := adminKube.RbacV1().RoleBindings(quotaNamespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bob-streamspace-user"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "streamspace-user"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "bob"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const user, quotaName = "quota-sleeper", "quota-sleeper-limits"
	createQuota(t, ctx, admin, &streamv1alpha1.SessionQuota{
		ObjectMeta: metav1.ObjectMeta{Name: quotaName},
		Spec: streamv1alpha1.SessionQuotaSpec{
			Subjects: streamv1alpha1.QuotaSubjects{Users: []string{user}},
			Limits:   streamv1alpha1.QuotaLimits{MaxRunningSessions: ptr.To[int32](1)},
		},
	})
	sessions := admin.StreamV1alpha1().Sessions(quotaNamespace)
	if _, err := sessions.Create(ctx, sessionFor("qs-running", user, streamv1alpha1.SessionStateRunning), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create the running session: %v", err)
	}
	if _, err := sessions.Create(ctx, sessionFor("qs-asleep", user, streamv1alpha1.SessionStateHibernated), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create the hibernated session: %v", err)
	}
	// settled: the controller has seen both sessions, so no charge is pending.
	settled := func(what string) {
		t.Helper()
		eventually(t, 2*time.Minute, what, func() (bool, error) {
			q, err := admin.StreamV1alpha1().SessionQuotas().Get(ctx, quotaName, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			u := usageOf(q, user)
			return u != nil && u.Sessions == 2 && u.RunningSessions == 1 && len(q.Status.Pending) == 0,
				fmt.Errorf("usage %+v, pending %+v", q.Status.Usage, q.Status.Pending)
		})
	}
	settled("two sessions, one running, nothing pending")

	bobConnects := func(what string) {
		t.Helper()
		_, err := bob.StreamV1alpha1().Sessions(quotaNamespace).Connect(ctx, "qs-asleep", &streamv1alpha1.SessionConnectRequest{}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `belongs to user "`+user+`"`) || strings.Contains(err.Error(), "exceeded quota") {
			t.Errorf("%s: want the owner rule's 403, got %v", what, err)
		}
		q, err := admin.StreamV1alpha1().SessionQuotas().Get(ctx, quotaName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if u := usageOf(q, user); u == nil || u.Sessions != 2 || u.RunningSessions != 1 || len(q.Status.Pending) != 0 {
			t.Errorf("%s: the owner's usage became %+v, pending %+v; want 2 sessions, 1 running, nothing pending", what, q.Status.Usage, q.Status.Pending)
		}
		s, err := sessions.Get(ctx, "qs-asleep", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Spec.State != streamv1alpha1.SessionStateHibernated {
			t.Errorf("%s: the session is %s, want hibernated", what, s.Spec.State)
		}
	}
	// At the running limit: the refusal is the owner rule's, and says
	// nothing about the owner's quota.
	bobConnects("bob's connect at the owner's running limit")

	// With room for the wake: still refused, and nothing is charged.
	q, err := admin.StreamV1alpha1().SessionQuotas().Get(ctx, quotaName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.Spec.Limits.MaxRunningSessions = ptr.To[int32](2)
	if _, err := admin.StreamV1alpha1().SessionQuotas().Update(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The admin's dry-run wake fits only once admission sees the new limit.
	eventually(t, 30*time.Second, "admission to see maxRunningSessions 2", func() (bool, error) {
		_, err := sessions.Patch(ctx, "qs-asleep", types.MergePatchType, []byte(`{"spec":{"state":"running"}}`), metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil, err
	})
	bobConnects("bob's connect with room for the wake")
}

// A group quota applies to sessions someone else makes for a member: the
// admin creating sessions for oidc:alice (in streamspace-users at the
// identity provider) is refused at the group quota's limit, by the groups
// recorded from alice's own request.
func TestSessionQuotaGroupForSessionsMadeByOthers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const quotaNamespace = "quota-e2e-group"
	admin := quotaSetup(t, ctx, quotaNamespace)
	user := devstack.OIDCUser("alice")
	// alice's own request records her groups in her User.
	if _, err := oidcKubectl(t, "alice", "", "get", "sessions", "-n", "alice"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "alice's groups recorded", func() (bool, error) {
		u, err := admin.StreamV1alpha1().Users().Get(ctx, user, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return slices.Contains(u.Status.Groups, devstack.UsersGroup), fmt.Errorf("groups %v", u.Status.Groups)
	})

	const quotaName = "quota-group-limits"
	createQuota(t, ctx, admin, &streamv1alpha1.SessionQuota{
		ObjectMeta: metav1.ObjectMeta{Name: quotaName},
		Spec: streamv1alpha1.SessionQuotaSpec{
			Subjects: streamv1alpha1.QuotaSubjects{Groups: []string{devstack.UsersGroup}},
			Limits:   streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](2)},
		},
	})
	sessions := admin.StreamV1alpha1().Sessions(quotaNamespace)
	// Two fit. Admission lists quotas from an informer, so the third is
	// tried until admission has seen the new quota.
	for _, name := range []string{"qg-1", "qg-2"} {
		if _, err := sessions.Create(ctx, sessionFor(name, user, streamv1alpha1.SessionStateHibernated), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s for %s (within the group quota): %v", name, user, err)
		}
	}
	want := "exceeded quota " + quotaName + ": sessions 2 of 2 used for user " + user
	eventually(t, 30*time.Second, "the admin's third session for "+user+" to be refused", func() (bool, error) {
		_, err := sessions.Create(ctx, sessionFor("qg-3", user, streamv1alpha1.SessionStateHibernated), metav1.CreateOptions{})
		if err == nil {
			// Created before admission saw the quota: remove it and try again.
			if err := sessions.Delete(ctx, "qg-3", metav1.DeleteOptions{}); err != nil {
				return false, err
			}
			return false, errors.New("the third session was created")
		}
		return apierrors.IsForbidden(err) && strings.Contains(err.Error(), want), err
	})
}

// homeStorage counts the claim a new session will get: the first session
// with a persistent home in a namespace is charged a new claim's size, a
// second one there shares it, and one in another namespace, which would
// need a second claim, is refused when that passes the limit, though the
// usage before it is below. Usage then
// follows the claim the controller made.
func TestSessionQuotaHomeStorageChargesNewClaims(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const nsA, nsB = "quota-e2e-home-a", "quota-e2e-home-b"
	createSessionsNamespace(t, nsA)
	createSessionsNamespace(t, nsB)
	admin := quotaSetup(t, ctx, nsA)
	quotaSetup(t, ctx, nsB)
	_, kube := clients(t, "admin")

	// The size of a new claim: the platform configuration's, else 10Gi.
	size := resource.MustParse(streamv1alpha1.DefaultHomeVolumeSize)
	if c, err := admin.StreamV1alpha1().PlatformConfigurations().Get(ctx, streamv1alpha1.PlatformConfigurationName, metav1.GetOptions{}); err == nil && c.Spec.Home.VolumeSize != nil {
		size = *c.Spec.Home.VolumeSize
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	const user, quotaName = "quota-homer", "quota-homer-limits"
	// First no home storage at all, until admission is seen to enforce it.
	createQuota(t, ctx, admin, &streamv1alpha1.SessionQuota{
		ObjectMeta: metav1.ObjectMeta{Name: quotaName},
		Spec: streamv1alpha1.SessionQuotaSpec{
			Subjects: streamv1alpha1.QuotaSubjects{Users: []string{user}},
			Limits:   streamv1alpha1.QuotaLimits{HomeStorage: ptr.To(resource.MustParse("0"))},
		},
	})
	withHome := func(name string) *streamv1alpha1.Session {
		s := sessionFor(name, user, streamv1alpha1.SessionStateHibernated)
		s.Spec.PersistentHome = ptr.To(true)
		return s
	}
	eventually(t, 30*time.Second, "admission to refuse a new home under homeStorage 0", func() (bool, error) {
		_, err := admin.StreamV1alpha1().Sessions(nsA).Create(ctx, withHome("qh-probe"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota "+quotaName+": home storage"), err
	})
	// Room for one claim and a half (charges read the live quota).
	limit := resource.NewQuantity(size.Value()*3/2, resource.BinarySI)
	q, err := admin.StreamV1alpha1().SessionQuotas().Get(ctx, quotaName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.Spec.Limits.HomeStorage = limit
	if _, err := admin.StreamV1alpha1().SessionQuotas().Update(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Two sessions in nsA share one claim; a third in nsB would need another.
	for _, name := range []string{"qh-1", "qh-2"} {
		if _, err := admin.StreamV1alpha1().Sessions(nsA).Create(ctx, withHome(name), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s/%s (one home claim in %s): %v", nsA, name, nsA, err)
		}
	}
	_, err = admin.StreamV1alpha1().Sessions(nsB).Create(ctx, withHome("qh-3"), metav1.CreateOptions{})
	want := fmt.Sprintf("exceeded quota %s: home storage requested %s, %s of %s used for user %s", quotaName, size.String(), size.String(), limit.String(), user)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("a session needing a second home claim: want 403 containing %q, got %v", want, err)
	}

	// The controller makes the one claim; usage is its size, and another
	// session in nsA still fits.
	eventually(t, 2*time.Minute, "the home claim in "+nsA+" and usage of its size", func() (bool, error) {
		claims, err := kube.CoreV1().PersistentVolumeClaims(nsA).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		q, err := admin.StreamV1alpha1().SessionQuotas().Get(ctx, quotaName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		u := usageOf(q, user)
		return len(claims.Items) == 1 && u != nil && u.HomeStorage.Cmp(size) == 0 && len(q.Status.Pending) == 0,
			fmt.Errorf("%d claims in %s, usage %+v, pending %+v", len(claims.Items), nsA, q.Status.Usage, q.Status.Pending)
	})
	if _, err := admin.StreamV1alpha1().Sessions(nsA).Create(ctx, withHome("qh-4"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("a third session sharing the home claim in %s: %v", nsA, err)
	}
}

// A quota created or deleted through one streamspace-apiserver applies to
// the very next create through another, although each decides creates from
// its informer's copy of the quotas: the copy may lag, and the session's
// write is then refused in its transaction and admitted again from a
// consistent read (package readguard).
func TestQuotaChangeAppliesAtOnceOnAnotherReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const quotaNamespace = "quota-e2e-fresh"
	quotaSetup(t, ctx, quotaNamespace)
	first, second := replicaClient(t, stack.StreamspaceURL), replicaClient(t, secondReplica(t, ctx, "streamspace-apiserver-fresh"))
	staleReads := func() float64 {
		t.Helper()
		raw, err := first.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
		if err != nil {
			t.Fatalf("metrics of the first replica: %v", err)
		}
		var sum float64
		for line := range strings.SplitSeq(string(raw), "\n") {
			if strings.HasPrefix(line, "streamspace_postgres_storage_stale_reads_total") {
				v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
				sum += v
			}
		}
		return sum
	}
	staleBefore := staleReads()

	const rounds = 20
	for i := range rounds {
		user, quotaName := fmt.Sprintf("fresh-%d", i), fmt.Sprintf("fresh-%d-none", i)
		if _, err := second.StreamV1alpha1().SessionQuotas().Create(ctx, &streamv1alpha1.SessionQuota{
			ObjectMeta: metav1.ObjectMeta{Name: quotaName},
			Spec: streamv1alpha1.SessionQuotaSpec{
				Subjects: streamv1alpha1.QuotaSubjects{Users: []string{user}},
				Limits:   streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](0)},
			},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create quota %s on the second replica: %v", quotaName, err)
		}
		_, err := first.StreamV1alpha1().Sessions(quotaNamespace).Create(ctx, sessionFor(user+"-refused", user, ""), metav1.CreateOptions{})
		if want := "exceeded quota " + quotaName; !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
			t.Fatalf("round %d: create on the first replica right after the quota's create on the second: want 403 containing %q, got %v", i, want, err)
		}
		if err := second.StreamV1alpha1().SessionQuotas().Delete(ctx, quotaName, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete quota %s on the second replica: %v", quotaName, err)
		}
		if _, err := first.StreamV1alpha1().Sessions(quotaNamespace).Create(ctx, sessionFor(user+"-allowed", user, ""), metav1.CreateOptions{}); err != nil {
			t.Fatalf("round %d: create on the first replica right after the quota's delete on the second: %v", i, err)
		}
	}
	t.Logf("%d rounds; creates the first replica admitted again after a stale read of the quotas: %.0f",
		rounds, staleReads()-staleBefore)
}

// secondReplica starts another streamspace-apiserver on the stack's
// database for the rest of the test and returns its URL.
func secondReplica(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	url, stop, err := stack.StartExtraStreamspace(ctx, name)
	if err != nil {
		t.Fatalf("start a second streamspace-apiserver: %v", err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop the second streamspace-apiserver: %v", err)
		}
	})
	return url
}

// replicaClient is an admin client of one streamspace-apiserver, not
// through the aggregator, without client-side throttling.
func replicaClient(t *testing.T, url string) clientset.Interface {
	t.Helper()
	cfg, err := stack.RESTConfig("admin")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host = url
	cfg.TLSClientConfig.CAFile, cfg.TLSClientConfig.CAData, cfg.TLSClientConfig.ServerName = stack.StreamspaceCA, nil, "localhost"
	cfg.QPS, cfg.Burst = -1, 0
	c, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
