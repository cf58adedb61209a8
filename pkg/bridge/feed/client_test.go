package feed

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"k8s.io/component-base/metrics/testutil"
)

// A client that stops reading is dropped once its bounded queue is full (in
// messages or in bytes), while another client of the same broadcast receives
// every message: the sender never waits for the slow one.
func TestSlowClientIsDroppedWithoutSlowingOthers(t *testing.T) {
	RegisterMetrics()
	tests := []struct {
		name          string
		buffer, bytes int
		wantReason    string
	}{
		{"queue bounded in messages", 16, 64 << 20, "messages queued"},
		{"queue bounded in bytes", 100000, 512 << 10, "bytes queued"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { testSlowClientIsDropped(t, tt.buffer, tt.bytes, tt.wantReason) })
	}
}

func testSlowClientIsDropped(t *testing.T, buffer, maxBytes int, wantReason string) {
	const (
		messages = 1000
		size     = 32 << 10 // 32 MiB in all: more than the kernel buffers a stalled reader can absorb
	)
	s := New(Config{ClientBuffer: buffer, ClientBufferBytes: maxBytes, WriteTimeout: 5 * time.Second, PingInterval: time.Minute}, nil)
	upgraded := make(chan *wsClient, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.upgrade(w, r, "test")
		if err != nil {
			t.Error(err)
			return
		}
		upgraded <- c
	}))
	defer srv.Close()
	defer s.Shutdown()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	dial := func() *websocket.Conn {
		conn, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		return conn
	}
	slowConn := dial() // never reads until the end
	defer slowConn.Close()
	slow := <-upgraded
	fastConn := dial()
	defer fastConn.Close()
	fast := <-upgraded

	received := make(chan int, 1)
	go func() {
		n := 0
		for n < messages {
			_, data, err := fastConn.ReadMessage()
			if err != nil {
				t.Errorf("fast client after %d messages: %v", n, err)
				break
			}
			if !bytes.HasPrefix(data, []byte{byte(n % 251)}) {
				t.Errorf("fast client: message %d out of order", n)
			}
			n++
		}
		received <- n
	}()

	droppedBefore, _ := testutil.GetCounterMetricValue(feedClientsDropped.WithLabelValues("test", "slow"))
	payload := make([]byte, size)
	slowAccepted, fastRefused := 0, 0
	for i := 0; i < messages; i++ {
		payload[0] = byte(i % 251)
		m := outgoing{kind: websocket.TextMessage, data: append([]byte(nil), payload...)}
		if slow.send(m) {
			slowAccepted++
		}
		if !fast.send(m) {
			fastRefused++
		}
		// Messages come no faster than the fast client reads them (as watch
		// events do); the slow client reads nothing.
		for len(fast.queue) >= buffer-1 || fast.queuedBytes.Load()+size > int64(maxBytes) {
			select {
			case <-fast.done:
				t.Fatalf("fast client closed after %d messages (code %d)", i, fast.closeCode)
			case <-time.After(time.Millisecond):
			}
		}
	}
	if n := <-received; n != messages || fastRefused != 0 {
		t.Errorf("fast client received %d of %d messages (%d refused)", n, messages, fastRefused)
	}
	select {
	case <-slow.done:
	default:
		t.Fatalf("slow client still connected after %d messages (%d accepted)", messages, slowAccepted)
	}
	if slow.closeCode != websocket.CloseTryAgainLater || !strings.Contains(slow.closeText, wantReason) {
		t.Errorf("slow client closed with %d %q, want %d (try again later) for %s", slow.closeCode, slow.closeText, websocket.CloseTryAgainLater, wantReason)
	}
	if slowAccepted >= messages {
		t.Errorf("slow client accepted all %d messages", slowAccepted)
	}
	droppedAfter, _ := testutil.GetCounterMetricValue(feedClientsDropped.WithLabelValues("test", "slow"))
	if droppedAfter != droppedBefore+1 {
		t.Errorf("streamspace_bridge_feed_clients_dropped_total{reason=slow} went from %v to %v, want +1", droppedBefore, droppedAfter)
	}
	select {
	case <-fast.done:
		t.Errorf("fast client was closed too (code %d)", fast.closeCode)
	default:
	}
}

// The HTTP server's read and write timeouts bound REST requests; a feed
// outlives them (its deadlines are per message and per pong).
func TestFeedOutlivesServerRequestTimeouts(t *testing.T) {
	s := New(Config{PingInterval: 100 * time.Millisecond, WriteTimeout: time.Second}, nil)
	defer s.Shutdown()
	upgraded := make(chan *wsClient, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.upgrade(w, r, "test")
		if err != nil {
			t.Error(err)
			return
		}
		upgraded <- c
		<-c.done
	}))
	const requestTimeout = 200 * time.Millisecond
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = requestTimeout, requestTimeout
	srv.Start()
	defer srv.Close()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := <-upgraded
	go func() { // the client's reader answers pings with pongs
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	time.Sleep(5 * requestTimeout)
	if !c.sendText("after the request timeouts") {
		t.Fatal("the feed was closed by the server's request timeouts")
	}
	time.Sleep(5 * requestTimeout)
	select {
	case <-c.done:
		t.Fatalf("feed closed (code %d %q) after the server's request timeouts", c.closeCode, c.closeText)
	default:
	}
}
