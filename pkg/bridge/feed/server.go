// Package feed serves the bridge's WebSocket feeds: sessions and cluster
// metrics driven by watches shared per token, and pod logs. Every watch and
// log stream is opened with the caller's token (see pkg/bridge/identity).
package feed

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
	"github.com/streamspace/controlplane/pkg/bridge/shares"
)

// Config is what the feeds need; zero values take the defaults.
type Config struct {
	// AllowedOrigins of WebSocket handshakes (scheme://host[:port], lower
	// case); empty means the request's own host only.
	AllowedOrigins []string
	// SnapshotInterval coalesces sessions_update snapshots (250ms).
	SnapshotInterval time.Duration
	// MetricsInterval is the longest time between two metrics_update (5s).
	MetricsInterval time.Duration
	// ClientBuffer is the queue length per WebSocket client, in messages (256).
	ClientBuffer int
	// ClientBufferBytes bounds the bytes queued per WebSocket client (8 MiB);
	// a client over either bound is disconnected.
	ClientBufferBytes int
	// PingInterval of WebSocket keep-alives (20s); no pong for two intervals
	// disconnects.
	PingInterval time.Duration
	// WriteTimeout bounds writing one message (10s).
	WriteTimeout time.Duration
}

// Defaults returns the configuration a zero value stands for, the flags'
// defaults.
func Defaults() Config {
	return Config{
		SnapshotInterval:  250 * time.Millisecond,
		MetricsInterval:   5 * time.Second,
		ClientBuffer:      256,
		ClientBufferBytes: 8 << 20,
		PingInterval:      20 * time.Second,
		WriteTimeout:      10 * time.Second,
	}
}

func (c *Config) setDefaults() {
	d := Defaults()
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = d.SnapshotInterval
	}
	if c.MetricsInterval <= 0 {
		c.MetricsInterval = d.MetricsInterval
	}
	if c.ClientBuffer <= 0 {
		c.ClientBuffer = d.ClientBuffer
	}
	if c.ClientBufferBytes <= 0 {
		c.ClientBufferBytes = d.ClientBufferBytes
	}
	if c.PingInterval <= 0 {
		c.PingInterval = d.PingInterval
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
}

// Server serves the feeds. Create it with New.
type Server struct {
	cfg      Config
	watches  *watchPool
	upgrader websocket.Upgrader
	// shares finds the sessions shared with a caller; nil finds none.
	shares *shares.Index

	// stopping is closed when shutdown begins: feeds close with 1001.
	stopping     chan struct{}
	stoppingOnce sync.Once
	clients      sync.WaitGroup
}

// New builds the feeds' server; sharedSessions finds the sessions shared
// with a caller (nil: none).
func New(cfg Config, sharedSessions *shares.Index) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, watches: newWatchPool(), shares: sharedSessions, stopping: make(chan struct{})}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  8192,
		CheckOrigin:      s.checkOrigin,
		Subprotocols:     []string{identity.FeedSubprotocol},
	}
	return s
}

// Shutdown closes every feed with 1001 (going away), so clients reconnect
// elsewhere; Wait tells when they are gone.
func (s *Server) Shutdown() {
	s.stoppingOnce.Do(func() { close(s.stopping) })
}

// Wait blocks until every WebSocket client has finished.
func (s *Server) Wait() { s.clients.Wait() }

// StopWatches ends every shared watch.
func (s *Server) StopWatches() { s.watches.stopAll() }

// checkOrigin allows handshakes without an Origin (non-browser clients,
// which carry their token explicitly), from the bridge's own host, and from
// AllowedOrigins.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	origin = strings.ToLower(strings.TrimSuffix(origin, "/"))
	for _, allowed := range s.cfg.AllowedOrigins {
		if origin == allowed {
			return true
		}
	}
	klog.FromContext(r.Context()).V(2).Info("refused a WebSocket handshake from a foreign origin", "origin", origin, "host", r.Host)
	return false
}

// requireHandshake answers 400 to a request that is not a WebSocket
// handshake, and reports whether it is one.
func requireHandshake(w http.ResponseWriter, r *http.Request) bool {
	if !identity.IsWebSocketHandshake(r) {
		httpjson.Error(w, http.StatusBadRequest, "this is a WebSocket endpoint: open it with a WebSocket client")
		return false
	}
	return true
}

// feedScope starts a feed of a namespace: a WebSocket handshake, its caller
// and the namespace it watches (see identity.Scope). When ok is false the
// request has been answered.
func feedScope(w http.ResponseWriter, r *http.Request) (c *identity.Caller, namespace string, ok bool) {
	if !requireHandshake(w, r) {
		return nil, "", false
	}
	return identity.Scope(w, r)
}
