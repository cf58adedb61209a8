// Package controller is the command line of streamspace-controller:
// options (flags, validation), leader election on a Lease, the health and
// metrics endpoint, and the controller manager.
package controller

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/spf13/pflag"
	componentbaseconfig "k8s.io/component-base/config"
	"k8s.io/component-base/config/options"

	"github.com/streamspace/controlplane/pkg/controller/manager"
)

// Options are the flags of streamspace-controller.
type Options struct {
	// Kubeconfig of the controller's identity; empty means in-cluster.
	Kubeconfig string
	// HealthAddr serves /healthz and /metrics over plain HTTP.
	HealthAddr string
	// Controllers selects controllers: "*", "name", "-name".
	Controllers []string
	// Workers is the number of reconcile loops per controller. A
	// reconcile mostly waits for API round trips (a new session's first one
	// creates its children and writes its status), so loops overlap them: at
	// 6, 1,200 sessions created at once were all Running 26 % sooner than at
	// 2, and over three times as many after the first minute, with the heartbeats
	// of their viewers no slower (docs/heartbeats.md, round 35).
	Workers int
	// ResyncPeriod is how often informers replay their caches into the
	// controllers. Every deadline is scheduled on the work queue and every
	// change arrives as a watch event, so the replay is only a safety net;
	// at thousands of sessions it is a burst of reconciles (seconds of
	// CPU), so it is rare by default, as in controller-runtime (10 h).
	ResyncPeriod time.Duration
	// QPS and Burst bound the requests to the API servers.
	QPS   float32
	Burst int
	// LeaderElection: only the holder of the Lease acts.
	LeaderElection componentbaseconfig.LeaderElectionConfiguration

	registry manager.Registry
}

// NewOptions returns the defaults, with every registered controller's options.
func NewOptions(registry manager.Registry) *Options {
	return &Options{
		HealthAddr:   ":8080",
		Controllers:  []string{"*"},
		Workers:      6,
		ResyncPeriod: 10 * time.Hour,
		QPS:          50,
		Burst:        100,
		LeaderElection: componentbaseconfig.LeaderElectionConfiguration{
			LeaderElect:       true,
			LeaseDuration:     metav1Duration(15 * time.Second),
			RenewDeadline:     metav1Duration(10 * time.Second),
			RetryPeriod:       metav1Duration(2 * time.Second),
			ResourceLock:      "leases",
			ResourceName:      "streamspace-controller",
			ResourceNamespace: "streamspace-system",
		},
		registry: registry,
	}
}

// AddFlags adds the manager's flags and every controller's.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig of the controller's identity; empty means the in-cluster service account.")
	fs.StringVar(&o.HealthAddr, "health-addr", o.HealthAddr, "Address serving /healthz and /metrics over HTTP.")
	fs.StringSliceVar(&o.Controllers, "controllers", o.Controllers, fmt.Sprintf(
		"Controllers to run: '*' for all, 'foo' to enable foo, '-foo' to disable foo. All: %v.", o.registry.Names()))
	fs.IntVar(&o.Workers, "workers", o.Workers, "Reconcile loops per controller.")
	fs.DurationVar(&o.ResyncPeriod, "resync-period", o.ResyncPeriod, "How often informers replay their caches (a safety net; deadlines are scheduled exactly).")
	fs.Float32Var(&o.QPS, "kube-api-qps", o.QPS, "Requests per second to the API servers.")
	fs.IntVar(&o.Burst, "kube-api-burst", o.Burst, "Burst of requests to the API servers.")
	options.BindLeaderElectionFlags(&o.LeaderElection, fs)
	for _, reg := range o.registry {
		if reg.Options != nil {
			reg.Options.AddFlags(fs)
		}
	}
}

// Validate checks every option and reports all problems at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Kubeconfig != "" {
		if _, err := os.Stat(o.Kubeconfig); err != nil {
			errs = append(errs, fmt.Errorf("--kubeconfig: %w", err))
		}
	}
	if _, _, err := net.SplitHostPort(o.HealthAddr); err != nil {
		errs = append(errs, fmt.Errorf("--health-addr %q: %w", o.HealthAddr, err))
	}
	if err := o.registry.ValidateSelection(o.Controllers); err != nil {
		errs = append(errs, err)
	}
	if o.Workers < 1 {
		errs = append(errs, fmt.Errorf("--workers must be at least 1, got %d", o.Workers))
	}
	if o.ResyncPeriod <= 0 {
		errs = append(errs, fmt.Errorf("--resync-period must be positive, got %s", o.ResyncPeriod))
	}
	if le := o.LeaderElection; le.LeaderElect {
		if le.ResourceLock != "leases" {
			errs = append(errs, fmt.Errorf("--leader-elect-resource-lock must be leases, got %q", le.ResourceLock))
		}
		if le.RenewDeadline.Duration >= le.LeaseDuration.Duration {
			errs = append(errs, fmt.Errorf("--leader-elect-renew-deadline (%s) must be shorter than --leader-elect-lease-duration (%s)",
				le.RenewDeadline.Duration, le.LeaseDuration.Duration))
		}
		if le.ResourceName == "" || le.ResourceNamespace == "" {
			errs = append(errs, errors.New("--leader-elect-resource-name and --leader-elect-resource-namespace are required"))
		}
	}
	for _, reg := range o.registry {
		if reg.Options != nil && manager.Enabled(reg.Name, o.Controllers) {
			if err := reg.Options.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("controller %s: %w", reg.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
