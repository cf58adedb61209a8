package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Helpers for the streamspace-bridge tests: REST calls and WebSocket feeds
// as a sample user, with the user's bearer token.

func userToken(t testing.TB, user string) string {
	t.Helper()
	token, err := stack.UserToken(user)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// bridgeCall sends a request to the bridge as user ("" = no token) and
// returns the status and the body.
func bridgeCall(t testing.TB, user, method, path, body string) (int, string) {
	t.Helper()
	return bridgeCallWithToken(t, tokenOf(t, user), method, path, body)
}

func tokenOf(t testing.TB, user string) string {
	if user == "" {
		return ""
	}
	return userToken(t, user)
}

func bridgeCallWithToken(t testing.TB, token, method, path, body string) (int, string) {
	t.Helper()
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, stack.BridgeURL+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// mustDecode decodes a JSON answer or fails with it.
func mustDecode(t testing.TB, body string, into any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), into); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
}

// feedMessage is any message of the bridge's feeds.
type feedMessage struct {
	Type     string         `json:"type"`
	Change   string         `json:"change"`
	Session  feedSession    `json:"session"`
	Sessions []feedSession  `json:"sessions"`
	Count    int            `json:"count"`
	Metrics  map[string]any `json:"metrics"`
	Error    string         `json:"error"`
	Code     int            `json:"code"`
	// A warning's reason, deadline and message.
	Reason      string `json:"reason"`
	HibernateAt string `json:"hibernateAt"`
	Message     string `json:"message"`
	received    time.Time
	raw         string
}

type feedSession struct {
	Name              string   `json:"name"`
	Namespace         string   `json:"namespace"`
	User              string   `json:"user"`
	Template          string   `json:"template"`
	State             string   `json:"state"`
	ResourceVersion   string   `json:"resourceVersion"`
	ActiveConnections int      `json:"activeConnections"`
	Tags              []string `json:"tags"`
	SharedRole        string   `json:"sharedRole"`
	Owner             string   `json:"owner"`
	Status            struct {
		Phase       string `json:"phase"`
		HibernateAt string `json:"hibernateAt"`
	} `json:"status"`
}

// feed is an open WebSocket feed whose messages arrive on messages; it is
// closed when the test ends.
type feed struct {
	conn     *websocket.Conn
	messages chan feedMessage
	closed   chan error
}

// dialFeed opens path as user, with the token in Sec-WebSocket-Protocol as
// a browser sends it. It returns the handshake response on failure.
func dialFeed(t testing.TB, user, path string) (*feed, *http.Response, error) {
	t.Helper()
	return dialFeedAt(t, stack.BridgeURL, user, path)
}

// dialFeedAt is dialFeed on the bridge at bridgeURL.
func dialFeedAt(t testing.TB, bridgeURL, user, path string) (*feed, *http.Response, error) {
	t.Helper()
	header := http.Header{}
	if user != "" {
		header.Set("Sec-WebSocket-Protocol", "streamspace.v1, base64url.bearer.authorization.k8s.io."+
			base64.RawURLEncoding.EncodeToString([]byte(userToken(t, user))))
	}
	return dialFeedAtWithHeader(t, bridgeURL, path, header)
}

func dialFeedWithHeader(t testing.TB, path string, header http.Header) (*feed, *http.Response, error) {
	t.Helper()
	return dialFeedAtWithHeader(t, stack.BridgeURL, path, header)
}

func dialFeedAtWithHeader(t testing.TB, bridgeURL, path string, header http.Header) (*feed, *http.Response, error) {
	t.Helper()
	url := "ws" + strings.TrimPrefix(bridgeURL, "http") + path
	dialer := websocket.Dialer{HandshakeTimeout: 20 * time.Second}
	conn, resp, err := dialer.Dial(url, header)
	if err != nil {
		return nil, resp, err
	}
	f := &feed{conn: conn, messages: make(chan feedMessage, 10000), closed: make(chan error, 1)}
	go func() {
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				f.closed <- err
				close(f.messages)
				return
			}
			m := feedMessage{received: time.Now(), raw: string(data)}
			if strings.HasPrefix(string(data), "{") {
				_ = json.Unmarshal(data, &m)
			}
			f.messages <- m
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return f, resp, nil
}

func mustDialFeed(t testing.TB, user, path string) *feed {
	t.Helper()
	f, resp, err := dialFeed(t, user, path)
	if err != nil {
		t.Fatalf("open %s as %s: %v (%s)", path, user, err, responseBody(resp))
	}
	return f
}

func responseBody(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	data, _ := io.ReadAll(resp.Body)
	return resp.Status + " " + string(data)
}

// next waits for the first message that satisfies match and returns it,
// with every message seen before it.
func (f *feed) next(t testing.TB, timeout time.Duration, what string, match func(feedMessage) bool) (feedMessage, []feedMessage) {
	t.Helper()
	var seen []feedMessage
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-f.messages:
			if !ok {
				t.Fatalf("feed closed while waiting for %s: %v", what, <-f.closed)
			}
			if match(m) {
				return m, seen
			}
			seen = append(seen, m)
		case <-deadline:
			t.Fatalf("no %s within %s; got %d other messages", what, timeout, len(seen))
		}
	}
}

func isChange(change, name string) func(feedMessage) bool {
	return func(m feedMessage) bool {
		return m.Type == "session_change" && m.Change == change && m.Session.Name == name
	}
}

func snapshotWith(name string) func(feedMessage) bool {
	return func(m feedMessage) bool {
		if m.Type != "sessions_update" {
			return false
		}
		for _, s := range m.Sessions {
			if s.Name == name {
				return true
			}
		}
		return false
	}
}

func sessionYAML(name, template string) string {
	return "apiVersion: stream.space/v1alpha1\nkind: Session\nmetadata: {name: " + name + "}\nspec: {template: " + template + "}\n"
}

// uniqueName makes names unique per run, so tests can repeat (-count) on one stack.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%x%d", prefix, time.Now().UnixNano()&0xffffff, uniqueNames.Add(1))
}

var uniqueNames atomic.Int64
