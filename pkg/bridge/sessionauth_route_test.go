package bridge

import (
	"net/http"
	"strings"
	"testing"

	"github.com/streamspace/controlplane/pkg/bridge/limits"
	"github.com/streamspace/controlplane/pkg/bridge/sessionauth"
)

// The forward-auth route: 401 without a token (the authenticated
// middleware), 200 naming the owner in X-Streamspace-User, 403 for another
// user, 404 for no such session; decisions are reused for the same token
// and session, and the per-IP limit does not apply (every user's requests
// come from the ingress controller's IP).
func TestSessionAuthRoute(t *testing.T) {
	lim := limits.Default()
	lim.RequestsPerIP, lim.BurstPerIP = 1, 1
	_, api, bridge := newTestBridge(t, Config{Limits: lim})
	api.Sessions = map[string]string{"shared/desk": "alice"}
	api.Assigners = map[string]bool{"admin": true}
	url := bridge.URL + sessionauth.PathPrefix + "/shared/desk"

	if resp, body := call(t, url, "", http.MethodGet, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d %s, want 401", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		token, path string
		status      int
	}{
		{"user:alice", "/shared/desk", http.StatusOK},
		{"user:bob", "/shared/desk", http.StatusForbidden},
		{"user:admin", "/shared/desk", http.StatusOK},
		// Envoy's ext_authz adds the original request's path.
		{"user:alice", "/shared/desk/vnc/index.html", http.StatusOK},
		{"user:bob", "/shared/desk/vnc/index.html", http.StatusForbidden},
		{"user:alice", "/shared/other", http.StatusNotFound},
		{"user:alice", "/shared/Not_A_Name", http.StatusBadRequest},
	} {
		resp, body := call(t, bridge.URL+sessionauth.PathPrefix+tc.path, tc.token, http.MethodGet, "")
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d %s, want %d", tc.token, tc.path, resp.StatusCode, body, tc.status)
			continue
		}
		user := strings.TrimPrefix(tc.token, "user:")
		if got := resp.Header.Get(sessionauth.UserHeader); tc.status == http.StatusOK && got != user {
			t.Errorf("%s: %s %q, want %q", tc.token, sessionauth.UserHeader, got, user)
		} else if tc.status != http.StatusOK && got != "" {
			t.Errorf("%s refused, yet named in %s: %q", tc.token, sessionauth.UserHeader, got)
		}
		if tc.status == http.StatusForbidden && !strings.Contains(body, `belongs to user \"alice\"`) {
			t.Errorf("bob's 403 does not name the owner rule: %s", body)
		}
	}

	reviews := api.AccessReviews.Load()
	for range 10 {
		if resp, body := call(t, url, "user:alice", http.MethodGet, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("alice again: %d %s", resp.StatusCode, body)
		}
		if resp, body := call(t, url, "user:bob", http.MethodGet, ""); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("bob again: %d %s", resp.StatusCode, body)
		}
	}
	if got := api.AccessReviews.Load(); got != reviews {
		t.Errorf("%d more access reviews for decisions already made, want 0 (cached)", got-reviews)
	}

	// Another route from the same IP is limited as before.
	call(t, bridge.URL+"/version", "", http.MethodGet, "")
	if resp, _ := call(t, bridge.URL+"/version", "", http.MethodGet, ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("/version over the per-IP limit: %d, want 429 (the test's limit is not in force)", resp.StatusCode)
	}
}
