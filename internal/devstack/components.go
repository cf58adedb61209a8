package devstack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/streamspace/controlplane/internal/devstack/credentials"
	"github.com/streamspace/controlplane/internal/devstack/health"
	"github.com/streamspace/controlplane/internal/devstack/ports"
	"github.com/streamspace/controlplane/internal/devstack/process"
	"github.com/streamspace/controlplane/internal/postgresproc"
)

const (
	// Every Session has a Service: a /16 leaves room for the thousands of
	// sessions of a benchmark fleet (a /24 ran out at 254).
	serviceClusterIPRange = "10.0.0.0/16"
	podCIDR               = "10.244.0.0/16"
	postgresDatabase      = "streamspace"
)

// start runs the start-up sequence; see Start.
func (s *Stack) start(ctx context.Context) error {
	began := time.Now()
	if err := s.checkBinaries(); err != nil {
		return err
	}
	process.KillStale(s.paths.Run, s.paths.Dir, s.logf)
	_ = os.Remove(s.paths.ReadyFile)
	if err := process.WritePid(s.paths.OwnerPidFile, os.Getpid()); err != nil {
		return err
	}
	resolved, err := ports.Resolve(s.paths.PortsFile, s.cfg.Ports)
	if err != nil {
		return err
	}
	s.Ports = resolved
	s.KubeAPIServerURL = "https://127.0.0.1:" + strconv.Itoa(resolved.KubeAPIServer)
	s.StreamspaceURL = "https://127.0.0.1:" + strconv.Itoa(resolved.Streamspace)
	s.AdminKubeconfig = s.paths.AdminKubeconfig
	s.CACert = s.paths.PKIFile("ca.crt")
	s.StreamspaceCA = s.paths.PKIFile("streamspace-ca.crt")
	s.OIDCIssuerURL = "https://127.0.0.1:" + strconv.Itoa(resolved.OIDC)
	s.OIDCCA = s.paths.PKIFile("oidc-ca.crt")

	if err := s.pki().Ensure(); err != nil {
		return err
	}
	if err := s.ensureTokens(); err != nil {
		return err
	}
	if err := s.writeKubeconfigs(); err != nil {
		return err
	}
	if err := s.startOIDCProvider(ctx); err != nil {
		return err
	}
	if err := s.writeOIDCKubeconfigs(); err != nil {
		return err
	}

	// Postgres starts beside etcd and kube-apiserver; only
	// streamspace-apiserver needs it.
	postgresReady := make(chan error, 1)
	if s.cfg.WithoutStreamspace || s.cfg.PostgresDSN != "" {
		postgresReady <- nil
	} else {
		go func() { postgresReady <- s.startPostgres(ctx) }()
	}
	waitPostgres := func() error {
		select {
		case err := <-postgresReady:
			postgresReady <- err // later callers see the same result
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Whatever happens, do not return while startPostgres may still set
	// s.postgres, or Stop would miss it.
	defer func() { _ = waitPostgresDone(postgresReady) }()

	if err := s.startEtcd(ctx); err != nil {
		return err
	}
	if err := s.startKubeAPIServer(ctx); err != nil {
		return err
	}
	if err := s.applyBootstrap(ctx); err != nil {
		return err
	}
	for _, start := range []func() error{s.startControllerManager, s.startScheduler, s.startKwok} {
		if err := start(); err != nil {
			return err
		}
	}
	if !s.cfg.WithoutStreamspace {
		if err := waitPostgres(); err != nil {
			return err
		}
		if s.cfg.PostgresDSN != "" {
			s.PostgresDSN = s.cfg.PostgresDSN
			s.Ports.Postgres = 0
		} else {
			s.PostgresDSN = s.postgres.DSN()
			s.Ports.Postgres = s.postgres.Port()
		}
		if err := s.startStreamspace(); err != nil {
			return err
		}
		// Registered once ready, so the aggregator never advertises a group
		// that cannot answer yet (kube-controller-manager's discovery
		// would report it as stale).
		if err := s.waitReady(ctx, "streamspace-apiserver", s.StreamspaceURL); err != nil {
			return err
		}
		if err := s.applyRegistration(ctx); err != nil {
			return err
		}
	}
	if err := s.waitHealthy(ctx, "kube-controller-manager", s.Ports.ControllerManager); err != nil {
		return err
	}
	if err := s.waitHealthy(ctx, "kube-scheduler", s.Ports.Scheduler); err != nil {
		return err
	}
	if err := s.waitNodeReady(ctx); err != nil {
		return err
	}
	if !s.cfg.WithoutStreamspace {
		if err := s.waitAPIServicesAvailable(ctx); err != nil {
			return err
		}
		if err := s.applySamples(ctx); err != nil {
			return err
		}
		if err := s.startController(ctx); err != nil {
			return err
		}
		if err := s.startBridge(ctx); err != nil {
			return err
		}
	}
	if err := s.writeReady(); err != nil {
		return err
	}
	s.logf("ready in %s", time.Since(began).Round(100*time.Millisecond))
	return nil
}

func waitPostgresDone(ch chan error) error {
	err := <-ch
	ch <- err
	return err
}

func (s *Stack) startPostgres(ctx context.Context) error {
	srv, err := postgresproc.Start(ctx, postgresproc.Options{
		Dir:      s.paths.PostgresData,
		Port:     s.Ports.Postgres,
		Database: postgresDatabase,
		LogFile:  s.paths.Log("postgres"),
	})
	if err != nil {
		return fmt.Errorf("start postgres: %w (log %s:\n%s)", err, s.paths.Log("postgres"), process.Tail(s.paths.Log("postgres"), 20))
	}
	s.mu.Lock()
	s.postgres = srv
	s.mu.Unlock()
	// postmaster.pid lets a later Start or Down stop a Postgres whose owner was killed.
	if pid, ok := process.ReadPid(filepath.Join(s.paths.PostgresData, "postmaster.pid")); ok {
		_ = process.WritePid(s.paths.PidFile("postgres"), pid)
	}
	s.logf("postgres ready on port %d", srv.Port())
	return nil
}

func (s *Stack) startEtcd(ctx context.Context) error {
	client := "http://127.0.0.1:" + strconv.Itoa(s.Ports.Etcd)
	peer := "http://127.0.0.1:" + strconv.Itoa(s.Ports.EtcdPeer)
	p, err := s.procs.Start("etcd", s.paths.Tool("etcd"), []string{
		"--name=devstack",
		"--data-dir=" + s.paths.EtcdData,
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=devstack=" + peer,
		"--log-level=warn",
	}, nil)
	if err != nil {
		return err
	}
	return health.Poll(ctx, p, "etcd healthy", s.logf, func() error {
		resp, err := http.Get(client + "/health")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var health struct{ Health string }
		if err := json.NewDecoder(resp.Body).Decode(&health); err != nil {
			return err
		}
		if health.Health != "true" {
			return fmt.Errorf("health %q", health.Health)
		}
		return nil
	})
}

func (s *Stack) startKubeAPIServer(ctx context.Context) error {
	pki := s.paths.PKIFile
	authenticationConfig, err := s.writeAuthenticationConfig()
	if err != nil {
		return err
	}
	apiKeyArgs, err := s.tokenWebhookArgs()
	if err != nil {
		return err
	}
	p, err := s.procs.Start("kube-apiserver", s.paths.Tool("kube-apiserver"), append(apiKeyArgs, []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(s.Ports.Etcd),
		"--secure-port=" + strconv.Itoa(s.Ports.KubeAPIServer),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The endpoint reconciler refuses a loopback address; nothing in
		// this cluster needs endpoints for the kubernetes Service.
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(s.paths.PKI, "kube-apiserver"),
		"--tls-cert-file=" + pki("apiserver.crt"),
		"--tls-private-key-file=" + pki("apiserver.key"),
		"--client-ca-file=" + pki("ca.crt"),
		"--token-auth-file=" + pki("tokens.csv"),
		// ID tokens of the stack's OpenID provider (oidc.go).
		"--authentication-config=" + authenticationConfig,
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki("sa.key"),
		"--service-account-signing-key-file=" + pki("sa.key"),
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		// Aggregation: kube-apiserver proxies to streamspace-apiserver as
		// front-proxy-client, which that server trusts through the
		// extension-apiserver-authentication ConfigMap.
		"--requestheader-client-ca-file=" + pki("front-proxy-ca.crt"),
		"--requestheader-allowed-names=" + credentials.FrontProxyClient,
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-username-headers=X-Remote-User",
		// The uid too (the OpenID sub), recorded in the callers' Users.
		"--requestheader-uid-headers=X-Remote-Uid",
		"--proxy-client-cert-file=" + pki("front-proxy-client.crt"),
		"--proxy-client-key-file=" + pki("front-proxy-client.key"),
		"--enable-aggregator-routing=false",
		"--allow-privileged=true",
		// Pods' exec and logs are served by kwok's kubelet server, whose
		// certificate kube-apiserver verifies.
		"--kubelet-certificate-authority=" + pki("ca.crt"),
		"--kubelet-client-certificate=" + pki("kubelet-client.crt"),
		"--kubelet-client-key=" + pki("kubelet-client.key"),
		"--kubelet-preferred-address-types=InternalIP",
		// /debug/pprof for the benchmarks' profiles of the request path
		// (RBAC grants it to the admin only).
		"--profiling=true",
	}...), nil)
	if err != nil {
		return err
	}
	client, err := s.adminHTTPClient()
	if err != nil {
		return err
	}
	return health.PollHTTP(ctx, p, "kube-apiserver ready", s.logf, client, s.KubeAPIServerURL+"/readyz")
}

func (s *Stack) startControllerManager() error {
	kubeconfig := s.paths.Kubeconfig("kube-controller-manager")
	_, err := s.procs.Start("kube-controller-manager", s.paths.Tool("kube-controller-manager"), []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--secure-port=" + strconv.Itoa(s.Ports.ControllerManager),
		"--bind-address=127.0.0.1",
		"--cert-dir=" + filepath.Join(s.paths.PKI, "kube-controller-manager"),
		"--service-account-private-key-file=" + s.paths.PKIFile("sa.key"),
		"--root-ca-file=" + s.paths.PKIFile("ca.crt"),
		"--cluster-signing-cert-file=" + s.paths.PKIFile("ca.crt"),
		"--cluster-signing-key-file=" + s.paths.PKIFile("ca.key"),
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		"--use-service-account-credentials=true",
		"--leader-elect=false",
		"--controllers=*",
		// Home claims of sessions bind on the fake node (see controller.go).
		"--enable-hostpath-provisioner=true",
		"--profiling=false",
		// Every controller of kube-controller-manager has a client of its
		// own, limited to 20 requests/s by default: the deployment
		// controller then marks about 4 new Deployments a second
		// available, which is what bounded how fast a fleet of sessions
		// became Running (each session's phase follows its Deployment's
		// readyReplicas). Large clusters raise it the same way.
		"--kube-api-qps=100",
		"--kube-api-burst=200",
	}, nil)
	return err
}

func (s *Stack) startScheduler() error {
	kubeconfig := s.paths.Kubeconfig("kube-scheduler")
	_, err := s.procs.Start("kube-scheduler", s.paths.Tool("kube-scheduler"), []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--secure-port=" + strconv.Itoa(s.Ports.Scheduler),
		"--bind-address=127.0.0.1",
		"--cert-dir=" + filepath.Join(s.paths.PKI, "kube-scheduler"),
		"--leader-elect=false",
		"--profiling=false",
	}, nil)
	return err
}

func (s *Stack) startKwok() error {
	debugging, err := s.writeKwokDebugging()
	if err != nil {
		return err
	}
	_, err = s.procs.Start("kwok", s.paths.Tool("kwok"), []string{
		"--kubeconfig=" + s.paths.Kubeconfig("kwok"),
		"--config=" + s.paths.Tool("kwok-stages.yaml"),
		"--config=" + debugging,
		"--server-address=127.0.0.1:" + strconv.Itoa(s.Ports.Kwok),
		"--node-port=" + strconv.Itoa(s.Ports.Kwok),
		"--tls-cert-file=" + s.paths.PKIFile("kwok-kubelet.crt"),
		"--tls-private-key-file=" + s.paths.PKIFile("kwok-kubelet.key"),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
		"--cidr=" + podCIDR,
		"--node-ip=127.0.0.1",
	}, nil)
	return err
}

// startStreamspace starts the streamspace-apiserver behind the APIServices,
// with extra flags after the stack's.
func (s *Stack) startStreamspace(extra ...string) error {
	_, err := s.startStreamspaceReplica("streamspace-apiserver", s.Ports.Streamspace, extra...)
	return err
}

// startStreamspaceReplica starts a streamspace-apiserver process called
// name on port, with the first one's serving certificate, kubeconfig and
// flags, then extra.
func (s *Stack) startStreamspaceReplica(name string, port int, extra ...string) (*process.Process, error) {
	kubeconfig := s.paths.Kubeconfig("streamspace-apiserver")
	args := []string{
		"--secure-port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--tls-cert-file=" + s.paths.PKIFile("streamspace-apiserver.crt"),
		"--tls-private-key-file=" + s.paths.PKIFile("streamspace-apiserver.key"),
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--postgres-url=" + s.PostgresDSN,
		// kube-apiserver's client certificate for the API key token webhook.
		"--token-webhook-allowed-names=" + credentials.TokenWebhookClient,
	}
	args = append(args, s.cfg.StreamspaceArgs...)
	return s.procs.Start(name, s.paths.Bin("streamspace-apiserver"), append(args, extra...), nil)
}

// waitHealthy waits for /healthz of a component serving on 127.0.0.1:port
// with a self-signed certificate (anonymous access to /healthz is allowed).
func (s *Stack) waitHealthy(ctx context.Context, name string, port int) error {
	return s.waitEndpoint(ctx, name, "https://127.0.0.1:"+strconv.Itoa(port), "/healthz", "healthy")
}

// waitReady waits for /readyz of an API server at url: streamspace-apiserver
// is ready only once the CA bundles of its delegated authentication are
// loaded, so a ready server never answers a front-proxied user as anonymous.
func (s *Stack) waitReady(ctx context.Context, name, url string) error {
	return s.waitEndpoint(ctx, name, url, "/readyz", "ready")
}

func (s *Stack) waitEndpoint(ctx context.Context, name, url, path, what string) error {
	return health.PollHTTP(ctx, s.procs.Get(name), name+" "+what, s.logf, health.InsecureClient(), url+path)
}

func (s *Stack) adminHTTPClient() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(s.paths.PKIFile("admin.crt"), s.paths.PKIFile("admin.key"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(readFile(s.CACert))
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

// checkBinaries fails early, with the make target to run, when a binary is missing.
func (s *Stack) checkBinaries() error {
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "kwok-stages.yaml"} {
		if _, err := os.Stat(s.paths.Tool(name)); err != nil {
			return fmt.Errorf("devstack: %s missing in tools dir %s (run `make tools`): %w", name, s.paths.ToolsDir, err)
		}
	}
	if !s.cfg.WithoutStreamspace {
		if _, err := os.Stat(s.paths.Bin("streamspace-apiserver")); err != nil {
			return fmt.Errorf("devstack: streamspace-apiserver missing in %s (run `make build`): %w", s.paths.BinDir, err)
		}
	}
	return nil
}
