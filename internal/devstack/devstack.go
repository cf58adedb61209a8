// Package devstack runs a complete local StreamSpace control plane from real
// binaries: Postgres, etcd, kube-apiserver (with its aggregator),
// kube-controller-manager, kube-scheduler, kwok with one fake node, and
// streamspace-apiserver registered through APIServices.
//
// It serves two callers: `make run` / `make dev-up` (through
// cmd/streamspace-dev, state in .dev/ that survives restarts) and the
// end-to-end tests, which start a fresh stack in a temporary directory with
// free ports from TestMain.
//
// Every child process has its own log file in <Dir>/logs/ and its own process
// group, and is killed with SIGTERM then SIGKILL on Stop. On Linux the
// children also get SIGKILL when their owner dies (Pdeathsig), so a panic, a
// killed test binary or a crashed launcher leaves nothing behind.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/streamspace/controlplane/internal/devstack/kubectl"
	"github.com/streamspace/controlplane/internal/devstack/layout"
	"github.com/streamspace/controlplane/internal/devstack/ports"
	"github.com/streamspace/controlplane/internal/devstack/process"
	"github.com/streamspace/controlplane/internal/postgresproc"
)

// KubeVersion is the version of the Kubernetes binaries the stack runs; it
// matches the k8s.io libraries in go.mod and names the tools cache.
const KubeVersion = "v1.37.2"

// Ports of the stack's listeners. Zero means: reuse the port this Dir used
// last time if it is still free, else pick a free one.
type Ports = ports.Ports

// Config describes a stack. Only Dir is required; see the field comments for
// the defaults.
type Config struct {
	// Dir holds all state: certificates, kubeconfigs, data, logs, pid files.
	// A stack started again on the same Dir reuses its data and credentials.
	Dir string
	// ToolsDir holds kube-apiserver, kube-controller-manager, kube-scheduler,
	// kubectl, etcd, kwok and kwok-stages.yaml (`make tools`). Default:
	// $STREAMSPACE_TOOLS_DIR, else DefaultToolsDir().
	ToolsDir string
	// BinDir holds streamspace-apiserver (`make build`). Default:
	// $STREAMSPACE_BIN_DIR, else <repository root>/bin.
	BinDir string
	// Ports; zero fields are chosen (see Ports).
	Ports Ports
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// PostgresDSN, when set, is the database streamspace-apiserver uses
	// instead of a Postgres the stack starts in Dir; the stack neither starts
	// nor stops it. A multi-host DSN (postgres://u@h1:p1,h2:p2/db?target_session_attrs=read-write)
	// lets the server follow a failover; tests of database faults bring
	// their own Postgres this way, to kill it without harming other tests.
	PostgresDSN string
	// StreamspaceArgs are extra flags for streamspace-apiserver.
	StreamspaceArgs []string
	// ControllerArgs are extra flags for streamspace-controller (e.g. short
	// timeouts in tests).
	ControllerArgs []string
	// BridgeArgs are extra flags for streamspace-bridge (e.g. limits raised
	// for a benchmark).
	BridgeArgs []string
	// Kustomization is the directory of the kustomization applied
	// (`kubectl apply -k`) after the bootstrap objects: the components'
	// RBAC and admission policies. Default: <repository
	// root>/artifacts/deploy/dev when it exists.
	Kustomization string
	// SampleTemplates is applied in every user's namespace once the
	// APIServices are Available. Default:
	// <repository root>/artifacts/samples/templates.yaml when it exists.
	SampleTemplates string
	// Users get a bearer token, a kubeconfig, a namespace of their own name
	// and the ClusterRole streamspace-user there. Default: alice, bob.
	Users []string
	// People sign in at the stack's OpenID provider, with a password in
	// users/<name>.password and a kubeconfig users/<name>.oidc.kubeconfig;
	// those in UsersGroup get a namespace of their name. Default:
	// DefaultPeople.
	People []Person
	// WithoutStreamspace starts everything but streamspace-apiserver and its
	// APIServices (for testing the stack itself).
	WithoutStreamspace bool
	// Timeout bounds the whole start-up. Default: 5 minutes.
	Timeout time.Duration
}

// Stack is a running control plane. Its exported fields are read-only.
type Stack struct {
	Dir              string
	Ports            Ports
	AdminKubeconfig  string // cluster-admin (system:masters client certificate)
	KubeAPIServerURL string // https://127.0.0.1:<port>
	StreamspaceURL   string // https://127.0.0.1:<port>, direct (not through the aggregator)
	PostgresDSN      string // Config.PostgresDSN, or the DSN of the stack's own Postgres
	CACert           string // CA of kube-apiserver's serving and client certificates
	StreamspaceCA    string // CA of streamspace-apiserver's serving certificate (the APIService caBundle)
	BridgeURL        string // http://127.0.0.1:<port> of streamspace-bridge (also in <Dir>/bridge.url)
	OIDCIssuerURL    string // https://127.0.0.1:<port> of the OpenID provider, which runs in this process
	OIDCCA           string // CA of the OpenID provider's serving certificate

	cfg      Config
	paths    layout.Layout
	lock     *os.File
	postgres *postgresproc.Server

	oidcServer *http.Server

	procs     *process.Group
	kubectl   kubectl.Runner
	mu        sync.Mutex // guards postgres while it starts
	stopOnce  sync.Once
	stopError error
}

// DefaultToolsDir is where `make tools` caches the binaries:
// $HOME/.cache/streamspace/tools/<KubeVersion>.
func DefaultToolsDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "streamspace", "tools", KubeVersion)
}

// Start brings the whole stack up and returns when everything is ready: the
// node is Ready, the APIServices are Available and the sample Templates are
// applied. ctx bounds the start-up only; the processes run until Stop. On
// error everything started so far is stopped again.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	if err := cfg.complete(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	s := newStack(cfg)
	if err := s.paths.Prepare(); err != nil {
		return nil, err
	}
	lock, err := process.Lock(s.paths.LockFile)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	if err := s.start(ctx); err != nil {
		if stopErr := s.Stop(); stopErr != nil {
			s.logf("stop after failed start: %v", stopErr)
		}
		return nil, err
	}
	return s, nil
}

func newStack(cfg Config) *Stack {
	s := &Stack{cfg: cfg, Dir: cfg.Dir, paths: layout.New(cfg.Dir, cfg.ToolsDir, cfg.BinDir)}
	s.procs = process.NewGroup(s.paths.Dir, s.paths.Log, s.paths.PidFile, s.logf)
	s.kubectl = kubectl.Runner{Path: s.paths.Tool("kubectl"), CacheDir: s.paths.KubectlCache, Logf: s.logf}
	return s
}

func (c *Config) complete() error {
	if c.Dir == "" {
		return errors.New("devstack: Config.Dir is required")
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	c.Dir = dir
	root, _ := repositoryRoot()
	if c.ToolsDir == "" {
		c.ToolsDir = os.Getenv("STREAMSPACE_TOOLS_DIR")
	}
	if c.ToolsDir == "" {
		c.ToolsDir = DefaultToolsDir()
	}
	if c.BinDir == "" {
		c.BinDir = os.Getenv("STREAMSPACE_BIN_DIR")
	}
	if c.BinDir == "" && root != "" {
		c.BinDir = filepath.Join(root, "bin")
	}
	if c.Kustomization == "" && root != "" {
		c.Kustomization = filepath.Join(root, "artifacts", "deploy", "dev")
	}
	if c.SampleTemplates == "" && root != "" {
		c.SampleTemplates = filepath.Join(root, "artifacts", "samples", "templates.yaml")
	}
	for _, p := range []*string{&c.ToolsDir, &c.BinDir, &c.Kustomization, &c.SampleTemplates} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return fmt.Errorf("devstack: %w", err)
			}
		}
	}
	if c.Users == nil {
		c.Users = []string{"alice", "bob"}
	}
	if c.People == nil {
		c.People = DefaultPeople
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Minute
	}
	return nil
}

// repositoryRoot finds the directory of this module's go.mod above the
// working directory, so tests and the launcher find artifacts/ and bin/.
func repositoryRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/streamspace/controlplane\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root not found")
		}
		dir = parent
	}
}

// readFile is the content of path, or nil when it cannot be read.
func readFile(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return data
}

func (s *Stack) logf(format string, args ...any) {
	fmt.Fprintf(s.cfg.Log, "devstack: "+format+"\n", args...)
}

// UserKubeconfig is the path of the kubeconfig of a sample user (bearer token).
func (s *Stack) UserKubeconfig(user string) string { return s.paths.UserKubeconfig(user) }

// FrontProxyClientCert returns the certificate and key files kube-apiserver's
// aggregator presents to streamspace-apiserver (--proxy-client-cert-file).
func (s *Stack) FrontProxyClientCert() (certFile, keyFile string) {
	return s.paths.PKIFile("front-proxy-client.crt"), s.paths.PKIFile("front-proxy-client.key")
}

// UserTokenFile is the path of a sample user's bearer token (no newline).
func (s *Stack) UserTokenFile(user string) string { return s.paths.UserToken(user) }

// MetricsScraper is the identity that reads the components' /metrics in the
// dev stack, as Prometheus would in a cluster: a bearer token (UserToken)
// bound to the ClusterRole streamspace-metrics-reader and nothing else.
const MetricsScraper = "metrics-scraper"

// BridgeKubeconfig is the kubeconfig of streamspace-bridge's own identity
// (ServiceAccount streamspace-system/streamspace-bridge), which its Git
// webhook uses.
func (s *Stack) BridgeKubeconfig() string { return s.paths.Kubeconfig(bridgeWebhookComponent) }

// ControllerKubeconfig is the kubeconfig of streamspace-controller's
// identity (ServiceAccount streamspace-system/streamspace-controller).
func (s *Stack) ControllerKubeconfig() string { return s.paths.Kubeconfig(controllerComponent) }

// StreamspaceKubeconfig is the kubeconfig streamspace-apiserver talks to
// kube-apiserver with (its client certificate, user streamspace-apiserver).
func (s *Stack) StreamspaceKubeconfig() string { return s.paths.Kubeconfig("streamspace-apiserver") }

// UserToken is the bearer token of a sample user.
func (s *Stack) UserToken(user string) (string, error) {
	data, err := os.ReadFile(s.paths.UserToken(user))
	if err != nil {
		return "", fmt.Errorf("read token of %s: %w", user, err)
	}
	return string(data), nil
}

// LogFile is the log of a component: postgres, etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok or streamspace-apiserver.
func (s *Stack) LogFile(component string) string { return s.paths.Log(component) }

// RESTConfig is a client configuration for the admin ("" or "admin") or for
// a sample user.
func (s *Stack) RESTConfig(user string) (*rest.Config, error) {
	path := s.AdminKubeconfig
	if user != "" && user != "admin" {
		path = s.UserKubeconfig(user)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// Kubectl returns a kubectl command (the version-matched one from ToolsDir)
// acting as the admin ("" or "admin") or as a sample user.
func (s *Stack) Kubectl(ctx context.Context, user string, args ...string) *exec.Cmd {
	kubeconfig := s.AdminKubeconfig
	if user != "" && user != "admin" {
		kubeconfig = s.UserKubeconfig(user)
	}
	return s.kubectl.Command(ctx, kubeconfig, args...)
}

// KubectlPath is the path of the version-matched kubectl.
func (s *Stack) KubectlPath() string { return s.paths.Tool("kubectl") }

// Failed delivers an error when a component exits on its own after start-up.
func (s *Stack) Failed() <-chan error { return s.procs.Failed() }

// RestartStreamspace stops streamspace-apiserver and starts it again, then
// waits until its APIServices are Available again.
func (s *Stack) RestartStreamspace(ctx context.Context) error {
	return s.RestartStreamspaceWithArgs(ctx)
}

// RestartStreamspaceWithArgs is RestartStreamspace with args after
// Config.StreamspaceArgs, for this run of the process only: the next
// restart without them starts it with the stack's flags again. A benchmark
// compares the server behind the aggregator with and without a feature
// this way, on the same stack and database.
func (s *Stack) RestartStreamspaceWithArgs(ctx context.Context, args ...string) error {
	if s.cfg.WithoutStreamspace {
		return errors.New("devstack: stack runs without streamspace-apiserver")
	}
	p := s.procs.Get("streamspace-apiserver")
	if p == nil {
		return errors.New("devstack: streamspace-apiserver is not running")
	}
	if err := s.procs.Stop(p); err != nil {
		return err
	}
	if err := s.startStreamspace(args...); err != nil {
		return err
	}
	if err := s.waitReady(ctx, "streamspace-apiserver", s.StreamspaceURL); err != nil {
		return err
	}
	return s.waitAPIServicesAvailable(ctx)
}

// Stop stops every process of the stack, last started first, and releases
// the state directory. It is safe to call more than once.
func (s *Stack) Stop() error {
	s.stopOnce.Do(func() {
		procs := s.procs.Stopping()
		_ = os.Remove(s.paths.ReadyFile)

		var errs []error
		// Clients of kube-apiserver first (in parallel), then the server,
		// then its storage.
		var clients, servers []*process.Process
		for _, p := range procs {
			switch p.Name {
			case "kube-apiserver", "etcd":
				servers = append(servers, p)
			default:
				clients = append(clients, p)
			}
		}
		errs = append(errs, process.StopAll(clients)...)
		if err := s.stopOIDCProvider(); err != nil {
			errs = append(errs, fmt.Errorf("stop the OpenID provider: %w", err))
		}
		for i := len(servers) - 1; i >= 0; i-- {
			if err := servers[i].Stop(); err != nil {
				errs = append(errs, err)
			}
		}
		if s.postgres != nil {
			if err := s.postgres.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop postgres: %w", err))
			}
			_ = os.Remove(s.paths.PidFile("postgres"))
		}
		if s.lock != nil {
			_ = os.Remove(s.paths.OwnerPidFile)
			_ = s.lock.Close()
		}
		s.stopError = errors.Join(errs...)
		s.logf("stopped")
	})
	return s.stopError
}
