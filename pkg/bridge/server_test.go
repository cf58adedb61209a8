package bridge

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"k8s.io/client-go/rest"

	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
	"github.com/streamspace/controlplane/pkg/bridge/internal/fakeapi"
	"github.com/streamspace/controlplane/pkg/bridge/limits"
)

func newTestBridge(t *testing.T, cfg Config) (*Server, *fakeapi.Server, *httptest.Server) {
	t.Helper()
	api := &fakeapi.Server{}
	apiServer := httptest.NewServer(api)
	t.Cleanup(apiServer.Close)
	cfg.Cluster = &rest.Config{Host: apiServer.URL}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bridge := httptest.NewServer(s.Handler())
	t.Cleanup(bridge.Close)
	t.Cleanup(s.beginShutdown)
	return s, api, bridge
}

func call(t *testing.T, url, token, method, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

// The router admits a token only through the token cache: made-up tokens
// are 401, and an accepted token is reviewed once however often it is used
// (see pkg/bridge/identity for what the cache keeps).
func TestRoutesAdmitTokensThroughTheCache(t *testing.T) {
	_, api, bridge := newTestBridge(t, Config{MaxCachedTokens: 3, Limits: limits.Limits{MaxTrackedClients: 10}})
	for i := range 50 {
		resp, body := call(t, bridge.URL+"/api/v1/sessions", fmt.Sprintf("made-up-%d", i), "GET", "")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("made-up token: %d %s, want 401", resp.StatusCode, body)
		}
	}
	for i := range 5 {
		for range 2 {
			if resp, body := call(t, bridge.URL+"/api/v1/sessions?namespace=x", fmt.Sprintf("user:u%d", i), "GET", ""); resp.StatusCode != http.StatusOK {
				t.Fatalf("accepted token: %d %s", resp.StatusCode, body)
			}
		}
	}
	if n := api.Reviews.Load(); n != 5 {
		t.Errorf("%d reviews for 5 tokens used twice each, want 5 (the second use is cached)", n)
	}
}

func TestRequestRateLimitsAnswer429WithRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		limits limits.Limits
		tokens []string // used in turn
	}{
		{"per client IP", limits.Limits{RequestsPerIP: 0.001, BurstPerIP: 3}, []string{"user:a", "user:b", "made-up"}},
		{"per user", limits.Limits{RequestsPerUser: 0.001, BurstPerUser: 3}, []string{"user:a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, bridge := newTestBridge(t, Config{Limits: tt.limits})
			for i := range 3 {
				token := tt.tokens[i%len(tt.tokens)]
				if resp, body := call(t, bridge.URL+"/api/v1/sessions?namespace=x", token, "GET", ""); resp.StatusCode == http.StatusTooManyRequests {
					t.Fatalf("request %d within the burst: %d %s", i, resp.StatusCode, body)
				}
			}
			resp, body := call(t, bridge.URL+"/api/v1/sessions?namespace=x", tt.tokens[0], "GET", "")
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("request over the burst: %d Retry-After %q %s, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			var status httpjson.StatusBody
			if err := json.Unmarshal([]byte(body), &status); err != nil || status.Code != 429 || status.Reason != "TooManyRequests" || status.Error == "" {
				t.Errorf("body %s, want a Status with code 429 and an error", body)
			}
			if tt.limits.RequestsPerUser > 0 {
				if resp, body := call(t, bridge.URL+"/api/v1/sessions?namespace=x", "user:other", "GET", ""); resp.StatusCode != http.StatusOK {
					t.Errorf("another user: %d %s, want 200", resp.StatusCode, body)
				}
			}
		})
	}
}

func TestOversizedBodyIs413(t *testing.T) {
	_, _, bridge := newTestBridge(t, Config{})
	big := `{"template":"` + strings.Repeat("x", httpjson.MaxBodyBytes) + `"}`
	for _, path := range []string{"/api/v1/sessions", "/api/v1/templates", "/api/v1/repositories"} {
		resp, body := call(t, bridge.URL+path, "user:a", "POST", big)
		var status httpjson.StatusBody
		_ = json.Unmarshal([]byte(body), &status)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || status.Reason != "RequestEntityTooLarge" {
			t.Errorf("POST %s with %d bytes: %d %.200s, want 413 with a Status", path, len(big), resp.StatusCode, body)
		}
	}
	// Without a Content-Length the bound applies while reading.
	req, _ := http.NewRequest("POST", bridge.URL+"/api/v1/sessions", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer user:a")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversized body: %d, want 413", resp.StatusCode)
	}
}

func dialAs(t *testing.T, url, token string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	header := http.Header{"Sec-WebSocket-Protocol": {identity.FeedSubprotocol + ", " + identity.TokenSubprotocolPrefix + base64.RawURLEncoding.EncodeToString([]byte(token))}}
	return websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http"), header)
}

func TestFeedLimits(t *testing.T) {
	_, _, bridge := newTestBridge(t, Config{Limits: limits.Limits{FeedsPerUser: 2, LogStreamsPerUser: 1, LogStreamsPerContainer: 1, MaxTrackedClients: 10}})
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 2 {
		conn, resp, err := dialAs(t, bridge.URL+"/api/v1/ws/sessions?namespace=x", "user:a")
		if err != nil {
			t.Fatalf("feed within the limit: %v (%s)", err, responseStatus(resp))
		}
		conns = append(conns, conn)
	}
	_, resp, err := dialAs(t, bridge.URL+"/api/v1/ws/sessions?namespace=x", "user:a")
	if err == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third feed of a user limited to 2: %v (%s), want 429 with Retry-After", err, responseStatus(resp))
	}
	conn, resp, err := dialAs(t, bridge.URL+"/api/v1/ws/sessions?namespace=x", "user:b")
	if err != nil {
		t.Fatalf("another user's feed: %v (%s)", err, responseStatus(resp))
	}
	conns = append(conns, conn)

	// Closing a feed frees its slot.
	conns[0].Close()
	conns = conns[1:]
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, resp, err := dialAs(t, bridge.URL+"/api/v1/ws/sessions?namespace=x", "user:a")
		if err == nil {
			conns = append(conns, conn)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no feed slot after closing one: %v (%s)", err, responseStatus(resp))
		}
		time.Sleep(50 * time.Millisecond)
	}

}

func responseStatus(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	data, _ := io.ReadAll(resp.Body)
	return resp.Status + " " + string(data)
}
