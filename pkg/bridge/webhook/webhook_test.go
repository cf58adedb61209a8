package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// recordingTrigger is the repository side, faked: the handler's logic is
// verification and parsing (the e2e test runs the real trigger).
type recordingTrigger struct {
	calls []string
	repos map[string][]string // "url branch" → names
}

func (r *recordingTrigger) RequestSync(_ context.Context, url, branch string, _ []string) ([]string, []string, error) {
	r.calls = append(r.calls, url+" "+branch)
	return r.repos[url+" "+branch], nil, nil
}

const secret = "a-very-secret-webhook-key"

func sign(body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// signGeneric signs a generic delivery sent at now with nonce.
func signGeneric(body, nonce string, at time.Time) map[string]string {
	ts := strconv.FormatInt(at.Unix(), 10)
	return map[string]string{"X-Webhook-Timestamp": ts, "X-Webhook-Nonce": nonce, "X-Webhook-Signature": sign(ts + "." + nonce + "." + body)}
}

func newHandler(t *testing.T, trigger Trigger) (*Handler, *clocktesting.FakeClock) {
	t.Helper()
	h, err := New([]byte(secret), trigger)
	if err != nil {
		t.Fatal(err)
	}
	c := clocktesting.NewFakeClock(now)
	h.clock = c
	h.deliveries = newDeliveryStore(c, deliveryTTL, 3)
	return h, c
}

func post(h http.Handler, body string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func with(h map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
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
		{name: "GitHub push", body: github, header: map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": "sha256=" + sign(github)},
			wantStatus: 202, wantCalls: []string{"github.com/org/templates main"}, wantRepos: []string{"catalog"}},
		{name: "GitHub wrong signature", body: github, header: map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": "sha256=" + sign(github+" ")},
			wantStatus: 401},
		{name: "GitHub signature without prefix", body: github, header: map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": sign(github)},
			wantStatus: 401},
		{name: "GitHub ping", body: `{"zen":"hi"}`, header: map[string]string{"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": "sha256=" + sign(`{"zen":"hi"}`)},
			wantStatus: 200},
		{name: "GitHub tag push is ignored", body: `{"ref":"refs/tags/v1"}`, header: map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": "sha256=" + sign(`{"ref":"refs/tags/v1"}`)},
			wantStatus: 200},
		{name: "GitLab push", body: gitlab, header: map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "u-1", "X-Gitlab-Token": secret},
			wantStatus: 202, wantCalls: []string{"gitlab.example.org/org/templates main"}},
		{name: "GitLab wrong token", body: gitlab, header: map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "u-1", "X-Gitlab-Token": "guess"},
			wantStatus: 401},
		{name: "GitHub without a delivery ID", body: github, header: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(github)},
			wantStatus: 400},
		{name: "GitHub signature header too long", body: github, header: map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": "sha256=" + strings.Repeat("ab", 200)},
			wantStatus: 400},
		{name: "GitLab without an event UUID", body: gitlab, header: map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret},
			wantStatus: 400},
		{name: "generic body", body: generic, header: signGeneric(generic, "n-1", now),
			wantStatus: 202, wantCalls: []string{"github.com/org/templates main"}, wantRepos: []string{"catalog"}},
		{name: "generic body, prefixed signature", body: generic, header: with(signGeneric(generic, "n-1", now), "X-Webhook-Signature", "sha256="+signGeneric(generic, "n-1", now)["X-Webhook-Signature"]),
			wantStatus: 202, wantCalls: []string{"github.com/org/templates main"}, wantRepos: []string{"catalog"}},
		{name: "generic body, bad signature", body: generic, header: with(signGeneric(generic, "n-1", now), "X-Webhook-Signature", "zz"),
			wantStatus: 401},
		{name: "generic body, signature of the body only", body: generic, header: with(signGeneric(generic, "n-1", now), "X-Webhook-Signature", sign(generic)),
			wantStatus: 401},
		{name: "generic body, nonce changed", body: generic, header: with(signGeneric(generic, "n-1", now), "X-Webhook-Nonce", "n-2"),
			wantStatus: 401},
		{name: "generic body, timestamp changed", body: generic, header: with(signGeneric(generic, "n-1", now), "X-Webhook-Timestamp", strconv.FormatInt(now.Unix()+1, 10)),
			wantStatus: 401},
		{name: "generic body without timestamp", body: generic, header: with(signGeneric(generic, "n-1", now), "X-Webhook-Timestamp", ""),
			wantStatus: 400},
		{name: "generic body without nonce", body: generic, header: with(signGeneric(generic, "n-1", now), "X-Webhook-Nonce", ""),
			wantStatus: 400},
		{name: "generic body, old timestamp", body: generic, header: signGeneric(generic, "n-1", now.Add(-ReplayWindow-time.Second)),
			wantStatus: 403},
		{name: "generic body, timestamp in the future", body: generic, header: signGeneric(generic, "n-1", now.Add(ReplayWindow+time.Second)),
			wantStatus: 403},
		{name: "generic body, timestamp at the edge of the window", body: generic, header: signGeneric(generic, "n-1", now.Add(-ReplayWindow)),
			wantStatus: 202, wantCalls: []string{"github.com/org/templates main"}, wantRepos: []string{"catalog"}},
		{name: "unsigned", body: generic, wantStatus: 401},
		{name: "signed but no URL", body: `{"branch":"main"}`, header: signGeneric(`{"branch":"main"}`, "n-1", now),
			wantStatus: 400},
		{name: "signed but not JSON", body: `nope`, header: signGeneric(`nope`, "n-1", now),
			wantStatus: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			trigger := &recordingTrigger{repos: map[string][]string{"github.com/org/templates main": {"catalog"}}}
			h, _ := newHandler(t, trigger)
			rec := post(h, tc.body, tc.header)
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

func TestWebhookRefusesReplays(t *testing.T) {
	github := `{"ref":"refs/heads/main","repository":{"clone_url":"https://github.com/org/templates.git"}}`
	github2 := `{"ref":"refs/heads/main","after":"2","repository":{"clone_url":"https://github.com/org/templates.git"}}`
	gitlab := `{"ref":"refs/heads/main","project":{"git_http_url":"https://github.com/org/templates.git"}}`
	generic := `{"repository_url":"https://github.com/org/templates","branch":"main"}`
	gh := func(body, id string) map[string]string {
		return map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": id, "X-Hub-Signature-256": "sha256=" + sign(body)}
	}
	gl := func(id string) map[string]string {
		return map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": id, "X-Gitlab-Token": secret}
	}
	type delivery struct {
		body    string
		header  map[string]string
		advance time.Duration
		want    int
	}
	cases := []struct {
		name       string
		deliveries []delivery
	}{
		{name: "GitHub, same delivery twice", deliveries: []delivery{{body: github, header: gh(github, "d-1"), want: 202}, {body: github, header: gh(github, "d-1"), want: 409}}},
		{name: "GitHub, same body under a new delivery ID", deliveries: []delivery{{body: github, header: gh(github, "d-1"), want: 202}, {body: github, header: gh(github, "d-2"), want: 409}}},
		{name: "GitHub, another push", deliveries: []delivery{{body: github, header: gh(github, "d-1"), want: 202}, {body: github2, header: gh(github2, "d-2"), want: 202}}},
		{name: "GitHub, a replay after the memory's TTL", deliveries: []delivery{{body: github, header: gh(github, "d-1"), want: 202}, {body: github, header: gh(github, "d-1"), advance: deliveryTTL, want: 202}}},
		{name: "GitLab, same event UUID twice", deliveries: []delivery{{body: gitlab, header: gl("u-1"), want: 202}, {body: gitlab + " ", header: gl("u-1"), want: 409}}},
		{name: "generic, same nonce twice", deliveries: []delivery{{body: generic, header: signGeneric(generic, "n-1", now), want: 202}, {body: generic, header: signGeneric(generic, "n-1", now), want: 409}}},
		{name: "generic, replayed after the window", deliveries: []delivery{{body: generic, header: signGeneric(generic, "n-1", now), want: 202}, {body: generic, header: signGeneric(generic, "n-1", now), advance: ReplayWindow + time.Second, want: 403}}},
		{name: "a wrongly signed copy is not remembered", deliveries: []delivery{{body: github, header: with(gh(github, "d-1"), "X-Hub-Signature-256", "sha256="+sign("x")), want: 401}, {body: github, header: gh(github, "d-1"), want: 202}}},
		{name: "a failed sync request may be sent again", deliveries: []delivery{{body: `{"ref":"refs/heads/main","repository":{"clone_url":"https://fail.example/x.git"}}`, header: gh(`{"ref":"refs/heads/main","repository":{"clone_url":"https://fail.example/x.git"}}`, "d-1"), want: 500},
			{body: `{"ref":"refs/heads/main","repository":{"clone_url":"https://fail.example/x.git"}}`, header: gh(`{"ref":"refs/heads/main","repository":{"clone_url":"https://fail.example/x.git"}}`, "d-1"), want: 500}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, c := newHandler(t, failingTrigger{&recordingTrigger{repos: map[string][]string{"github.com/org/templates main": {"catalog"}}}})
			for i, d := range tc.deliveries {
				c.Step(d.advance)
				rec := post(h, d.body, d.header)
				if rec.Code != d.want {
					t.Fatalf("delivery %d: status %d, want %d: %s", i, rec.Code, d.want, rec.Body)
				}
				if d.want == 409 && !strings.Contains(rec.Body.String(), "replay") {
					t.Errorf("delivery %d: 409 without saying why: %s", i, rec.Body)
				}
			}
		})
	}
}

// failingTrigger fails for fail.example.
type failingTrigger struct{ *recordingTrigger }

func (f failingTrigger) RequestSync(ctx context.Context, url, branch string, delivery []string) ([]string, []string, error) {
	if strings.HasPrefix(url, "fail.example/") {
		return nil, nil, errors.New("apiserver unavailable")
	}
	return f.recordingTrigger.RequestSync(ctx, url, branch, delivery)
}

func TestWebhookCapsTheBody(t *testing.T) {
	h, _ := newHandler(t, &recordingTrigger{})
	big := `{"ref":"refs/heads/main","pad":"` + strings.Repeat("x", MaxBodySize) + `"}`
	// Declared too large: refused before reading.
	if rec := post(h, big, map[string]string{"X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": "sha256=" + sign(big)}); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: status %d, want 413: %s", rec.Code, rec.Body)
	}
	// Not declared (chunked): cut at the cap.
	req := httptest.NewRequest(http.MethodPost, Path, io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("X-GitHub-Delivery", "d-2")
	req.Header.Set("X-Hub-Signature-256", "sha256="+sign(big))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("large chunked body: status %d, want 413: %s", rec.Code, rec.Body)
	}
	// Without a signature the body is never read.
	body := &countingReader{r: strings.NewReader(big)}
	req = httptest.NewRequest(http.MethodPost, Path, body)
	req.ContentLength = -1
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || body.n != 0 {
		t.Errorf("unsigned: status %d after reading %d bytes, want 401 after none", rec.Code, body.n)
	}
	// Nor with a wrong GitLab token.
	body = &countingReader{r: strings.NewReader(big)}
	req = httptest.NewRequest(http.MethodPost, Path, body)
	req.ContentLength = -1
	req.Header.Set("X-Gitlab-Token", "a-guess-at-the-secret")
	req.Header.Set("X-Gitlab-Event-UUID", "u-1")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || body.n != 0 {
		t.Errorf("wrong GitLab token: status %d after reading %d bytes, want 401 after none", rec.Code, body.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestDeliveryStoreIsBounded(t *testing.T) {
	c := clocktesting.NewFakeClock(now)
	s := newDeliveryStore(c, time.Hour, 2)
	for _, k := range []string{"a", "b", "c"} {
		if first, _ := s.firstSeen(k); !first {
			t.Fatalf("%s seen before", k)
		}
	}
	if len(s.byKey) != 2 || s.order.Len() != 2 {
		t.Fatalf("store holds %d keys, want 2", len(s.byKey))
	}
	if first, _ := s.firstSeen("c"); first {
		t.Errorf("c forgotten")
	}
	c.Step(time.Hour)
	if first, _ := s.firstSeen("c"); !first {
		t.Errorf("c remembered past its TTL")
	}
}
