package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/metrics"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	streamscheme "github.com/streamspace/controlplane/pkg/generated/clientset/versioned/scheme"
	streaminformers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
	"github.com/streamspace/controlplane/pkg/metricsauth"
)

func metav1Duration(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }

// NewCommand is the streamspace-controller command.
func NewCommand(ctx context.Context) *cobra.Command {
	o := NewOptions(Controllers())
	cmd := &cobra.Command{
		Use:   "streamspace-controller",
		Short: "Controllers of StreamSpace: session workloads, connections, hibernation, template validation",
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(ctx)
		},
		SilenceUsage: true,
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// Run serves health and metrics, then runs the controllers while this
// process holds the Lease (or at once without leader election). Losing the
// Lease ends the process, so a restart starts from clean caches.
func (o *Options) Run(ctx context.Context) error {
	cfg, err := o.restConfig()
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("build the Kubernetes client: %w", err)
	}
	stream, err := clientset.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("build the StreamSpace client: %w", err)
	}

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartStructuredLogging(4)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := streamscheme.AddToScheme(scheme); err != nil {
		return err
	}
	// The identity names this replica in the Lease and, as the source host,
	// in its Events, so `kubectl get events -o wide` shows which replica acted.
	identity := replicaIdentity()
	recorder := func(controller string) record.EventRecorder {
		return broadcaster.NewRecorder(scheme, corev1.EventSource{Component: "streamspace-" + controller + "-controller", Host: identity})
	}

	var checks []healthz.HealthChecker
	var electionHealth *leaderelection.HealthzAdaptor
	if o.LeaderElection.LeaderElect {
		electionHealth = leaderelection.NewLeaderHealthzAdaptor(20 * time.Second)
		checks = append(checks, electionHealth)
	}
	if err := o.serveHealthAndMetrics(ctx, cfg, checks); err != nil {
		return err
	}

	run := func(ctx context.Context) {
		if err := o.runControllers(ctx, cfg, kube, stream, recorder); err != nil {
			klog.FromContext(ctx).Error(err, "controllers failed")
			klog.FlushAndExit(klog.ExitFlushTimeout, 1)
		}
	}
	if !o.LeaderElection.LeaderElect {
		run(ctx)
		return nil
	}
	return o.runWithLeaderElection(ctx, kube, identity, recorder("leader-election"), electionHealth, run)
}

// replicaIdentity is the host name (the pod's name in a cluster) plus a
// unique suffix, as kube-controller-manager names its replicas.
func replicaIdentity() string {
	hostname, _ := os.Hostname()
	return hostname + "_" + string(uuid.NewUUID())
}

func (o *Options) restConfig() (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if o.Kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("load the client configuration: %w", err)
	}
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	cfg.UserAgent = "streamspace-controller"
	return cfg, nil
}

func (o *Options) runControllers(ctx context.Context, cfg *rest.Config, kube kubernetes.Interface, stream clientset.Interface, recorder func(string) record.EventRecorder) error {
	streamInformers := streaminformers.NewSharedInformerFactory(stream, o.ResyncPeriod)
	managed := informers.NewSharedInformerFactoryWithOptions(kube, o.ResyncPeriod, informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
		lo.LabelSelector = manager.ManagedByLabel + "=" + manager.ManagedByValue
	}))
	metrics.Register()
	sessionLister := streamInformers.Stream().V1alpha1().Sessions().Lister()
	connectionLister := streamInformers.Stream().V1alpha1().Connections().Lister()
	metrics.RegisterGauges(func() (map[string]int, error) {
		sessions, err := sessionLister.List(labels.Everything())
		byPhase := map[string]int{}
		for _, s := range sessions {
			byPhase[string(s.Status.Phase)]++
		}
		return byPhase, err
	}, func() (int, error) {
		conns, err := connectionLister.List(labels.Everything())
		return len(conns), err
	})
	return o.registry.Run(ctx, manager.Context{
		KubeClient: kube, StreamClient: stream, RESTConfig: cfg,
		StreamInformers: streamInformers, ManagedKubeInformers: managed,
		KubeInformers: informers.NewSharedInformerFactory(kube, o.ResyncPeriod),
		EventRecorder: recorder, Clock: clock.RealClock{}, Workers: o.Workers,
	}, o.Controllers)
}

func (o *Options) runWithLeaderElection(ctx context.Context, kube kubernetes.Interface, identity string, recorder record.EventRecorder, health *leaderelection.HealthzAdaptor, run func(context.Context)) error {
	le := o.LeaderElection
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, le.ResourceNamespace, le.ResourceName,
		kube.CoreV1(), kube.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: identity, EventRecorder: recorder})
	if err != nil {
		return fmt.Errorf("build the leader election lock: %w", err)
	}
	logger := klog.FromContext(ctx)
	logger.Info("waiting to lead", "lease", klog.KRef(le.ResourceNamespace, le.ResourceName), "identity", identity)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   le.LeaseDuration.Duration,
		RenewDeadline:   le.RenewDeadline.Duration,
		RetryPeriod:     le.RetryPeriod.Duration,
		ReleaseOnCancel: true,
		WatchDog:        health,
		Name:            le.ResourceName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				logger.Info("started leading", "identity", identity)
				run(ctx)
			},
			OnStoppedLeading: func() {
				if ctx.Err() != nil {
					logger.Info("stopped leading: shutting down", "identity", identity)
					return
				}
				logger.Error(nil, "lost the leader lease; exiting so that a fresh process takes over", "identity", identity)
				klog.FlushAndExit(klog.ExitFlushTimeout, 1)
			},
			OnNewLeader: func(current string) {
				if current != identity {
					logger.Info("another replica leads", "leader", current)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("build the leader elector: %w", err)
	}
	elector.Run(ctx)
	return nil
}

// serveHealthAndMetrics serves /healthz (with the leader election watchdog)
// and /metrics on HealthAddr until ctx ends. /healthz is open to the
// probes; /metrics only to callers RBAC allows get on /metrics.
func (o *Options) serveHealthAndMetrics(ctx context.Context, cluster *rest.Config, checks []healthz.HealthChecker) error {
	logger := klog.FromContext(ctx)
	mux := http.NewServeMux()
	healthz.InstallHandler(mux, append([]healthz.HealthChecker{healthz.PingHealthz}, checks...)...)
	mux.Handle(metricsauth.Path, metricsauth.Handler(cluster, legacyregistry.Handler()))
	listener, err := net.Listen("tcp", o.HealthAddr)
	if err != nil {
		return fmt.Errorf("listen on --health-addr %s: %w", o.HealthAddr, err)
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdown)
	}()
	go func() {
		if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(err, "health and metrics server failed")
		}
	}()
	logger.Info("serving health and metrics", "addr", listener.Addr().String())
	return nil
}
