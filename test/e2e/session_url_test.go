package e2e

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/keyutil"

	"github.com/streamspace/controlplane/internal/devstack"
	"github.com/streamspace/controlplane/internal/devstack/ports"
)

// The ingress-nginx annotations the session controller writes on a session
// Ingress (the test reads them as any ingress controller would).
const (
	authURLAnnotation             = "nginx.ingress.kubernetes.io/auth-url"
	authSigninAnnotation          = "nginx.ingress.kubernetes.io/auth-signin"
	authResponseHeadersAnnotation = "nginx.ingress.kubernetes.io/auth-response-headers"
	authMethodAnnotation          = "nginx.ingress.kubernetes.io/auth-method"
	nginxBinary                   = "/usr/sbin/nginx"
)

// TestSessionURLForwardAuth: a session's URL admits only who may use the
// session. The controller's Ingress for alice's session in a namespace she
// shares with bob carries forward-auth annotations naming the bridge; real
// nginx, configured from that Ingress as ingress-nginx would be
// (auth_request to auth-url, 401 to auth-signin), fronts a real HTTP and
// WebSocket server standing in for the desktop. Without credentials a
// browser is sent to sign in and the desktop sees nothing; bob, whom RBAC
// lets use sessions there, is refused by the owner rule; alice and the
// admins (assign) reach the desktop, WebSocket included; forged and expired
// OIDC tokens are refused. In the same namespace the bridge's logs feed
// gives bob no log of alice's pod.
func TestSessionURLForwardAuth(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(nginxBinary); err != nil {
		t.Fatalf("nginx is needed as the ingress (apt-get install nginx; .ci/run installs it): %v", err)
	}
	const namespace = "session-url-shared"
	ctx := context.Background()
	_, adminKube := clients(t, "admin")
	aliceSS, _ := clients(t, "alice")
	createSharedNamespace(t, namespace, "alice", "bob")
	session := createSession(t, aliceSS, namespace, "alices-desk", "firefox")

	// The Ingress the controller made for the session, once it names the
	// bridge's forward-auth endpoint.
	var ing *networkingv1.Ingress
	eventually(t, time.Minute, "the session's Ingress with forward-auth", func() (bool, error) {
		list, err := adminKube.NetworkingV1().Ingresses(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for i := range list.Items {
			for _, ref := range list.Items[i].OwnerReferences {
				if ref.UID == session.UID && list.Items[i].Annotations[authURLAnnotation] != "" {
					ing = &list.Items[i]
					return true, nil
				}
			}
		}
		return false, nil
	})
	wantAuthURL := stack.BridgeURL + "/auth/sessions/" + namespace + "/" + session.Name
	if got := ing.Annotations[authURLAnnotation]; got != wantAuthURL {
		t.Fatalf("auth-url %q, want %q", got, wantAuthURL)
	}
	signinURL, _, _ := strings.Cut(ing.Annotations[authSigninAnnotation], "?")
	if signinURL != stack.BridgeURL+"/auth/login" {
		t.Fatalf("auth-signin %q, want the bridge's sign-in page", ing.Annotations[authSigninAnnotation])
	}
	host := ing.Spec.Rules[0].Host

	desktop := startDesktop(t)
	nginxAddr := startIngressNginx(t, ing, desktop.addr)
	through := func(token string, browser bool) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+nginxAddr+"/index.html", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if browser {
			req.Header.Set("Accept", "text/html,application/xhtml+xml")
		}
		client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET through nginx: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	t.Run("no credentials: sent to sign in, the desktop sees nothing", func(t *testing.T) {
		before := desktop.requests.Load()
		resp, body := through("", true)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("%d %s, want 302 to the sign-in page", resp.StatusCode, body)
		}
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, signinURL+"?rd=http://"+host+"/index.html") {
			t.Errorf("Location %q, want the sign-in page with rd= the URL asked for", loc)
		}
		if n := desktop.requests.Load() - before; n != 0 {
			t.Errorf("the desktop saw %d requests without credentials", n)
		}
	})

	t.Run("bob, who shares the namespace, is refused by the owner rule", func(t *testing.T) {
		before := desktop.requests.Load()
		if resp, body := through(userToken(t, "bob"), true); resp.StatusCode != http.StatusForbidden {
			t.Errorf("bob: %d %s, want 403", resp.StatusCode, body)
		}
		// What nginx did not show: the bridge's reason.
		status, body := bridgeCall(t, "bob", http.MethodGet, "/auth/sessions/"+namespace+"/"+session.Name, "")
		if status != http.StatusForbidden || !strings.Contains(body, `belongs to user \"alice\"`) || !strings.Contains(body, "assign") {
			t.Errorf("the bridge to bob: %d %s, want 403 naming the owner rule", status, body)
		}
		if n := desktop.requests.Load() - before; n != 0 {
			t.Errorf("the desktop saw %d of bob's requests", n)
		}
		if _, resp, err := dialThrough(nginxAddr, host, userToken(t, "bob")); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("bob's WebSocket through nginx: %v (status %v), want a 403 handshake", err, statusOf(resp))
		}
	})

	t.Run("alice, the owner, reaches her desktop", func(t *testing.T) {
		resp, body := through(userToken(t, "alice"), true)
		if resp.StatusCode != http.StatusOK || body != desktopPage {
			t.Fatalf("alice: %d %q, want 200 %q", resp.StatusCode, body, desktopPage)
		}
		if got := desktop.lastUser(); got != "alice" {
			t.Errorf("the desktop was told X-Streamspace-User %q, want alice", got)
		}
		conn, resp, err := dialThrough(nginxAddr, host, userToken(t, "alice"))
		if err != nil {
			t.Fatalf("alice's WebSocket through nginx: %v (status %v)", err, statusOf(resp))
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		if err := conn.WriteMessage(websocket.TextMessage, []byte("ping from alice")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "echo: ping from alice" {
			t.Errorf("WebSocket answer %q %v, want the desktop's echo", msg, err)
		}
	})

	t.Run("an admin, who has assign, gets through", func(t *testing.T) {
		// dana's ID token, as the stack's OpenID provider signs it: her
		// group is bound to streamspace-admin, which has assign. (The
		// stack's admin has a client certificate, which no browser or
		// ingress passes on.)
		dana := signJWT(t, providerSigningKey(t), oidcClaims("dana", time.Now().Add(5*time.Minute)))
		if resp, body := through(dana, false); resp.StatusCode != http.StatusOK || body != desktopPage {
			t.Errorf("dana (OIDC, streamspace-admins): %d %q, want 200 from the desktop", resp.StatusCode, body)
		} else if got := desktop.lastUser(); got != devstack.OIDCUser("dana") {
			t.Errorf("the desktop was told X-Streamspace-User %q, want %q", got, devstack.OIDCUser("dana"))
		}
	})

	t.Run("forged and expired OIDC tokens are refused", func(t *testing.T) {
		otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for name, token := range map[string]string{
			"forged":  signJWT(t, otherKey, oidcClaims("dana", time.Now().Add(5*time.Minute))),
			"expired": signJWT(t, providerSigningKey(t), oidcClaims("dana", time.Now().Add(-time.Hour))),
		} {
			before := desktop.requests.Load()
			resp, body := through(token, true)
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), signinURL) {
				t.Errorf("%s token: %d %s, want 302 to sign in", name, resp.StatusCode, body)
			}
			if n := desktop.requests.Load() - before; n != 0 {
				t.Errorf("the desktop saw %d requests with a %s token", n, name)
			}
			if _, resp, err := dialThrough(nginxAddr, host, token); err == nil {
				t.Errorf("a WebSocket with a %s token got through (status %v)", name, statusOf(resp))
			}
		}
	})

	t.Run("the logs feed gives bob no log of alice's pod", func(t *testing.T) {
		_, aliceKube := clients(t, "alice")
		var pod string
		eventually(t, 2*time.Minute, "the session's pod, listed as alice", func() (bool, error) {
			pods, err := aliceKube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "stream.space/session=" + session.Name})
			if err != nil || len(pods.Items) == 0 {
				return false, err
			}
			pod = pods.Items[0].Name
			return true, nil
		})
		_, resp, err := dialFeed(t, "bob", "/api/v1/ws/logs/"+namespace+"/"+pod)
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("bob reading the log of %s/%s: %v %s, want 403", namespace, pod, err, responseBody(resp))
		} else if body := responseBody(resp); !strings.Contains(body, `belongs to user \"alice\"`) {
			t.Errorf("bob's 403 does not name the owner rule: %s", body)
		}
		f, resp, err := dialFeed(t, "alice", "/api/v1/ws/logs/"+namespace+"/"+pod)
		switch {
		case err == nil:
			f.conn.Close()
		case resp == nil:
			t.Errorf("alice reading the log of her pod: %v", err)
		case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
			t.Errorf("alice reading the log of her pod %s: %s, want past authorization", pod, responseBody(resp))
		}
	})
}

// desktopPage is what the stand-in desktop serves over HTTP.
const desktopPage = "the desktop's web client"

// desktop is an HTTP and WebSocket server standing in for the session's
// pod behind its Service: kwok's pods have no network, so the test routes
// the Ingress's backend here.
type desktop struct {
	addr     string
	requests atomic.Int64
	mu       sync.Mutex
	user     string
}

func (d *desktop) lastUser() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.user
}

func startDesktop(t *testing.T) *desktop {
	t.Helper()
	d := &desktop{}
	upgrader := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.requests.Add(1)
		d.mu.Lock()
		d.user = r.Header.Get("X-Streamspace-User")
		d.mu.Unlock()
		if r.URL.Path == "/websockify" {
			conn, err := upgrader.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
			if kind, msg, err := conn.ReadMessage(); err == nil {
				_ = conn.WriteMessage(kind, append([]byte("echo: "), msg...))
			}
			return
		}
		_, _ = io.WriteString(w, desktopPage)
	})}
	go func() { _ = srv.Serve(listener) }()
	t.Cleanup(func() { _ = srv.Close() })
	d.addr = listener.Addr().String()
	return d
}

// startIngressNginx renders an nginx configuration from ing as
// ingress-nginx does for its forward-auth annotations, with every backend
// Service replaced by backendAddr, starts nginx on a free loopback port
// with its prefix and temporary files in a test directory, and returns its
// address once it answers.
func startIngressNginx(t *testing.T, ing *networkingv1.Ingress, backendAddr string) string {
	t.Helper()
	out, err := exec.Command(nginxBinary, "-V").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--with-http_auth_request_module") {
		t.Fatalf("nginx -V: %v: the auth_request module is needed:\n%s", err, out)
	}
	port, err := ports.Free()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dir := t.TempDir()
	conf := renderIngressNginx(ing, dir, addr, backendAddr)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	output, err := os.Create(filepath.Join(dir, "nginx.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer output.Close() // nginx holds its own copy
	cmd := exec.Command(nginxBinary, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"),
		"-g", "daemon off; master_process on; pid "+filepath.Join(dir, "nginx.pid")+";")
	// A file, not the test's output: a worker outliving the test must not
	// hold the test binary's pipes open.
	cmd.Stdout, cmd.Stderr = output, output
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGTERM: the master stops its workers and then exits (SIGKILL
		// would leave the workers running).
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Errorf("nginx (pid %d) still running 30s after SIGTERM; killing it", cmd.Process.Pid)
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			for _, name := range []string{"error.log", "nginx.out"} {
				if log, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
					t.Logf("nginx %s:\n%s", name, log)
				}
			}
			t.Logf("nginx.conf:\n%s", conf)
		}
	})
	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return false, fmt.Errorf("nginx exited: %v\n%s\nnginx.conf:\n%s", err, log, conf)
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, nil
		}
		conn.Close()
		return true, nil
	})
	if err != nil {
		t.Fatalf("nginx listening on %s: %v", addr, err)
	}
	return addr
}

// renderIngressNginx is the part of ingress-nginx's template this test
// needs: a server per rule host, a location per path proxied with the
// WebSocket upgrade headers, and for auth-url an internal location that
// auth_request calls without the body, with the original headers (Cookie,
// Authorization) and X-Original-URL/-Method, auth-signin as the answer to
// a 401, and auth-response-headers passed on to the backend.
func renderIngressNginx(ing *networkingv1.Ingress, dir, listen, backendAddr string) string {
	var b strings.Builder
	user := ""
	if os.Geteuid() == 0 {
		// A root master would run its workers as nobody, who may not use
		// the test's directories.
		user = "user root;\n"
	}
	fmt.Fprintf(&b, `%sworker_processes 1;
events { worker_connections 256; }
http {
  access_log %[2]s/access.log;
  client_body_temp_path %[2]s/client_body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  # ingress-nginx fills this with set_escape_uri (a module plain nginx
  # lacks); the test's paths need no escaping.
  map $request_uri $escaped_request_uri { default $request_uri; }
`, user, dir)
	a := ing.Annotations
	for i, rule := range ing.Spec.Rules {
		fmt.Fprintf(&b, "  server {\n    listen %s;\n    server_name %s;\n", listen, rule.Host)
		if authURL := a[authURLAnnotation]; authURL != "" {
			method := a[authMethodAnnotation]
			if method == "" {
				method = "GET"
			}
			fmt.Fprintf(&b, `    location = /_external-auth-%[1]d {
      internal;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_method %[2]s;
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Sent-From "nginx-ingress-controller";
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Auth-Request-Redirect $request_uri;
      proxy_pass_request_headers on;
      proxy_http_version 1.1;
      proxy_pass %[3]s;
    }
`, i, method, authURL)
			if signin := a[authSigninAnnotation]; signin != "" {
				fmt.Fprintf(&b, "    location @signin-%d {\n      return 302 %s;\n    }\n", i, signin)
			}
		}
		for _, path := range rule.HTTP.Paths {
			fmt.Fprintf(&b, "    location %s {\n", path.Path)
			if a[authURLAnnotation] != "" {
				fmt.Fprintf(&b, "      auth_request /_external-auth-%d;\n", i)
				for j, h := range strings.Split(a[authResponseHeadersAnnotation], ",") {
					if h = strings.TrimSpace(h); h != "" {
						fmt.Fprintf(&b, "      auth_request_set $auth_response_%d $upstream_http_%s;\n      proxy_set_header %s $auth_response_%d;\n",
							j, strings.ReplaceAll(strings.ToLower(h), "-", "_"), h, j)
					}
				}
				if a[authSigninAnnotation] != "" {
					fmt.Fprintf(&b, "      error_page 401 = @signin-%d;\n", i)
				}
			}
			// The Service (path.Backend.Service) is the desktop's; the
			// test's server stands in for it.
			fmt.Fprintf(&b, `      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_pass http://%s;
    }
`, backendAddr)
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// dialThrough opens a WebSocket to the desktop through nginx, as host, with
// a bearer token ("" for none).
func dialThrough(nginxAddr, host, token string) (*websocket.Conn, *http.Response, error) {
	dialer := websocket.Dialer{
		HandshakeTimeout: 30 * time.Second,
		NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, nginxAddr)
		},
	}
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	return dialer.Dial("ws://"+host+"/websockify", header)
}

func statusOf(resp *http.Response) any {
	if resp == nil {
		return "no answer"
	}
	return resp.StatusCode
}

// providerSigningKey is the stack's OpenID provider's signing key: tokens
// it signs are what a sign-in at the provider would give.
func providerSigningKey(t *testing.T) crypto.Signer {
	t.Helper()
	key, err := keyutil.PrivateKeyFromFile(filepath.Join(stack.Dir, "pki", "oidc-signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	return key.(crypto.Signer)
}

// oidcClaims are the claims of an ID token for a person of the stack's
// provider, valid until exp.
func oidcClaims(person string, exp time.Time) map[string]any {
	now := time.Now()
	groups := []string{devstack.UsersGroup}
	if person == "dana" {
		groups = []string{devstack.AdminsGroup}
	}
	return map[string]any{
		"iss": stack.OIDCIssuerURL, "aud": devstack.OIDCKubectlClientID, "sub": person + "-subject",
		"preferred_username": person, "groups": groups,
		"iat": now.Add(-2 * time.Hour).Unix(), "exp": exp.Unix(),
	}
}
