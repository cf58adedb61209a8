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
	// WriteParallelism is the number of CatalogTemplate writes in flight per sync.
	WriteParallelism int
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		WorkDir:          filepath.Join(os.TempDir(), "streamspace-repositories"),
		SecretNamespace:  DefaultSecretNamespace,
		WriteParallelism: 8,
	}
}

// AddFlags adds the flags to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.WorkDir, "repository-work-dir", o.WorkDir, "Directory for the shallow clones of TemplateRepositories (one folder each; a cache, safe to delete).")
	fs.StringVar(&o.SecretNamespace, "secret-namespace", o.SecretNamespace, "Namespace of the credentials Secrets of TemplateRepositories whose auth.secretRef names no namespace.")
	fs.IntVar(&o.WriteParallelism, "repository-write-parallelism", o.WriteParallelism, "Number of CatalogTemplate writes in flight during one sync.")
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
	return errors.Join(errs...)
}
