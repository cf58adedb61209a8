package repository

import (
	"fmt"

	"k8s.io/client-go/rest"

	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// Name is the controller's name in --controllers.
const Name = "repository"

// Registration adds the repository controller to streamspace-controller.
func Registration() manager.Registration {
	opts := NewOptions()
	return manager.Registration{Name: Name, Options: opts, New: func(c manager.Context) (manager.Controller, error) {
		catalogClient := c.StreamClient
		if c.RESTConfig != nil {
			var err error
			if catalogClient, err = catalogSyncClient(c.RESTConfig, *opts); err != nil {
				return nil, err
			}
		}
		return New(Config{
			Client:          c.StreamClient,
			CatalogClient:   catalogClient,
			KubeClient:      c.KubeClient,
			InformerFactory: c.StreamInformers,
			Options:         *opts,
			Clock:           c.Clock,
			Recorder:        c.EventRecorder(Name),
			Logger:          c.Logger,
		})
	}}
}

// catalogSyncClient is a client like the manager's, with a rate limiter of
// its own set by --catalog-sync-qps and --catalog-sync-burst.
func catalogSyncClient(shared *rest.Config, opts Options) (versioned.Interface, error) {
	cfg := rest.CopyConfig(shared)
	cfg.RateLimiter = nil
	cfg.QPS, cfg.Burst = opts.CatalogSyncQPS, opts.CatalogSyncBurst
	if cfg.UserAgent != "" {
		// Its requests are told apart in the API servers' logs and audit.
		cfg.UserAgent += " (catalog sync)"
	}
	client, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("build the catalog sync client: %w", err)
	}
	return client, nil
}
