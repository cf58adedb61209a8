package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/streamspace/controlplane/internal/devstack"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// quotaPeople lists whose usage entries and whose pending charges q shows.
func quotaPeople(q *streamv1alpha1.SessionQuota) (usage, charges []string) {
	for _, u := range q.Status.Usage {
		usage = append(usage, u.User)
	}
	for _, c := range q.Status.Pending {
		charges = append(charges, c.User)
	}
	return usage, charges
}

// onlyOf tells whether every name in names is one of allowed.
func onlyOf(names []string, allowed ...string) bool {
	for _, n := range names {
		if !slices.Contains(allowed, n) {
			return false
		}
	}
	return true
}

// nextQuota reads events of w until one carries a quota for which match
// is true, and returns that quota.
func nextQuota(t *testing.T, w watch.Interface, what string, match func(*streamv1alpha1.SessionQuota) bool) *streamv1alpha1.SessionQuota {
	t.Helper()
	deadline := time.After(time.Minute) // only so that a broken watch fails the test instead of hanging it
	for {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("%s: the watch ended", what)
			}
			if q, isQuota := e.Object.(*streamv1alpha1.SessionQuota); isQuota && match(q) {
				return q
			}
		case <-deadline:
			t.Fatalf("%s: not seen in the watch", what)
		}
	}
}

// controllerClient acts as streamspace-controller's ServiceAccount (the
// admin impersonates it), whose RBAC lets it update the status of quotas.
func controllerClient(t *testing.T) clientset.Interface {
	t.Helper()
	cfg, err := stack.RESTConfig("admin")
	if err != nil {
		t.Fatal(err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate.UserName = "system:serviceaccount:streamspace-system:streamspace-controller"
	cfg.Impersonate.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:streamspace-system", "system:authenticated"}
	c, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Everyone may read quotas, but a person sees only their own usage in
// them: bob reads a quota of alice and bob and finds only his own entry,
// in get, list and watch, even as admission charges alice's new session;
// alice finds hers (kubectl describe too); an admin and the sessionquota
// controller's identity find both.
func TestSessionQuotaUsageIsPrivate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin, _ := clients(t, "admin")
	alice, _ := clients(t, "alice")
	bob, _ := clients(t, "bob")
	name := uniqueName("quota-private")
	// Roomy: the sessions other tests start as alice or bob are counted, never refused.
	createQuota(t, ctx, admin, &streamv1alpha1.SessionQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: streamv1alpha1.SessionQuotaSpec{
			Subjects: streamv1alpha1.QuotaSubjects{Users: []string{"alice", "bob"}},
			Limits:   streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](1000)},
		},
	})
	// The controller lists every named user, at zero too.
	var counted *streamv1alpha1.SessionQuota
	eventually(t, time.Minute, "the controller to count alice and bob", func() (bool, error) {
		q, err := admin.StreamV1alpha1().SessionQuotas().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		counted = q
		return usageOf(q, "alice") != nil && usageOf(q, "bob") != nil, fmt.Errorf("usage %+v", q.Status.Usage)
	})

	// Watch the quota as bob and as the admin while alice starts a session,
	// which admission charges to her in the quota's status.
	watchAs := func(c clientset.Interface) watch.Interface {
		t.Helper()
		w, err := c.StreamV1alpha1().SessionQuotas().Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: counted.ResourceVersion})
		if err != nil {
			t.Fatalf("watch quota %s: %v", name, err)
		}
		t.Cleanup(w.Stop)
		return w
	}
	bobWatch, adminWatch := watchAs(bob), watchAs(admin)
	session := uniqueName("quota-private")
	mustKubectl(t, "alice", sessionYAML(session, "firefox"), "create", "-n", "alice", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, "alice", "", "-n", "alice", "delete", "session", session, "--ignore-not-found", "--wait=false")
	})
	charged := nextQuota(t, adminWatch, "alice's charge for "+session+" in the admin's watch", func(q *streamv1alpha1.SessionQuota) bool {
		return slices.ContainsFunc(q.Status.Pending, func(c streamv1alpha1.QuotaCharge) bool { return c.Session == "alice/"+session })
	})
	if _, charges := quotaPeople(charged); !slices.Contains(charges, "alice") {
		t.Fatalf("the admin's watch shows charges of %v, want alice's", charges)
	}
	nextQuota(t, bobWatch, "the quota charged to alice, in bob's watch", func(q *streamv1alpha1.SessionQuota) bool {
		if usage, charges := quotaPeople(q); !onlyOf(usage, "bob") || !onlyOf(charges, "bob") {
			t.Errorf("bob's watch shows (resourceVersion %s) the usage of %v and charges of %v, want his own only", q.ResourceVersion, usage, charges)
		}
		return q.ResourceVersion == charged.ResourceVersion
	})

	// Get and list.
	for _, reader := range []struct {
		who    string
		client clientset.Interface
		sees   []string
	}{
		{"bob", bob, []string{"bob"}},
		{"alice", alice, []string{"alice"}},
		{"the admin", admin, []string{"alice", "bob"}},
		{"the sessionquota controller", controllerClient(t), []string{"alice", "bob"}},
	} {
		q, err := reader.client.StreamV1alpha1().SessionQuotas().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s gets quota %s: %v", reader.who, name, err)
		}
		list, err := reader.client.StreamV1alpha1().SessionQuotas().List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("%s lists quota %s: %v, %v", reader.who, name, list, err)
		}
		for verb, got := range map[string]*streamv1alpha1.SessionQuota{"get": q, "list": &list.Items[0]} {
			usage, charges := quotaPeople(got)
			if !slices.Equal(usage, reader.sees) || !onlyOf(charges, reader.sees...) {
				t.Errorf("%s (%s) sees the usage of %v and charges of %v, want the usage and charges of %v only", reader.who, verb, usage, charges, reader.sees)
			}
		}
		if reader.who == "alice" {
			if u := usageOf(q, "alice"); u == nil || u.Sessions < 1 {
				t.Errorf("alice's own usage: %+v, want her session %s counted", u, session)
			}
		}
	}

	// kubectl describe shows a person their own usage only.
	userLine := func(user string) *regexp.Regexp { return regexp.MustCompile(`(?m)^\s+User:\s+` + user + `$`) }
	out := mustKubectl(t, "alice", "", "describe", "sessionquota", name)
	if !userLine("alice").MatchString(out) || userLine("bob").MatchString(out) || !regexp.MustCompile(`(?m)^\s+Sessions:\s+[1-9]`).MatchString(out) {
		t.Errorf("kubectl describe sessionquota as alice, want her usage and not bob's:\n%s", out)
	}
	out = mustKubectl(t, "bob", "", "describe", "sessionquota", name)
	if userLine("alice").MatchString(out) || !userLine("bob").MatchString(out) {
		t.Errorf("kubectl describe sessionquota as bob, want his usage and not alice's:\n%s", out)
	}
	out = mustKubectl(t, "admin", "", "describe", "sessionquota", name)
	if !userLine("alice").MatchString(out) || !userLine("bob").MatchString(out) {
		t.Errorf("kubectl describe sessionquota as the admin, want everyone's usage:\n%s", out)
	}

	// The bridge answers alice her quota with her usage.
	type quotaAnswer struct {
		Name   string `json:"name"`
		Limits struct {
			MaxSessions *int32 `json:"maxSessions"`
		} `json:"limits"`
		Usage struct {
			Sessions int32 `json:"sessions"`
		} `json:"usage"`
	}
	var view struct {
		User   string        `json:"user"`
		Quotas []quotaAnswer `json:"quotas"`
	}
	code, body := bridgeCall(t, "alice", http.MethodGet, "/api/v1/quota", "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/quota as alice: %d %s", code, body)
	}
	mustDecode(t, body, &view)
	i := slices.IndexFunc(view.Quotas, func(q quotaAnswer) bool { return q.Name == name })
	if view.User != "alice" || i < 0 || view.Quotas[i].Limits.MaxSessions == nil || *view.Quotas[i].Limits.MaxSessions != 1000 || view.Quotas[i].Usage.Sessions < 1 {
		t.Errorf("GET /api/v1/quota as alice: %s, want quota %s with maxSessions 1000 and her session counted", body, name)
	}
}

// A signed-in person sees on the dashboard what their quota allows and
// what they use, and why a create is refused: carol, limited to two
// sessions, sees "0 of 2", starts two sessions from the dashboard and
// sees the count rise, and is refused a third in words naming the quota.
func TestDashboardShowsYourQuota(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	admin, _ := clients(t, "admin")
	carol := devstack.OIDCUser("carol")
	// carol starts with no session, and is left with none.
	mustKubectl(t, "admin", "", "-n", "carol", "delete", "sessions", "--all")
	t.Cleanup(func() { _, _ = kubectl(t, "admin", "", "-n", "carol", "delete", "sessions", "--all", "--wait=false") })

	page := signInAs(t, "carol")
	pageValue(t, page, "see that no quota limits carol", chromedp.Poll[bool](
		`!document.getElementById("quota-none").hidden && document.getElementById("quota-none").textContent === "No quota limits you."`))

	name := uniqueName("carol-quota")
	createQuota(t, ctx, admin, &streamv1alpha1.SessionQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: streamv1alpha1.SessionQuotaSpec{
			Subjects: streamv1alpha1.QuotaSubjects{Users: []string{carol}},
			Limits:   streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](2)},
		},
	})
	eventually(t, time.Minute, "the controller to count carol's sessions", func() (bool, error) {
		q, err := admin.StreamV1alpha1().SessionQuotas().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		u := usageOf(q, carol)
		return u != nil && u.Sessions == 0, fmt.Errorf("usage %+v", q.Status.Usage)
	})
	pageStep(t, page, "open the dashboard again",
		chromedp.Navigate(stack.BridgeURL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#status[data-state="live"]`)),
	)
	sessionsLimit := func(want string) {
		t.Helper()
		pageValue(t, page, "see Sessions "+want+" in the quota", chromedp.Poll[bool](`(() => {
			const item = document.querySelector('#quota-limits [data-limit="sessions"]');
			return !!item && item.querySelector("dt").textContent === "Sessions" && item.querySelector("dd").textContent === "`+want+`";
		})()`))
	}
	sessionsLimit("0 of 2")
	if from := pageValue(t, page, "read the quota's name", chromedp.Text(chromedp.CSS("#quota-from"))); !strings.Contains(from, name) {
		t.Errorf("the quota section says %q, want the name of quota %s", from, name)
	}
	if hidden := pageValue(t, page, "read whether the section says no quota limits carol", chromedp.Evaluate[bool](`document.getElementById("quota-none").hidden`)); !hidden {
		t.Error(`with a quota for carol, the dashboard still says "No quota limits you."`)
	}

	start := func(session string) {
		t.Helper()
		pageStep(t, page, "start session "+session,
			chromedp.WaitReady(chromedp.CSS(`#start-template option[value="firefox"]`)),
			chromedp.SetValue(chromedp.CSS("#start-template"), "firefox"),
			chromedp.SendKeys(chromedp.CSS("#start-name"), session),
			chromedp.Click(chromedp.CSS("#start-button")),
		)
	}
	for i, want := range []string{"1 of 2", "2 of 2"} {
		session := uniqueName(fmt.Sprintf("carol-q%d", i+1))
		start(session)
		pageStep(t, page, "see session "+session, chromedp.WaitVisible(chromedp.CSS(`#sessions tr[data-name="`+session+`"]`)))
		sessionsLimit(want)
	}

	refused := uniqueName("carol-q3")
	start(refused)
	want := "exceeded quota " + name + ": sessions 2 of 2 used for user " + carol
	pageValue(t, page, "see the refusal naming the quota", chromedp.Poll[bool](`document.getElementById("error").textContent.includes("`+want+`")`))
	if msg := pageValue(t, page, "read the refusal", chromedp.Text(chromedp.CSS("#error"))); !strings.Contains(msg, "forbidden") {
		t.Errorf("the refusal reads %q, want the API's 403 (forbidden)", msg)
	}
	sessionsLimit("2 of 2")
	if out, err := oidcKubectl(t, "carol", "", "get", "sessions", "-n", "carol", "-o", "name"); err != nil || strings.Contains(out, refused) {
		t.Errorf("carol's sessions after the refusal: %q, %v; want no %s", out, err, refused)
	}
}
