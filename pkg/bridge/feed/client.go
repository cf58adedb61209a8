package feed

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"k8s.io/klog/v2"
)

// WebSocket close codes beyond RFC 6455's, in the private range: 4000 +
// the HTTP status that explains them.
const (
	closeUnauthorized = 4401
	closeForbidden    = 4403
)

// wsClient is one WebSocket connection. Messages go through a queue bounded
// in messages and in bytes, drained by one writer goroutine: a client that
// lets the queue fill up is disconnected, so it never slows anyone else down
// and never holds more than maxQueuedBytes of the bridge's memory. A reader
// goroutine answers pings and notices pongs; no pong for two ping intervals
// ends it.
type wsClient struct {
	feed   string
	conn   *websocket.Conn
	logger klog.Logger
	queue  chan outgoing
	done   chan struct{} // closed when the client is finished, for any reason

	maxQueuedBytes int64
	queuedBytes    atomic.Int64

	closeOnce sync.Once
	closeCode int
	closeText string

	// receive, when set, is given every data message the client sends
	// (an interactive feed's input); otherwise they are read and dropped.
	receive func(kind int, data []byte)
}

type outgoing struct {
	kind int // websocket.TextMessage
	data []byte
}

// upgrade switches the request to WebSocket and starts the client's pumps.
// On failure the upgrader has already answered with an HTTP error.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, feed string) (*wsClient, error) {
	return s.upgradeInteractive(w, r, feed, nil)
}

// upgradeInteractive is upgrade for a feed that reads its client's
// messages: receive gets each one, in order, on the reader goroutine.
func (s *Server) upgradeInteractive(w http.ResponseWriter, r *http.Request, feed string, receive func(kind int, data []byte)) (*wsClient, error) {
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil, fmt.Errorf("upgrade to WebSocket: %w", err)
	}
	// The HTTP server's request deadlines stay on a hijacked connection;
	// from here the pumps set their own, per message and per pong.
	_ = conn.NetConn().SetDeadline(time.Time{})
	logger := klog.LoggerWithValues(klog.LoggerWithName(klog.FromContext(r.Context()), "feed"), "feed", feed, "remote", conn.RemoteAddr().String())
	c := &wsClient{
		feed: feed, conn: conn, logger: logger, queue: make(chan outgoing, s.cfg.ClientBuffer), done: make(chan struct{}),
		maxQueuedBytes: int64(s.cfg.ClientBufferBytes), receive: receive,
	}
	feedClients.WithLabelValues(feed).Inc()
	s.clients.Add(1)
	go c.readPump(s.cfg.PingInterval)
	go func() {
		defer s.clients.Done()
		defer feedClients.WithLabelValues(feed).Dec()
		c.writePump(s.cfg.PingInterval, s.cfg.WriteTimeout, s.stopping)
	}()
	return c, nil
}

// sendJSON queues a message; false when the client is gone or was too slow
// (and is now being disconnected).
func (c *wsClient) sendJSON(v any) bool {
	data, err := json.Marshal(v)
	if err != nil {
		c.logger.Error(err, "encode a feed message")
		return false
	}
	return c.send(outgoing{kind: websocket.TextMessage, data: data})
}

func (c *wsClient) sendText(line string) bool {
	return c.send(outgoing{kind: websocket.TextMessage, data: []byte(line)})
}

func (c *wsClient) send(m outgoing) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	size := int64(len(m.data))
	// The bound is on the backlog: one message larger than it (a big
	// snapshot) still goes to a client that has nothing else queued.
	if queued := c.queuedBytes.Add(size); queued > c.maxQueuedBytes && queued > size {
		c.queuedBytes.Add(-size)
		c.dropSlow(fmt.Sprintf("client too slow: more than %d bytes queued", c.maxQueuedBytes))
		return false
	}
	select {
	case c.queue <- m:
		return true
	default:
		c.queuedBytes.Add(-size)
		c.dropSlow(fmt.Sprintf("client too slow: %d messages queued", cap(c.queue)))
		return false
	}
}

// dropSlow disconnects a client that does not keep up with its feed.
func (c *wsClient) dropSlow(reason string) {
	feedClientsDropped.WithLabelValues(c.feed, "slow").Inc()
	c.logger.V(2).Info("disconnecting a slow WebSocket client",
		"queuedMessages", len(c.queue), "queuedBytes", c.queuedBytes.Load())
	c.close(websocket.CloseTryAgainLater, reason)
	// A writer blocked on this client's full TCP window gives up soon.
	_ = c.conn.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
}

// written accounts for a message that left the queue.
func (c *wsClient) written(m outgoing) {
	c.queuedBytes.Add(-int64(len(m.data)))
}

// close ends the client with a close frame; the first reason wins.
func (c *wsClient) close(code int, text string) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeText = code, text
		close(c.done)
	})
}

func (c *wsClient) writePump(pingInterval, writeTimeout time.Duration, stopping <-chan struct{}) {
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	defer c.conn.Close()
	for {
		select {
		case m := <-c.queue:
			if err := c.write(m, writeTimeout); err != nil {
				c.close(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				c.close(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-stopping:
			c.close(websocket.CloseGoingAway, "server shutting down")
		case <-c.done:
			if c.closeCode != websocket.CloseAbnormalClosure && c.closeCode != websocket.CloseTryAgainLater {
				c.flush(writeTimeout) // e.g. the error message that explains the close
				msg := websocket.FormatCloseMessage(c.closeCode, truncateCloseText(c.closeText))
				_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			}
			return
		}
	}
}

// write sends one message that left the queue.
func (c *wsClient) write(m outgoing, writeTimeout time.Duration) error {
	c.written(m)
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.conn.WriteMessage(m.kind, m.data); err != nil {
		return err
	}
	feedMessages.WithLabelValues(c.feed).Inc()
	return nil
}

// flush writes what is still queued, without blocking on new messages.
func (c *wsClient) flush(writeTimeout time.Duration) {
	for {
		select {
		case m := <-c.queue:
			if err := c.write(m, writeTimeout); err != nil {
				return
			}
		default:
			return
		}
	}
}

func (c *wsClient) readPump(pingInterval time.Duration) {
	c.conn.SetReadLimit(64 << 10)
	deadline := func() { _ = c.conn.SetReadDeadline(time.Now().Add(2 * pingInterval)) }
	deadline()
	c.conn.SetPongHandler(func(string) error { deadline(); return nil })
	for {
		kind, data, err := c.conn.ReadMessage()
		if err != nil {
			var closeErr *websocket.CloseError
			switch {
			case asCloseError(err, &closeErr):
				c.close(closeErr.Code, "")
			case isTimeout(err):
				feedClientsDropped.WithLabelValues(c.feed, "unresponsive").Inc()
				c.close(websocket.CloseAbnormalClosure, "")
				_ = c.conn.Close()
			default:
				c.close(websocket.CloseAbnormalClosure, "")
			}
			return
		}
		deadline() // any message from the client shows it is alive
		if c.receive != nil {
			c.receive(kind, data)
		}
	}
}

func asCloseError(err error, target **websocket.CloseError) bool {
	ce, ok := err.(*websocket.CloseError)
	if ok {
		*target = ce
	}
	return ok
}

func isTimeout(err error) bool {
	type timeout interface{ Timeout() bool }
	t, ok := err.(timeout)
	return ok && t.Timeout()
}

// truncateCloseText keeps a close reason within the 123 bytes a close frame allows.
func truncateCloseText(text string) string {
	if len(text) > 120 {
		return text[:117] + "..."
	}
	return text
}
