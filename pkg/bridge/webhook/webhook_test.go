package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// recordingTrigger is the repository side, faked: the handler's logic is
// verification and parsing (the e2e test runs the real trigger).
type recordingTrigger struct {
	calls []string
	repos map[string][]string // "url branch" → names
}

func (r *recordingTrigger) RequestSync(_ context.Context, url, branch string) ([]string, error) {
	r.calls = append(r.calls, url+" "+branch)
	return r.repos[url+" "+branch], nil
}

const secret = "a-very-secret-webhook-key"

func sign(body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

func TestWebhook(t *testing.T) {
	github := `{"ref":"refs/heads/main","repository":{"clone_url":"https://GitHub.com/Org/Templates.git","ssh_url":"git@github.com:org/templates.git"}}`
	gitlab := `{"ref":"refs/heads/main","project":{"git_http_url":"https://gitlab.example.org/org/templates.git","git_ssh_url":"git@gitlab.example.org:org/templates.git"}}`
	generic := `{"repository_url":"https://github.com/org/templates","branch":"main","ref":"refs/heads/main"}`
	cases := []struct {
		name       string
		body       string
		header     map[string]string
		wantStatus int
		wantCalls  []string
		wantRepos  []string
	}{
		{name: "GitHub push", body: github, header: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(github)},
			wantStatus: 202, wantCalls: []string{"github.com/org/templates main"}, wantRepos: []string{"catalog"}},
		{name: "GitHub wrong signature", body: github, header: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(github+" ")},
			wantStatus: 401},
		{name: "GitHub signature without prefix", body: github, header: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(github)},
			wantStatus: 401},
		{name: "GitHub ping", body: `{"zen":"hi"}`, header: map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=" + sign(`{"zen":"hi"}`)},
			wantStatus: 200},
		{name: "GitHub tag push is ignored", body: `{"ref":"refs/tags/v1"}`, header: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(`{"ref":"refs/tags/v1"}`)},
			wantStatus: 200},
		{name: "GitLab push", body: gitlab, header: map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret},
			wantStatus: 202, wantCalls: []string{"gitlab.example.org/org/templates main"}},
		{name: "GitLab wrong token", body: gitlab, header: map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "guess"},
			wantStatus: 401},
		{name: "generic body", body: generic, header: map[string]string{"X-Webhook-Signature": sign(generic)},
			wantStatus: 202, wantCalls: []string{"github.com/org/templates main"}, wantRepos: []string{"catalog"}},
		{name: "generic body, prefixed signature", body: generic, header: map[string]string{"X-Webhook-Signature": "sha256=" + sign(generic)},
			wantStatus: 202, wantCalls: []string{"github.com/org/templates main"}, wantRepos: []string{"catalog"}},
		{name: "generic body, bad signature", body: generic, header: map[string]string{"X-Webhook-Signature": "zz"},
			wantStatus: 401},
		{name: "unsigned", body: generic, wantStatus: 401},
		{name: "signed but no URL", body: `{"branch":"main"}`, header: map[string]string{"X-Webhook-Signature": sign(`{"branch":"main"}`)},
			wantStatus: 400},
		{name: "signed but not JSON", body: `nope`, header: map[string]string{"X-Webhook-Signature": sign(`nope`)},
			wantStatus: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			trigger := &recordingTrigger{repos: map[string][]string{"github.com/org/templates main": {"catalog"}}}
			h, err := New([]byte(secret), trigger)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(tc.body))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if strings.Join(trigger.calls, ",") != strings.Join(tc.wantCalls, ",") {
				t.Errorf("trigger calls %q, want %q", trigger.calls, tc.wantCalls)
			}
			if tc.wantStatus == 202 {
				var resp Response
				if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
					t.Fatal(err)
				}
				if strings.Join(resp.Repositories, ",") != strings.Join(tc.wantRepos, ",") {
					t.Errorf("repositories %v, want %v", resp.Repositories, tc.wantRepos)
				}
			}
			if strings.Contains(rec.Body.String(), secret) {
				t.Errorf("answer contains the secret: %s", rec.Body)
			}
		})
	}
}
