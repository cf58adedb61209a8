package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/streamspace/controlplane/internal/devstack"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// restSessions is the bridge's GET /api/v1/sessions answer.
type restSessions struct {
	Sessions []feedSession `json:"sessions"`
	Total    int           `json:"total"`
}

func (l restSessions) find(namespace, name string) (feedSession, bool) {
	for _, s := range l.Sessions {
		if s.Namespace == namespace && s.Name == name {
			return s, true
		}
	}
	return feedSession{}, false
}

// listSessionsWithToken is the bridge's session list for a token.
func listSessionsWithToken(t *testing.T, token, query string) restSessions {
	t.Helper()
	status, body := bridgeCallWithToken(t, token, http.MethodGet, "/api/v1/sessions"+query, "")
	if status != http.StatusOK {
		t.Fatalf("GET /api/v1/sessions%s: %d %s", query, status, body)
	}
	var list restSessions
	mustDecode(t, body, &list)
	return list
}

// noneOf fails the test if a message shows one of alice's sessions named.
func noneOf(t *testing.T, who string, messages []feedMessage, names ...string) {
	t.Helper()
	for _, m := range messages {
		for _, name := range names {
			if strings.Contains(m.raw, `"name":"`+name+`"`) {
				t.Errorf("%s's feed shows %s: %s", who, name, m.raw)
			}
		}
	}
}

// TestBridgeShowsSessionsSharedWithTheCaller: once alice shares a session
// with bob, his feed announces it and his REST list and GET show it, from
// alice's namespace, marked with his role and its owner; a change of the
// session or of the role is announced; alice's session that is not shared
// never appears, nor does the share to bob on anyone else's feed; when
// alice revokes the share the session leaves bob's feed within seconds.
func TestBridgeShowsSessionsSharedWithTheCaller(t *testing.T) {
	ctx := context.Background()
	alice, _ := clients(t, "alice")
	desk, secret, shareName := uniqueName("shared-desk"), uniqueName("unshared"), uniqueName("desk-bob")
	createAliceSession(t, secret)
	own := uniqueName("bob-own")
	mustKubectl(t, "bob", sessionYAML(own, "firefox"), "create", "-n", "bob", "-f", "-")
	t.Cleanup(func() { _, _ = kubectl(t, "bob", "", "delete", "-n", "bob", "session", own, "--wait=false") })

	bobFeed := mustDialFeed(t, "bob", "/api/v1/ws/sessions")
	first, _ := bobFeed.next(t, feedTimeout, "bob's first snapshot", func(m feedMessage) bool { return m.Type == "sessions_update" })
	noneOf(t, "bob", []feedMessage{first}, desk, secret)
	carolToken := oidcIDToken(t, "carol")
	carolFeed := dialFeedWithToken(t, carolToken, "/api/v1/ws/sessions")
	carolFeed.next(t, feedTimeout, "carol's first snapshot", func(m feedMessage) bool { return m.Type == "sessions_update" })

	createSessionAndShare(t, desk, newShare(shareName, "", "bob", "", streamv1alpha1.ShareRoleView, nil))
	added, before := bobFeed.next(t, feedTimeout, "the shared session on bob's feed", isChange("added", desk))
	if added.Session.Namespace != "alice" || added.Session.User != "alice" || added.Session.SharedRole != "view" || added.Session.Owner != "alice" {
		t.Errorf("bob's feed announces the shared session as %s; want it in alice's namespace, role view, owner alice", added.raw)
	}
	noneOf(t, "bob", before, secret)
	bobFeed.next(t, feedTimeout, "a snapshot with the shared session", snapshotWith(desk))

	// The REST list: his own session unmarked, the shared one marked, the
	// other of alice's absent.
	list := listSessionsWithToken(t, userToken(t, "bob"), "")
	if s, ok := list.find("alice", desk); !ok || s.SharedRole != "view" || s.Owner != "alice" {
		t.Errorf("bob's REST list shows the shared session as %+v (listed: %v); want role view, owner alice", s, ok)
	}
	if s, ok := list.find("bob", own); !ok || s.SharedRole != "" || s.Owner != "" {
		t.Errorf("bob's REST list shows his own session as %+v (listed: %v); want it unmarked", s, ok)
	}
	if _, ok := list.find("alice", secret); ok || list.Total != len(list.Sessions) {
		t.Errorf("bob's REST list: %+v", list)
	}
	onlyBob := listSessionsWithToken(t, userToken(t, "bob"), "?user=bob")
	if _, ok := onlyBob.find("alice", desk); ok || len(onlyBob.Sessions) == 0 {
		t.Errorf("bob's REST list of his own sessions (?user=bob): %+v", onlyBob)
	}
	status, body := bridgeCall(t, "bob", http.MethodGet, "/api/v1/sessions/"+desk+"?namespace=alice", "")
	var got feedSession
	if mustDecode(t, body, &got); status != http.StatusOK || got.SharedRole != "view" || got.Owner != "alice" {
		t.Errorf("bob's GET of the shared session: %d %s", status, body)
	}
	if status, body := bridgeCall(t, "bob", http.MethodGet, "/api/v1/sessions/"+secret+"?namespace=alice", ""); status != http.StatusForbidden {
		t.Errorf("bob's GET of alice's session that is not shared: %d %s, want 403", status, body)
	}
	status, body = bridgeCall(t, "bob", http.MethodGet, "/api/v1/sessions/"+desk+"/connect?namespace=alice", "")
	if status != http.StatusOK || !strings.Contains(body, `"role":"view"`) {
		t.Errorf("bob connects through the bridge: %d %s, want 200 with role view", status, body)
	}

	// Changes of the session and of the role.
	if _, err := alice.StreamV1alpha1().Sessions("alice").Patch(ctx, desk, types.MergePatchType, []byte(`{"spec":{"tags":["shared"]}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	bobFeed.next(t, feedTimeout, "the shared session's change on bob's feed", func(m feedMessage) bool {
		return isChange("modified", desk)(m) && len(m.Session.Tags) == 1 && m.Session.SharedRole == "view"
	})
	if _, err := alice.StreamV1alpha1().SessionShares("alice").Patch(ctx, shareName, types.MergePatchType, []byte(`{"spec":{"role":"control"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	bobFeed.next(t, feedTimeout, "the new role on bob's feed", func(m feedMessage) bool {
		return isChange("modified", desk)(m) && m.Session.SharedRole == "control"
	})
	auditedShareWrite(t, "patch", "alice", shareName, "alice")

	// carol is not named: her feed and list never show it.
	if _, ok := listSessionsWithToken(t, carolToken, "").find("alice", desk); ok {
		t.Error("carol's REST list shows the session shared with bob")
	}

	// Revoke: the session leaves bob's feed within seconds.
	if err := alice.StreamV1alpha1().SessionShares("alice").Delete(ctx, shareName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, before = bobFeed.next(t, feedTimeout, "the revoked session off bob's feed", isChange("deleted", desk))
	noneOf(t, "bob", before, secret)
	bobFeed.next(t, feedTimeout, "a snapshot without the revoked session", func(m feedMessage) bool {
		return m.Type == "sessions_update" && !snapshotWith(desk)(m)
	})
	if _, ok := listSessionsWithToken(t, userToken(t, "bob"), "").find("alice", desk); ok {
		t.Error("bob's REST list still shows the session after the revoke")
	}
	if status, body := bridgeCall(t, "bob", http.MethodGet, "/api/v1/sessions/"+desk+"?namespace=alice", ""); status == http.StatusOK && strings.Contains(body, `"sharedRole"`) {
		t.Errorf("bob's GET after the revoke: %d %s, want no shared role", status, body)
	}
	auditedShareWrite(t, "delete", "alice", shareName, "alice")

	// Nothing of it reached carol's feed.
	for len(carolFeed.messages) > 0 {
		noneOf(t, "carol", []feedMessage{<-carolFeed.messages}, desk, secret)
	}
}

// TestBridgeShowsGroupSharesToMembers: a session shared with the group
// streamspace-users appears in the REST list and feed of carol, a member,
// with her role, and not in bob's, who is not a member.
func TestBridgeShowsGroupSharesToMembers(t *testing.T) {
	session, shareName := uniqueName("group-feed"), uniqueName("group-feed-share")
	carolToken := oidcIDToken(t, "carol")
	carolFeed := dialFeedWithToken(t, carolToken, "/api/v1/ws/sessions")
	carolFeed.next(t, feedTimeout, "carol's first snapshot", func(m feedMessage) bool { return m.Type == "sessions_update" })
	bobFeed := mustDialFeed(t, "bob", "/api/v1/ws/sessions")
	bobFeed.next(t, feedTimeout, "bob's first snapshot", func(m feedMessage) bool { return m.Type == "sessions_update" })

	createSessionAndShare(t, session, newShare(shareName, "", "", devstack.UsersGroup, streamv1alpha1.ShareRoleControl, nil))
	added, _ := carolFeed.next(t, feedTimeout, "the group's session on carol's feed", isChange("added", session))
	if added.Session.SharedRole != "control" || added.Session.Owner != "alice" {
		t.Errorf("carol's feed announces the group's session as %s", added.raw)
	}
	if s, ok := listSessionsWithToken(t, carolToken, "").find("alice", session); !ok || s.SharedRole != "control" {
		t.Errorf("carol's REST list shows the group's session as %+v (listed: %v)", s, ok)
	}
	if _, ok := listSessionsWithToken(t, userToken(t, "bob"), "").find("alice", session); ok {
		t.Error("bob's REST list shows a session shared with a group he is not in")
	}
	// A feed opened now has it in its first snapshot.
	again := dialFeedWithToken(t, carolToken, "/api/v1/ws/sessions")
	if first, _ := again.next(t, feedTimeout, "carol's first snapshot", func(m feedMessage) bool { return m.Type == "sessions_update" }); !snapshotWith(session)(first) {
		t.Errorf("carol's first snapshot lacks the group's session: %s", first.raw)
	}

	alice, _ := clients(t, "alice")
	if err := alice.StreamV1alpha1().SessionShares("alice").Delete(context.Background(), shareName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	carolFeed.next(t, feedTimeout, "the revoked session off carol's feed", isChange("deleted", session))
	for len(bobFeed.messages) > 0 {
		noneOf(t, "bob", []feedMessage{<-bobFeed.messages}, session)
	}
}

// TestBridgeShareFinderReadsOnlyShares: the bridge's own identity, which
// finds the shares that name a caller, may list and watch SessionShares
// and read nothing else of the sessions: their content reaches a caller
// only through the caller's own reads.
func TestBridgeShareFinderReadsOnlyShares(t *testing.T) {
	ctx := context.Background()
	cfg, err := clientcmd.BuildConfigFromFlags("", stack.BridgeKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	bridge, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bridge.StreamV1alpha1().SessionShares("").List(ctx, metav1.ListOptions{FieldSelector: "spec.user=bob"}); err != nil {
		t.Errorf("the bridge's identity lists shares: %v", err)
	}
	w, err := bridge.StreamV1alpha1().SessionShares("").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Errorf("the bridge's identity watches shares: %v", err)
	} else {
		w.Stop()
	}
	name := uniqueName("finder-desk")
	createAliceSession(t, name)
	if _, err := bridge.StreamV1alpha1().Sessions("alice").Get(ctx, name, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the bridge's identity reads a session: %v, want 403", err)
	}
	if _, err := bridge.StreamV1alpha1().Sessions("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the bridge's identity lists sessions: %v, want 403", err)
	}
	if _, err := bridge.StreamV1alpha1().SessionShares("alice").Create(ctx, newShare(uniqueName("by-bridge"), name, "bob", "", streamv1alpha1.ShareRoleView, nil), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the bridge's identity creates a share: %v, want 403", err)
	}
}

// dialFeedWithToken opens a feed with a bearer token, as a browser sends it.
func dialFeedWithToken(t *testing.T, token, path string) *feed {
	t.Helper()
	header := http.Header{}
	header.Set("Sec-WebSocket-Protocol", "streamspace.v1, base64url.bearer.authorization.k8s.io."+base64.RawURLEncoding.EncodeToString([]byte(token)))
	f, resp, err := dialFeedWithHeader(t, path, header)
	if err != nil {
		t.Fatalf("open %s with a token: %v (%s)", path, err, responseBody(resp))
	}
	return f
}

// TestDashboardShowsSharedSessions: bob's dashboard lists the session alice
// shares with him, marked with his role and without the owner's actions,
// and drops it when she revokes the share.
func TestDashboardShowsSharedSessions(t *testing.T) {
	ctx := newBrowser(t)
	pageStep(t, ctx, "log in as bob",
		chromedp.Navigate(stack.BridgeURL+"/token"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), userToken(t, "bob")),
		chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#status[data-state="live"]`)),
	)
	session, shareName := uniqueName("dashboard-shared"), uniqueName("dashboard-share")
	createSessionAndShare(t, session, newShare(shareName, "", "bob", "", streamv1alpha1.ShareRoleView, nil))
	row := `#sessions tr[data-name="` + session + `"]`
	pageStep(t, ctx, "see the shared session on bob's page", chromedp.WaitVisible(chromedp.CSS(row+`[data-shared="view"]`)))
	cells := pageValue(t, ctx, "read the shared session's row",
		chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('`+row+` td')).map(td => td.textContent)`))
	if len(cells) < 2 || cells[0] != session+" shared · view" || cells[1] != "alice" {
		t.Errorf("the shared session's row shows %q, want its name marked shared · view, user alice", cells)
	}
	if buttons := pageValue(t, ctx, "count the row's buttons",
		chromedp.Evaluate[int](`document.querySelectorAll('`+row+` button').length`)); buttons != 0 {
		t.Errorf("the shared session's row has %d buttons, want none (hibernate, wake and delete are alice's)", buttons)
	}

	alice, _ := clients(t, "alice")
	if err := alice.StreamV1alpha1().SessionShares("alice").Delete(context.Background(), shareName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pageStep(t, ctx, "see the revoked session leave bob's page", chromedp.WaitNotPresent(chromedp.CSS(row)))
}
