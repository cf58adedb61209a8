package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	certutil "k8s.io/client-go/util/cert"

	"github.com/streamspace/controlplane/pkg/apiserver/cabundles"
)

// TestNoAnonymousWindowOnStart starts a new streamspace-apiserver on the
// stack's database and sends it requests the way kube-apiserver's
// aggregator does (its front-proxy client certificate, the user in
// X-Remote-User) from the first moment it accepts connections. Its
// delegated authentication loads the front-proxy CA from
// kube-system/extension-apiserver-authentication while it already listens;
// no request may be answered as system:anonymous meanwhile: each is served
// as alice, or held and answered 503 with Retry-After.
func TestNoAnonymousWindowOnStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	certFile, keyFile := stack.FrontProxyClientCert()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := certutil.NewPool(stack.StreamspaceCA)
	if err != nil {
		t.Fatal(err)
	}

	base, stop, err := stack.LaunchExtraStreamspace("streamspace-apiserver-fresh")
	if err != nil {
		t.Fatalf("launch a streamspace-apiserver: %v", err)
	}
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("stop it: %v", err)
		}
	}()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}

	// Wait for the first moment the port accepts a connection.
	for {
		conn, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("streamspace-apiserver never listened: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}

	const workers, requests = 16, 600
	var (
		sent, served, held atomic.Int64
		mu                 sync.Mutex
		failures           []string
	)
	path := base + "/apis/stream.space/v1alpha1/namespaces/alice/sessions?limit=1"
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A connection of its own per worker, as the aggregator's
			// proxy keeps several.
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: "localhost"},
			}}
			for sent.Add(1) <= requests && ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
				req.Header.Set("X-Remote-User", "alice")
				req.Header.Set("X-Remote-Group", "system:authenticated")
				resp, err := client.Do(req)
				if err != nil {
					// The listener may still be coming up on a new connection.
					var opErr *net.OpError
					if errors.As(err, &opErr) {
						continue
					}
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusOK:
					served.Add(1)
				case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
					held.Add(1)
				default:
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%d: %s", resp.StatusCode, strings.TrimSpace(string(body))))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d requests served as alice, %d answered 503 while the CA bundles loaded", served.Load(), held.Load())
	if len(failures) > 0 {
		t.Fatalf("%d requests failed, e.g. %q", len(failures), failures[0])
	}
	if served.Load() == 0 {
		t.Fatal("no request was served")
	}

	// The readiness check that gates the CA bundles exists by name.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}}}
	resp, err := client.Get(base + "/readyz?verbose")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "[+]" + cabundles.CheckName + " ok"; resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		t.Fatalf("/readyz?verbose: %d %s; want 200 with %q", resp.StatusCode, body, want)
	}
}
