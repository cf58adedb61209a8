package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// feedTimeout is how long a test waits for a message; the feeds deliver in
// milliseconds (see docs/benchmarks.md), this only bounds a failing test.
const feedTimeout = 20 * time.Second

func TestBridgeFeedsNeedAToken(t *testing.T) {
	status, body := bridgeCall(t, "", http.MethodGet, "/api/v1/sessions", "")
	if status != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
		t.Errorf("REST without a token: %d %s, want 401 with an error", status, body)
	}
	_, resp, err := dialFeed(t, "", "/api/v1/ws/sessions")
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("WebSocket without a token: %v %s, want a 401 handshake", err, responseBody(resp))
	}
	status, body = bridgeCallWithToken(t, "not-a-token", http.MethodGet, "/api/v1/sessions?namespace=alice", "")
	if status != http.StatusUnauthorized {
		t.Errorf("REST with a wrong token: %d %s, want 401", status, body)
	}
	// The query parameter form is off unless --allow-token-in-query.
	_, resp, err = dialFeedWithHeader(t, "/api/v1/ws/sessions?access_token="+userToken(t, "alice"), http.Header{})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("WebSocket with ?access_token=: %v %s, want 401 (disabled by default)", err, responseBody(resp))
	}
}

func TestBridgeRefusesForeignOrigins(t *testing.T) {
	header := http.Header{}
	header.Set("Sec-WebSocket-Protocol", "streamspace.v1, base64url.bearer.authorization.k8s.io."+base64.RawURLEncoding.EncodeToString([]byte(userToken(t, "alice"))))
	header.Set("Origin", "https://evil.example")
	_, resp, err := dialFeedWithHeader(t, "/api/v1/ws/sessions", header)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("handshake from a foreign origin: %v %s, want 403", err, responseBody(resp))
	}
	header.Set("Origin", stack.BridgeURL) // the bridge's own page
	if _, resp, err := dialFeedWithHeader(t, "/api/v1/ws/sessions", header); err != nil {
		t.Errorf("handshake from the bridge's own origin: %v %s", err, responseBody(resp))
	}
}

// Each user's feed shows that user's sessions only, and updates as kubectl
// changes them.
func TestBridgeSessionsFeedShowsEachUserOnlyTheirs(t *testing.T) {
	a1, a2, b1 := uniqueName("feed-alice"), uniqueName("feed-alice"), uniqueName("feed-bob")
	mustKubectl(t, "alice", sessionYAML(a1, "firefox"), "create", "-n", "alice", "-f", "-")
	aliceFeed := mustDialFeed(t, "alice", "/api/v1/ws/sessions")
	bobFeed := mustDialFeed(t, "bob", "/api/v1/ws/sessions")

	first, _ := aliceFeed.next(t, feedTimeout, "alice's first snapshot", func(m feedMessage) bool { return m.Type == "sessions_update" })
	if !snapshotWith(a1)(first) {
		t.Errorf("alice's first snapshot lacks %s: %s", a1, first.raw)
	}
	for _, s := range first.Sessions {
		if s.Namespace != "alice" {
			t.Errorf("alice's snapshot shows %s/%s", s.Namespace, s.Name)
		}
	}
	if first.Count != len(first.Sessions) {
		t.Errorf("count %d for %d sessions", first.Count, len(first.Sessions))
	}

	mustKubectl(t, "alice", sessionYAML(a2, "vscode"), "create", "-n", "alice", "-f", "-")
	added, _ := aliceFeed.next(t, feedTimeout, "session_change added feed-alice-2", isChange("added", a2))
	if added.Session.User != "alice" || added.Session.Template != "vscode" || added.Session.State != "running" {
		t.Errorf("added message: %s", added.raw)
	}
	aliceFeed.next(t, feedTimeout, "a snapshot with feed-alice-2", snapshotWith(a2))

	mustKubectl(t, "alice", "", "patch", "-n", "alice", "session", a2, "--type=merge", "-p", `{"spec":{"state":"hibernated"}}`)
	// (the session controller, when it runs, modifies the status too)
	aliceFeed.next(t, feedTimeout, "session_change modified with state hibernated", func(m feedMessage) bool {
		return isChange("modified", a2)(m) && m.Session.State == "hibernated"
	})
	mustKubectl(t, "alice", "", "delete", "-n", "alice", "session", a2, "--wait=false")
	aliceFeed.next(t, feedTimeout, "session_change deleted feed-alice-2", isChange("deleted", a2))
	gone, _ := aliceFeed.next(t, feedTimeout, "a snapshot after the delete", func(m feedMessage) bool {
		return m.Type == "sessions_update" && !snapshotWith(a2)(m)
	})
	if !snapshotWith(a1)(gone) {
		t.Errorf("snapshot after the delete lost feed-alice-1: %s", gone.raw)
	}

	// Bob sees his own session and never one of alice's.
	mustKubectl(t, "bob", sessionYAML(b1, "firefox"), "create", "-n", "bob", "-f", "-")
	_, before := bobFeed.next(t, feedTimeout, "bob's feed-bob-1", isChange("added", b1))
	for _, m := range before {
		if strings.Contains(m.raw, `"namespace":"alice"`) || strings.Contains(m.raw, "feed-alice-") {
			t.Errorf("bob's feed leaked alice's session: %s", m.raw)
		}
	}

	// Asking for someone else's namespace fails at the handshake with the API's 403.
	_, resp, err := dialFeed(t, "bob", "/api/v1/ws/sessions?namespace=alice")
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bob opening alice's feed: %v %s, want 403", err, responseBody(resp))
	}
	if body := responseBody(resp); !strings.Contains(body, `cannot list resource \"sessions\"`) {
		t.Errorf("403 body does not say why: %s", body)
	}
}

// The ?user= filter narrows a feed to one owner.
func TestBridgeSessionsFeedFiltersByUser(t *testing.T) {
	owner := uniqueName("carol")
	mustKubectl(t, "admin", "apiVersion: stream.space/v1alpha1\nkind: Session\nmetadata: {name: "+owner+"}\nspec: {template: firefox, user: "+owner+"}\n", "create", "-n", "alice", "-f", "-")
	mustKubectl(t, "alice", sessionYAML(uniqueName("filter-alice"), "firefox"), "create", "-n", "alice", "-f", "-")
	f := mustDialFeed(t, "alice", "/api/v1/ws/sessions?user="+owner)
	m, _ := f.next(t, feedTimeout, "the first snapshot", func(m feedMessage) bool { return m.Type == "sessions_update" })
	if len(m.Sessions) != 1 || m.Sessions[0].Name != owner {
		t.Errorf("?user=%s snapshot: %s, want only the session of %s", owner, m.raw, owner)
	}
}

// A watch broken by a restart of streamspace-apiserver resumes from its last
// resource version: every change arrives exactly once, none is lost.
func TestBridgeFeedResumesAfterAPIServerRestart(t *testing.T) {
	r1, r2, r3 := uniqueName("resume-a"), uniqueName("resume-b"), uniqueName("resume-c")
	f := mustDialFeed(t, "alice", "/api/v1/ws/sessions")
	f.next(t, feedTimeout, "the first snapshot", func(m feedMessage) bool { return m.Type == "sessions_update" })
	mustKubectl(t, "alice", sessionYAML(r1, "firefox"), "create", "-n", "alice", "-f", "-")
	f.next(t, feedTimeout, "the first session added", isChange("added", r1))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := stack.RestartStreamspace(ctx); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, "alice", sessionYAML(r2, "firefox"), "create", "-n", "alice", "-f", "-")
	mustKubectl(t, "alice", "", "patch", "-n", "alice", "session", r1, "--type=merge", "-p", `{"spec":{"tags":["after-restart"]}}`)
	mustKubectl(t, "alice", sessionYAML(r3, "firefox"), "create", "-n", "alice", "-f", "-")

	_, seen := f.next(t, time.Minute, "the third session added", isChange("added", r3))
	// No gap: the write made after the restart arrive. No duplicate: no
	// version of a session is announced twice.
	addedSecond, tagged := 0, 0
	announced := map[string]bool{}
	for _, m := range seen {
		if m.Type != "session_change" {
			continue
		}
		version := m.Change + " " + m.Session.Name + "@" + m.Session.ResourceVersion
		if announced[version] {
			t.Errorf("announced twice: %s", version)
		}
		announced[version] = true
		switch {
		case m.Session.Name == r2 && m.Change == "added":
			addedSecond++
		case m.Session.Name == r1 && m.Change == "modified" && len(m.Session.Tags) == 1 && m.Session.Tags[0] == "after-restart":
			tagged++
		case m.Session.Name == r1 && m.Change == "added":
			t.Errorf("the first session was announced as added again after the restart: %s", m.raw)
		}
	}
	if addedSecond != 1 || tagged == 0 {
		t.Errorf("after the restart: %s added %d times (want 1), %s modified with the new tags %d times (want at least 1)", r2, addedSecond, r1, tagged)
		if log, err := os.ReadFile(stack.LogFile("streamspace-bridge")); err == nil {
			t.Logf("bridge log:\n%s", log)
		}
	}
}

func TestBridgeClusterFeedCountsWhatTheUserSees(t *testing.T) {
	f := mustDialFeed(t, "bob", "/api/v1/ws/cluster")
	first, _ := f.next(t, feedTimeout, "metrics_update", func(m feedMessage) bool { return m.Type == "metrics_update" })
	sessions := first.Metrics["sessions"].(map[string]any)
	total := int(sessions["total"].(float64))
	out := mustKubectl(t, "bob", "", "get", "sessions", "-n", "bob", "-o", "name")
	if want := len(strings.Fields(out)); total != want {
		t.Errorf("bob's metrics say %d sessions, kubectl lists %d: %s", total, want, first.raw)
	}
	if int(first.Metrics["templates"].(float64)) < 2 {
		t.Errorf("bob's templates (firefox, vscode) not counted: %s", first.raw)
	}
	mustKubectl(t, "bob", sessionYAML(uniqueName("metrics-bob"), "firefox"), "create", "-n", "bob", "-f", "-")
	f.next(t, feedTimeout, "a metrics_update with one more session", func(m feedMessage) bool {
		s, ok := m.Metrics["sessions"].(map[string]any)
		return m.Type == "metrics_update" && ok && int(s["total"].(float64)) == total+1
	})
}
