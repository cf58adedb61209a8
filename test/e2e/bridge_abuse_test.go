package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/streamspace/controlplane/internal/devstack"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// Tests of the bridge under abuse: made-up tokens, floods, oversized
// bodies, slow readers. Each starts a bridge of its own with the limits it
// tests, so the shared bridge's limits never interfere with other tests.

func startBridge(t *testing.T, name string, args ...string) *devstack.ExtraBridge {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := stack.StartExtraBridge(ctx, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Logf("stop %s: %v", name, err)
		}
	})
	return b
}

// rssBytes reads VmRSS of a process.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

func randomToken() string {
	buf := make([]byte, 24)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}

func callWithToken(client *http.Client, url, token, method, body string) (*http.Response, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, string(data), err
}

func b64(token string) string { return base64.RawURLEncoding.EncodeToString([]byte(token)) }

// 3,000 requests with different made-up tokens are all 401, and the bridge
// keeps nothing of them: its RSS grows by less than 32 MiB.
func TestBridgeMadeUpTokensAreRefusedWithoutGrowingMemory(t *testing.T) {
	// No per-IP limit: every request reaches the token check (this test is
	// about what refused tokens cost, not about being rate limited).
	b := startBridge(t, "streamspace-bridge-made-up-tokens", "--ip-request-rate=0")
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	send := func(n int) map[int]int {
		statuses := map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		work := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range work {
					status := 0
					if resp, _, err := callWithToken(client, b.URL+"/api/v1/sessions", randomToken(), "GET", ""); err == nil {
						status = resp.StatusCode
					}
					mu.Lock()
					statuses[status]++
					mu.Unlock()
				}
			}()
		}
		for range n {
			work <- struct{}{}
		}
		close(work)
		wg.Wait()
		return statuses
	}
	send(200) // warm up: connections, first allocations
	before := rssBytes(t, b.PID())
	statuses := send(3000)
	after := rssBytes(t, b.PID())
	t.Logf("RSS of the bridge: %.1f MiB before, %.1f MiB after 3,000 made-up tokens (%+.1f MiB); answers %v",
		float64(before)/(1<<20), float64(after)/(1<<20), float64(after-before)/(1<<20), statuses)
	if statuses[http.StatusUnauthorized] != 3000 {
		t.Errorf("answers %v, want 3000 × 401", statuses)
	}
	if growth := after - before; growth >= 32<<20 {
		t.Errorf("RSS grew by %.1f MiB, want less than 32 MiB", float64(growth)/(1<<20))
	}
	// A real user is still served.
	if resp, body, err := callWithToken(client, b.URL+"/api/v1/sessions", userToken(t, "alice"), "GET", ""); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("alice after the made-up tokens: %v %v %s", err, resp, body)
	}
}

func wantTooManyRequests(t *testing.T, what string, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("%s: %d %s, want 429", what, resp.StatusCode, body)
	}
	if seconds, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || seconds < 1 {
		t.Errorf("%s: Retry-After %q, want whole seconds ≥ 1", what, resp.Header.Get("Retry-After"))
	}
	var status struct {
		Kind, Reason, Error string
		Code                int
	}
	mustDecode(t, body, &status)
	if status.Kind != "Status" || status.Code != 429 || status.Reason != "TooManyRequests" || status.Error == "" {
		t.Errorf("%s: body %s, want a Status with code 429 and an error", what, body)
	}
}

// Over the per-user or per-IP request rate, the bridge answers 429 with
// Retry-After; another user is not affected by one user's limit.
func TestBridgeRequestRateLimits(t *testing.T) {
	b := startBridge(t, "streamspace-bridge-rate-limits",
		"--user-request-rate=0.01", "--user-request-burst=5", "--ip-request-rate=0.01", "--ip-request-burst=20")
	client := &http.Client{Timeout: 30 * time.Second}
	alice, bob := userToken(t, "alice"), userToken(t, "bob")
	for i := range 5 {
		if resp, body, err := callWithToken(client, b.URL+"/api/v1/sessions", alice, "GET", ""); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("alice's request %d within her burst: %v %s", i, err, body)
		}
	}
	resp, body, err := callWithToken(client, b.URL+"/api/v1/sessions", alice, "GET", "")
	if err != nil {
		t.Fatal(err)
	}
	wantTooManyRequests(t, "alice's 6th request (burst 5)", resp, body)
	if resp, body, err := callWithToken(client, b.URL+"/api/v1/sessions", bob, "GET", ""); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("bob, while alice is limited: %v %s", err, body)
	}
	// 7 requests so far from this IP; the IP's burst is 20.
	for i := 7; i < 20; i++ {
		if resp, body, err := callWithToken(client, b.URL+"/api/v1/sessions", randomToken(), "GET", ""); err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("request %d from this IP, within its burst: %v %s, want 401", i, err, body)
		}
	}
	resp, body, err = callWithToken(client, b.URL+"/api/v1/sessions", randomToken(), "GET", "")
	if err != nil {
		t.Fatal(err)
	}
	wantTooManyRequests(t, "the IP's 21st request (burst 20)", resp, body)
}

// Over the per-user feed limit a handshake is answered 429 with
// Retry-After; closing a feed frees its place.
func TestBridgeFeedLimitPerUser(t *testing.T) {
	b := startBridge(t, "streamspace-bridge-feed-limits", "--max-feeds-per-user=2")
	dial := func(user string) (*websocket.Conn, *http.Response, error) {
		header := http.Header{"Sec-WebSocket-Protocol": {"streamspace.v1, base64url.bearer.authorization.k8s.io." + b64(userToken(t, user))}}
		dialer := websocket.Dialer{HandshakeTimeout: 20 * time.Second}
		return dialer.Dial("ws"+strings.TrimPrefix(b.URL, "http")+"/api/v1/ws/sessions", header)
	}
	var open []*websocket.Conn
	t.Cleanup(func() {
		for _, c := range open {
			c.Close()
		}
	})
	for i := range 2 {
		conn, resp, err := dial("alice")
		if err != nil {
			t.Fatalf("alice's feed %d: %v (%s)", i, err, responseBody(resp))
		}
		open = append(open, conn)
	}
	_, resp, err := dial("alice")
	if err == nil {
		t.Fatal("alice's third feed was accepted with --max-feeds-per-user=2")
	}
	wantTooManyRequests(t, "alice's third feed", resp, responseText(resp))
	conn, resp, err := dial("bob")
	if err != nil {
		t.Fatalf("bob's feed while alice is at her limit: %v (%s)", err, responseBody(resp))
	}
	open = append(open, conn)
	open[0].Close()
	eventually(t, 30*time.Second, "a feed slot for alice after closing one", func() (bool, error) {
		conn, resp, err := dial("alice")
		if err != nil {
			return false, fmt.Errorf("%v (%s)", err, responseBody(resp))
		}
		open = append(open, conn)
		return true, nil
	})
}

// A body over the bound is answered 413 with a Status, before the API is asked.
func TestBridgeOversizedBodyIs413(t *testing.T) {
	big := `{"template":"firefox","tags":["` + strings.Repeat("x", 2<<20) + `"]}`
	for _, path := range []string{"/api/v1/sessions", "/api/v1/templates", "/api/v1/catalog/templates/firefox/install"} {
		status, body := bridgeCall(t, "alice", "POST", path, big)
		if status != http.StatusRequestEntityTooLarge {
			t.Fatalf("POST %s with 2 MiB: %d %.300s, want 413", path, status, body)
		}
		var s struct {
			Kind, Reason, Error string
			Code                int
		}
		mustDecode(t, body, &s)
		if s.Kind != "Status" || s.Code != 413 || s.Reason != "RequestEntityTooLarge" || s.Error == "" {
			t.Errorf("POST %s: body %s, want a Status with code 413 and an error", path, body)
		}
	}
}

// A client that does not read its feed is disconnected once its queue is
// over its bound in bytes, while a client that reads keeps receiving.
func TestBridgeSlowFeedReaderIsDroppedOthersKeepReceiving(t *testing.T) {
	b := startBridge(t, "streamspace-bridge-slow-reader", "--client-buffer-bytes=1048576", "--snapshot-interval=1ms", "--user-request-rate=0")
	ss, _ := clients(t, "alice")
	ctx := context.Background()
	prefix := uniqueName("slow")
	tags := make([]string, 64)
	for i := range tags {
		tags[i] = fmt.Sprintf("%s-%02d-%s", "padding", i, strings.Repeat("p", 40))
	}
	var names []string
	for i := range 40 {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if _, err := ss.StreamV1alpha1().Sessions("alice").Create(ctx, &streamv1alpha1.Session{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       streamv1alpha1.SessionSpec{Template: "firefox", State: "hibernated", Tags: tags},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	t.Cleanup(func() {
		for _, n := range names {
			_ = ss.StreamV1alpha1().Sessions("alice").Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})

	url := "ws" + strings.TrimPrefix(b.URL, "http") + "/api/v1/ws/sessions"
	header := http.Header{"Sec-WebSocket-Protocol": {"streamspace.v1, base64url.bearer.authorization.k8s.io." + b64(userToken(t, "alice"))}}
	// The slow client's socket buffers little, so the bridge's queue is
	// what fills.
	slowDialer := websocket.Dialer{HandshakeTimeout: 20 * time.Second, NetDialContext: (&net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var sockErr error
		err := c.Control(func(fd uintptr) {
			sockErr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return sockErr
	}}).DialContext}
	slow, resp, err := slowDialer.Dial(url, header)
	if err != nil {
		t.Fatalf("slow client: %v (%s)", err, responseBody(resp))
	}
	defer slow.Close()
	fast, resp, err := dialFeedAt(t, b.URL, "alice", "/api/v1/ws/sessions")
	if err != nil {
		t.Fatalf("reading client: %v (%s)", err, responseBody(resp))
	}
	fast.next(t, feedTimeout, "first snapshot", func(m feedMessage) bool { return m.Type == "sessions_update" })

	// Each patch sends a change and a snapshot of the 40 sessions (~170 KiB):
	// 100 of them are far more than the slow client's socket buffers and
	// its 1 MiB queue can hold.
	var last string
	for i := range 100 {
		last = fmt.Sprintf("round-%d", i)
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"tags": append(tags[:63:63], last)}})
		if _, err := ss.StreamV1alpha1().Sessions("alice").Patch(ctx, names[0], types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		fast.next(t, feedTimeout, "the change of "+last, func(m feedMessage) bool {
			return isChange("modified", names[0])(m) && len(m.Session.Tags) == 64 && m.Session.Tags[63] == last
		})
	}
	// The slow client now reads: what was in its socket, then the end.
	_ = slow.SetReadDeadline(time.Now().Add(feedTimeout))
	read := 0
	for {
		_, _, err := slow.ReadMessage()
		if err == nil {
			read++
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the slow client was not disconnected (read %d messages, then nothing)", read)
		}
		t.Logf("slow client disconnected after %d messages: %v", read, err)
		break
	}
	// The reading client is still served.
	patch := []byte(`{"spec":{"state":"hibernated","tags":["after"]}}`)
	if _, err := ss.StreamV1alpha1().Sessions("alice").Patch(ctx, names[1], types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	fast.next(t, feedTimeout, "a change after the slow client was dropped", isChange("modified", names[1]))
}

func responseText(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}
