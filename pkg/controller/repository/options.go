package repository

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
)

// DefaultSecretNamespace is where credentials Secrets are looked up when
// spec.auth.secretRef names no namespace.
const DefaultSecretNamespace = catalog.DefaultCredentialsNamespace

// Options are the repository controller's flags.
type Options struct {
	// WorkDir holds one shallow clone per repository.
	WorkDir string
	// SecretNamespace is the namespace of credentials Secrets whose
	// reference names none (and, with the shipped RBAC, the only one the
	// controller may read).
	SecretNamespace string
	// WriteParallelism is the number of CatalogTemplate writes in flight
	// per sync. Once the rate limit is not the bound, a first sync waits on
	// the round trips of its creates (through the aggregator to a store
	// that commits them in groups), so more in flight is faster (figures in
	// docs/benchmarks.md, template catalog).
	WriteParallelism int
	// CatalogSyncQPS and CatalogSyncBurst limit the client that writes
	// CatalogTemplates during syncs, a client of its own: a first sync
	// writes one object per template (a thousand for a big catalog), which
	// the controller manager's shared limit would spread over tens of
	// seconds while holding back every other controller's requests.
	// WriteParallelism still bounds the writes in flight.
	CatalogSyncQPS   float32
	CatalogSyncBurst int
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		WorkDir:          filepath.Join(os.TempDir(), "streamspace-repositories"),
		SecretNamespace:  DefaultSecretNamespace,
		WriteParallelism: 16,
		CatalogSyncQPS:   400,
		CatalogSyncBurst: 400,
	}
}

// AddFlags adds the flags to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.WorkDir, "repository-work-dir", o.WorkDir, "Directory for the shallow clones of TemplateRepositories (one folder each; a cache, safe to delete).")
	fs.StringVar(&o.SecretNamespace, "secret-namespace", o.SecretNamespace, "Namespace of the credentials Secrets of TemplateRepositories whose auth.secretRef names no namespace.")
	fs.IntVar(&o.WriteParallelism, "repository-write-parallelism", o.WriteParallelism, "Number of CatalogTemplate writes in flight during one sync.")
	fs.Float32Var(&o.CatalogSyncQPS, "catalog-sync-qps", o.CatalogSyncQPS, "Requests per second of the client that writes CatalogTemplates during repository syncs (its own limit, apart from --kube-api-qps).")
	fs.IntVar(&o.CatalogSyncBurst, "catalog-sync-burst", o.CatalogSyncBurst, "Burst of the client that writes CatalogTemplates during repository syncs (its own limit, apart from --kube-api-burst).")
}

// Validate checks the flags.
func (o *Options) Validate() error {
	var errs []error
	if o.WorkDir == "" {
		errs = append(errs, errors.New("--repository-work-dir: required"))
	}
	for _, msg := range utilvalidation.IsDNS1123Label(o.SecretNamespace) {
		errs = append(errs, fmt.Errorf("--secret-namespace %q: %s", o.SecretNamespace, msg))
	}
	if o.WriteParallelism < 1 {
		errs = append(errs, fmt.Errorf("--repository-write-parallelism %d: must be at least 1", o.WriteParallelism))
	}
	if o.CatalogSyncQPS <= 0 {
		errs = append(errs, fmt.Errorf("--catalog-sync-qps %v: must be positive", o.CatalogSyncQPS))
	}
	if o.CatalogSyncBurst < 1 {
		errs = append(errs, fmt.Errorf("--catalog-sync-burst %d: must be at least 1", o.CatalogSyncBurst))
	}
	return errors.Join(errs...)
}
