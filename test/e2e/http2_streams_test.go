package e2e

import (
	"crypto/tls"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	certutil "k8s.io/client-go/util/cert"

	"github.com/streamspace/controlplane/internal/devstack/credentials"
)

// streamspace-apiserver allows 25 concurrent HTTP/2 streams per client
// connection, not the library's 100: the HTTP/2 server scans every open
// stream of a connection for each frame it writes, and kube-apiserver's
// aggregator, which carries every proxied request and watch, opens another
// connection only when the limit is reached (docs/heartbeats.md, round 32).
// A client learns the limit from the server's first SETTINGS frame; this
// reads it as kube-apiserver's transport does, over TLS with ALPN h2,
// verifying the serving certificate against the APIService's CA bundle.
func TestServerAdvertisesItsHTTP2StreamLimit(t *testing.T) {
	roots, err := certutil.NewPool(stack.StreamspaceCA)
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(stack.Ports.Streamspace)),
		&tls.Config{RootCAs: roots, ServerName: credentials.StreamspaceService + "." + credentials.Namespace + ".svc",
			NextProtos: []string{http2.NextProtoTLS}})
	if err != nil {
		t.Fatalf("TLS to streamspace-apiserver: %v", err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().NegotiatedProtocol; got != http2.NextProtoTLS {
		t.Fatalf("negotiated protocol %q, want %q", got, http2.NextProtoTLS)
	}
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	framer := http2.NewFramer(conn, conn)
	if err := framer.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	frame, err := framer.ReadFrame()
	if err != nil {
		t.Fatalf("the server's first frame: %v", err)
	}
	settings, ok := frame.(*http2.SettingsFrame)
	if !ok || settings.IsAck() {
		t.Fatalf("the server's first frame is %v, want its SETTINGS", frame)
	}
	limit, ok := settings.Value(http2.SettingMaxConcurrentStreams)
	if !ok {
		t.Fatalf("the server's SETTINGS carry no %v: %v", http2.SettingMaxConcurrentStreams, settings)
	}
	if limit != 25 {
		t.Errorf("the server allows %d concurrent streams per connection, want 25", limit)
	}
}
