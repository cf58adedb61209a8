package devstack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/streamspace/controlplane/internal/postgresproc"
)

const (
	serviceClusterIPRange = "10.0.0.0/24"
	podCIDR               = "10.244.0.0/16"
	postgresDatabase      = "streamspace"
)

// start runs the start-up sequence; see Start.
func (s *Stack) start(ctx context.Context) error {
	began := time.Now()
	if err := s.checkBinaries(); err != nil {
		return err
	}
	killStale(s.paths.run, s.paths.dir, s.logf)
	_ = os.Remove(s.paths.readyFile)
	if err := writeOwnerPid(s.paths.ownerPidFile); err != nil {
		return err
	}
	ports, err := resolvePorts(s.paths.portsFile, s.cfg.Ports)
	if err != nil {
		return err
	}
	s.Ports = ports
	s.KubeAPIServerURL = "https://127.0.0.1:" + strconv.Itoa(ports.KubeAPIServer)
	s.StreamspaceURL = "https://127.0.0.1:" + strconv.Itoa(ports.Streamspace)
	s.AdminKubeconfig = s.paths.adminKubeconfig
	s.CACert = s.paths.pkiFile("ca.crt")
	s.StreamspaceCA = s.paths.pkiFile("streamspace-ca.crt")

	if err := s.ensurePKI(); err != nil {
		return err
	}
	if err := s.ensureTokens(); err != nil {
		return err
	}
	if err := s.writeKubeconfigs(); err != nil {
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
		Dir:      s.paths.postgresData,
		Port:     s.Ports.Postgres,
		Database: postgresDatabase,
		LogFile:  s.paths.log("postgres"),
	})
	if err != nil {
		return fmt.Errorf("start postgres: %w (log %s:\n%s)", err, s.paths.log("postgres"), tail(s.paths.log("postgres"), 20))
	}
	s.mu.Lock()
	s.postgres = srv
	s.mu.Unlock()
	// postmaster.pid lets a later Start or Down stop a Postgres whose owner was killed.
	if pid, ok := readPid(filepath.Join(s.paths.postgresData, "postmaster.pid")); ok {
		_ = os.WriteFile(s.paths.pidFile("postgres"), []byte(strconv.Itoa(pid)), 0o644)
	}
	s.logf("postgres ready on port %d", srv.Port())
	return nil
}

func (s *Stack) startEtcd(ctx context.Context) error {
	client := "http://127.0.0.1:" + strconv.Itoa(s.Ports.Etcd)
	peer := "http://127.0.0.1:" + strconv.Itoa(s.Ports.EtcdPeer)
	p, err := s.startProcess("etcd", s.paths.tool("etcd"), []string{
		"--name=devstack",
		"--data-dir=" + s.paths.etcdData,
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
	return s.poll(ctx, p, "etcd healthy", func() error {
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
	pki := s.paths.pkiFile
	p, err := s.startProcess("kube-apiserver", s.paths.tool("kube-apiserver"), []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(s.Ports.Etcd),
		"--secure-port=" + strconv.Itoa(s.Ports.KubeAPIServer),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The endpoint reconciler refuses a loopback address; nothing in
		// this cluster needs endpoints for the kubernetes Service.
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(s.paths.pki, "kube-apiserver"),
		"--tls-cert-file=" + pki("apiserver.crt"),
		"--tls-private-key-file=" + pki("apiserver.key"),
		"--client-ca-file=" + pki("ca.crt"),
		"--token-auth-file=" + pki("tokens.csv"),
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki("sa.key"),
		"--service-account-signing-key-file=" + pki("sa.key"),
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		// Aggregation: kube-apiserver proxies to streamspace-apiserver as
		// front-proxy-client, which that server trusts through the
		// extension-apiserver-authentication ConfigMap.
		"--requestheader-client-ca-file=" + pki("front-proxy-ca.crt"),
		"--requestheader-allowed-names=" + frontProxyClientName,
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-username-headers=X-Remote-User",
		"--proxy-client-cert-file=" + pki("front-proxy-client.crt"),
		"--proxy-client-key-file=" + pki("front-proxy-client.key"),
		"--enable-aggregator-routing=false",
		"--allow-privileged=true",
		"--profiling=false",
	}, nil)
	if err != nil {
		return err
	}
	client, err := s.adminHTTPClient()
	if err != nil {
		return err
	}
	return s.poll(ctx, p, "kube-apiserver ready", func() error {
		return httpOK(client, s.KubeAPIServerURL+"/readyz")
	})
}

func (s *Stack) startControllerManager() error {
	kubeconfig := s.paths.kubeconfig("kube-controller-manager")
	_, err := s.startProcess("kube-controller-manager", s.paths.tool("kube-controller-manager"), []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--secure-port=" + strconv.Itoa(s.Ports.ControllerManager),
		"--bind-address=127.0.0.1",
		"--cert-dir=" + filepath.Join(s.paths.pki, "kube-controller-manager"),
		"--service-account-private-key-file=" + s.paths.pkiFile("sa.key"),
		"--root-ca-file=" + s.paths.pkiFile("ca.crt"),
		"--cluster-signing-cert-file=" + s.paths.pkiFile("ca.crt"),
		"--cluster-signing-key-file=" + s.paths.pkiFile("ca.key"),
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		"--use-service-account-credentials=true",
		"--leader-elect=false",
		"--controllers=*",
		// Home claims of sessions bind on the fake node (see controller.go).
		"--enable-hostpath-provisioner=true",
		"--profiling=false",
	}, nil)
	return err
}

func (s *Stack) startScheduler() error {
	kubeconfig := s.paths.kubeconfig("kube-scheduler")
	_, err := s.startProcess("kube-scheduler", s.paths.tool("kube-scheduler"), []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--secure-port=" + strconv.Itoa(s.Ports.Scheduler),
		"--bind-address=127.0.0.1",
		"--cert-dir=" + filepath.Join(s.paths.pki, "kube-scheduler"),
		"--leader-elect=false",
		"--profiling=false",
	}, nil)
	return err
}

func (s *Stack) startKwok() error {
	_, err := s.startProcess("kwok", s.paths.tool("kwok"), []string{
		"--kubeconfig=" + s.paths.kubeconfig("kwok"),
		"--config=" + s.paths.tool("kwok-stages.yaml"),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
		"--cidr=" + podCIDR,
		"--node-ip=127.0.0.1",
	}, nil)
	return err
}

func (s *Stack) startStreamspace() error {
	kubeconfig := s.paths.kubeconfig("streamspace-apiserver")
	args := []string{
		"--secure-port=" + strconv.Itoa(s.Ports.Streamspace),
		"--bind-address=127.0.0.1",
		"--tls-cert-file=" + s.paths.pkiFile("streamspace-apiserver.crt"),
		"--tls-private-key-file=" + s.paths.pkiFile("streamspace-apiserver.key"),
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--postgres-url=" + s.PostgresDSN,
	}
	args = append(args, s.cfg.StreamspaceArgs...)
	_, err := s.startProcess("streamspace-apiserver", filepath.Join(s.paths.bin, "streamspace-apiserver"), args, nil)
	return err
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
	p := s.process(name)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // local self-signed health endpoint
	}}
	return s.poll(ctx, p, name+" "+what, func() error {
		return httpOK(client, url+path)
	})
}

// poll calls check until it succeeds, failing early when p exits and with
// p's log tail when ctx ends.
func (s *Stack) poll(ctx context.Context, p *process, what string, check func() error) error {
	began := time.Now()
	var last error
	for {
		if last = check(); last == nil {
			s.logf("%s after %s", what, time.Since(began).Round(10*time.Millisecond))
			return nil
		}
		if p != nil {
			if done, err := p.exited(); done {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return fmt.Errorf("interrupted while waiting for %s", what)
			}
			msg := fmt.Sprintf("waiting for %s: %v (last error: %v)", what, ctx.Err(), last)
			if p != nil {
				msg += fmt.Sprintf("; log %s:\n%s", p.logPath, tail(p.logPath, 30))
			}
			return fmt.Errorf("%s", msg)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *Stack) adminHTTPClient() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(s.paths.pkiFile("admin.crt"), s.paths.pkiFile("admin.key"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(readFile(s.CACert))
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

func httpOK(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		// A verbose health report: keep only the failing checks ("[-]...").
		var failing []string
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "[-]") {
				failing = append(failing, line)
			}
		}
		if len(failing) == 0 && len(body) > 512 {
			body = body[:512]
		} else if len(failing) > 0 {
			body = []byte(strings.Join(failing, "; "))
		}
		return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
