// Package gittest runs a real Git server for tests: smart HTTP, plain and
// over TLS, through `git http-backend` behind net/http/cgi (anonymous for
// public repositories, else HTTP basic auth with a user name and password or
// with a token; every Authorization header is recorded), and
// SSH through an in-process golang.org/x/crypto/ssh server that runs
// `git-upload-pack` for one authorised key, with a generated host key.
package gittest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Server is a running Git server with bare repositories under Root.
type Server struct {
	Root string
	// HTTPURL is the base of the smart-HTTP URLs: HTTPURL + "/" + name + ".git".
	HTTPURL string
	// HTTPSURL serves the same repositories over TLS; CACert (PEM) is the
	// certificate to trust for it (the ca.crt of a credentials Secret).
	HTTPSURL string
	CACert   []byte
	// SSHHost is 127.0.0.1:<port>; SSH URLs are ssh://git@SSHHost/<name>.git.
	SSHHost string
	// KnownHosts is a known_hosts line for the SSH server's host key.
	KnownHosts []byte
	// ClientKey is the PEM private key the SSH server accepts.
	ClientKey []byte
	// Username and Password are accepted by HTTP basic auth; so is Token
	// as the password with any user name.
	Username, Password, Token string

	t        testing.TB
	http     *httptest.Server
	https    *httptest.Server
	ssh      net.Listener
	sshWG    sync.WaitGroup
	mu       sync.Mutex
	public   map[string]bool
	requests map[string]int
	// auth holds the Authorization headers received, per repository.
	auth map[string][]string
	// redirects sends every request for a repository elsewhere.
	redirects map[string]string
}

// Start starts both servers; they stop when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		Root:     t.TempDir(),
		Username: "catalog-reader", Password: "s3cret-Passw0rd",
		Token:     "ghp_" + randomHex(t, 18),
		t:         t,
		public:    map[string]bool{},
		requests:  map[string]int{},
		auth:      map[string][]string{},
		redirects: map[string]string{},
	}
	s.startHTTP(t)
	s.startSSH(t)
	return s
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

// HTTPRepoURL is the smart-HTTP clone URL of a repository.
func (s *Server) HTTPRepoURL(name string) string { return s.HTTPURL + "/" + name + ".git" }

// HTTPSRepoURL is the smart-HTTP clone URL of a repository over TLS.
func (s *Server) HTTPSRepoURL(name string) string { return s.HTTPSURL + "/" + name + ".git" }

// AuthorizationHeaders returns the Authorization headers of every request
// for the repository so far, over HTTP and HTTPS ("" for a request without one).
func (s *Server) AuthorizationHeaders(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth[name]...)
}

// Redirect answers every request for repository name with a 302 to
// target + the rest of the request's path after "<name>.git" (and its query).
func (s *Server) Redirect(name, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redirects[name] = target
}

// SSHRepoURL is the SSH clone URL of a repository.
func (s *Server) SSHRepoURL(name string) string {
	return "ssh://git@" + s.SSHHost + "/" + name + ".git"
}

// UploadPackRequests counts the fetches and clones of a repository (ref
// advertisements over HTTP, git-upload-pack runs over SSH).
func (s *Server) UploadPackRequests(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[name]
}

func (s *Server) startHTTP(t testing.TB) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("find git's exec path: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Root: "/",
		Env:  []string{"GIT_PROJECT_ROOT=" + s.Root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := repoName(r.URL.Path)
		s.mu.Lock()
		s.auth[name] = append(s.auth[name], r.Header.Get("Authorization"))
		target, redirected := s.redirects[name]
		s.mu.Unlock()
		if redirected {
			rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/"), name+".git")
			if r.URL.RawQuery != "" {
				rest += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target+rest, http.StatusFound)
			return
		}
		// Every fetch starts with the ref advertisement (an up-to-date one ends there).
		if r.Method == http.MethodGet && r.URL.Query().Get("service") == "git-upload-pack" {
			s.mu.Lock()
			s.requests[name]++
			s.mu.Unlock()
		}
		s.mu.Lock()
		public := s.public[name]
		s.mu.Unlock()
		if !public && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="gittest"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	})
	s.http = httptest.NewServer(handler)
	t.Cleanup(s.http.Close)
	s.HTTPURL = s.http.URL
	s.https = httptest.NewTLSServer(handler)
	t.Cleanup(s.https.Close)
	s.HTTPSURL = s.https.URL
	s.CACert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.https.Certificate().Raw})
}

func (s *Server) authorized(r *http.Request) bool {
	user, password, ok := r.BasicAuth()
	if !ok {
		return false
	}
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	return (eq(user, s.Username) && eq(password, s.Password)) || eq(password, s.Token)
}

// repoName is "name" of "/name.git/info/refs".
func repoName(p string) string {
	p = strings.TrimPrefix(p, "/")
	if i := strings.Index(p, ".git"); i >= 0 {
		return p[:i]
	}
	return p
}

func (s *Server) startSSH(t testing.TB) {
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(clientPriv, "gittest client")
	if err != nil {
		t.Fatal(err)
	}
	s.ClientKey = pem.EncodeToMemory(block)
	authorized, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		t.Fatal(err)
	}
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	config.AddHostKey(hostSigner)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ssh = l
	s.SSHHost = l.Addr().String()
	s.KnownHosts = []byte(knownhosts.Line([]string{knownhosts.Normalize(s.SSHHost)}, hostSigner.PublicKey()) + "\n")
	s.sshWG.Add(1)
	go func() {
		defer s.sshWG.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			s.sshWG.Add(1)
			go func() {
				defer s.sshWG.Done()
				s.serveSSH(conn, config)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		s.sshWG.Wait()
	})
}

func (s *Server) serveSSH(conn net.Conn, config *ssh.ServerConfig) {
	defer conn.Close()
	sconn, chans, reqs, err := ssh.NewServerConn(conn, config)
	if err != nil {
		return
	}
	defer sconn.Close()
	go ssh.DiscardRequests(reqs)
	for newChan := range chans {
		if newChan.ChannelType() != "session" {
			_ = newChan.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := newChan.Accept()
		if err != nil {
			return
		}
		go s.serveSession(ch, chReqs)
	}
}

// serveSession runs `git-upload-pack '<repo>'` exec requests; nothing else.
func (s *Server) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			continue
		}
		service, arg, _ := strings.Cut(payload.Command, " ")
		name := repoName(strings.Trim(arg, "'\""))
		dir := filepath.Join(s.Root, name+".git")
		if service != "git-upload-pack" || strings.Contains(name, "..") {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		s.mu.Lock()
		s.requests[name]++
		s.mu.Unlock()
		cmd := exec.Command("git", "upload-pack", dir)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
		status := uint32(0)
		if err := cmd.Run(); err != nil {
			status = 1
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				status = uint32(exitErr.ExitCode())
			}
		}
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		return
	}
}

// Repo is a bare repository on the server with a work tree to commit from.
type Repo struct {
	Name   string
	bare   string
	work   string
	server *Server
}

// CreateRepo makes an empty repository with branch main. Public
// repositories need no credentials over HTTP.
func (s *Server) CreateRepo(name string, public bool) *Repo {
	s.t.Helper()
	r := &Repo{Name: name, bare: filepath.Join(s.Root, name+".git"), work: filepath.Join(s.t.TempDir(), name), server: s}
	s.git("", "init", "--quiet", "--bare", "--initial-branch=main", r.bare)
	s.git("", "init", "--quiet", "--initial-branch=main", r.work)
	s.git(r.work, "remote", "add", "origin", r.bare)
	s.mu.Lock()
	s.public[name] = public
	s.mu.Unlock()
	return r
}

// Commit writes files (path → content; nil content deletes the file),
// commits them on main and pushes; it returns the new commit's hash.
func (r *Repo) Commit(message string, files map[string][]byte) string {
	r.server.t.Helper()
	for p, data := range files {
		full := filepath.Join(r.work, filepath.FromSlash(p))
		if data == nil {
			if err := os.Remove(full); err != nil && !os.IsNotExist(err) {
				r.server.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.server.t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			r.server.t.Fatal(err)
		}
	}
	r.server.git(r.work, "add", "--all")
	r.server.git(r.work, "-c", "user.name=gittest", "-c", "user.email=gittest@example.org", "commit", "--quiet", "--allow-empty", "-m", message)
	r.server.git(r.work, "push", "--quiet", "origin", "HEAD:refs/heads/main")
	return strings.TrimSpace(r.server.git(r.work, "rev-parse", "HEAD"))
}

// Head is the commit main points at.
func (r *Repo) Head() string {
	return strings.TrimSpace(r.server.git(r.bare, "rev-parse", "refs/heads/main"))
}

func (s *Server) git(dir string, args ...string) string {
	s.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+s.Root, "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
