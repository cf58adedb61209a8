// Package manager is what every StreamSpace controller is built on: a
// registry of named controllers (like kube-controller-manager's
// --controllers), the clients, shared informers, event recorders and clock
// they get, and the loop that starts the enabled ones.
//
// Adding a controller is one line in pkg/cmd/controller's registry: a
// Registration with its name, its flags (optional) and its constructor.
package manager

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	streaminformers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
)

// ManagedByLabel marks the Kubernetes objects StreamSpace controllers own;
// ManagedKubeInformers only see objects with it.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "streamspace-controller"
)

// Context is what a controller is built from. Informers must be requested
// in the constructor: the manager starts the factories after every enabled
// controller has been built.
type Context struct {
	KubeClient   kubernetes.Interface
	StreamClient clientset.Interface
	// RESTConfig is what the clients above were built from (their rate
	// limit included), for a controller that needs a client of its own,
	// with a limiter of its own; nil in tests that give clients only.
	RESTConfig *rest.Config
	// StreamInformers serve Sessions, Templates, Connections and the catalog.
	StreamInformers streaminformers.SharedInformerFactory
	// ManagedKubeInformers only see Kubernetes objects labelled
	// app.kubernetes.io/managed-by=streamspace-controller (Deployments,
	// Services, PVCs, Ingresses, Pods of sessions), so the controller does
	// not cache a whole cluster's pods.
	ManagedKubeInformers informers.SharedInformerFactory
	// KubeInformers see every object (e.g. Secrets for a repository sync).
	KubeInformers informers.SharedInformerFactory
	// EventRecorder returns a recorder whose events name the controller.
	EventRecorder func(controller string) record.EventRecorder
	// Clock is injected so deadlines can be tested without sleeping.
	Clock clock.WithTicker
	// Workers is the number of reconcile loops per controller.
	Workers int
	// Logger is the controller's logger, named after it, for what it logs
	// outside a reconcile (informer event handlers). The context Run gets
	// carries the same logger.
	Logger klog.Logger
}

// Controller is a started-by-the-manager control loop.
type Controller interface {
	// Run blocks until ctx ends, after waiting for its caches to sync; an
	// error means it could not run (its caches never synced).
	Run(ctx context.Context, workers int) error
}

// FlagSet is a controller's own options: flags, then validation.
type FlagSet interface {
	AddFlags(fs *pflag.FlagSet)
	Validate() error
}

// Registration names a controller, its options and how to build it.
type Registration struct {
	Name string
	// Options are the controller's flags; nil when it has none. New sees
	// them parsed and validated.
	Options FlagSet
	New     func(ctx Context) (Controller, error)
}

// Registry is the ordered list of every controller the binary knows.
type Registry []Registration

// Names returns the controller names in registry order.
func (r Registry) Names() []string {
	names := make([]string, 0, len(r))
	for _, reg := range r {
		names = append(names, reg.Name)
	}
	return names
}

// Enabled tells whether name is selected by a --controllers list: "*"
// selects all, "foo" selects foo, "-foo" deselects foo (as
// kube-controller-manager reads it).
func Enabled(name string, selection []string) bool {
	star := false
	for _, s := range selection {
		switch {
		case s == name:
			return true
		case s == "-"+name:
			return false
		case s == "*":
			star = true
		}
	}
	return star
}

// ValidateSelection rejects names that are not registered.
func (r Registry) ValidateSelection(selection []string) error {
	known := r.Names()
	for _, s := range selection {
		n := strings.TrimPrefix(s, "-")
		if n != "*" && !slices.Contains(known, n) {
			return fmt.Errorf("--controllers: unknown controller %q (known: %s)", n, strings.Join(known, ", "))
		}
	}
	return nil
}

// Run builds the selected controllers, starts the informers and runs the
// controllers until ctx ends. It returns after every controller stopped.
func (r Registry) Run(ctx context.Context, c Context, selection []string) error {
	logger := klog.FromContext(ctx)
	var started []namedController
	for _, reg := range r {
		if !Enabled(reg.Name, selection) {
			logger.Info("controller disabled", "controller", reg.Name)
			continue
		}
		built := c
		built.Logger = klog.LoggerWithName(logger, reg.Name)
		ctrl, err := reg.New(built)
		if err != nil {
			return fmt.Errorf("build controller %s: %w", reg.Name, err)
		}
		started = append(started, namedController{reg.Name, ctrl, built.Logger})
	}
	if len(started) == 0 {
		return fmt.Errorf("no controller enabled by --controllers=%s", strings.Join(selection, ","))
	}
	c.StreamInformers.Start(ctx.Done())
	c.ManagedKubeInformers.Start(ctx.Done())
	c.KubeInformers.Start(ctx.Done())

	var wg sync.WaitGroup
	for _, nc := range started {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc.logger.Info("starting controller", "workers", c.Workers)
			began := time.Now()
			if err := nc.ctrl.Run(klog.NewContext(ctx, nc.logger), c.Workers); err != nil {
				nc.logger.Error(err, "controller failed")
			}
			nc.logger.Info("controller stopped", "ran", time.Since(began).Round(time.Second))
		}()
	}
	wg.Wait()
	c.StreamInformers.Shutdown()
	c.ManagedKubeInformers.Shutdown()
	c.KubeInformers.Shutdown()
	return nil
}

type namedController struct {
	name   string
	ctrl   Controller
	logger klog.Logger
}
