package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	"github.com/streamspace/controlplane/pkg/catalog/giturl"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// AnnotationTrigger requests syncs by setting the sync-requested-at
// annotation of matching TemplateRepositories. Its client is the bridge's
// own service identity (ServiceAccount streamspace-system/streamspace-bridge),
// which RBAC lets list and patch templaterepositories and nothing else: a
// Git host has no Kubernetes identity to act with.
type AnnotationTrigger struct {
	Client versioned.Interface
	Clock  clock.PassiveClock
}

// RequestSync implements Trigger.
func (t *AnnotationTrigger) RequestSync(ctx context.Context, url, branch string) ([]string, error) {
	repos, err := t.Client.CatalogV1alpha1().TemplateRepositories().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list template repositories: %w", err)
	}
	now := time.Now()
	if t.Clock != nil {
		now = t.Clock.Now()
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		catalog.SyncRequestedAnnotation: now.UTC().Format(time.RFC3339Nano),
	}}})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range repos.Items {
		if giturl.Normalize(r.Spec.URL) != url || (branch != "" && r.Spec.Branch != branch) {
			continue
		}
		if _, err := t.Client.CatalogV1alpha1().TemplateRepositories().Patch(ctx, r.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "streamspace-bridge-webhook"}); err != nil {
			return names, fmt.Errorf("request sync of repository %s: %w", r.Name, err)
		}
		names = append(names, r.Name)
	}
	return names, nil
}

// Options are the webhook's flags.
type Options struct {
	// SecretFile holds the shared secret of the Git hosts' webhooks.
	SecretFile string
}

// AddFlags adds the flags to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.SecretFile, "webhook-secret-file", o.SecretFile, "File with the shared secret of Git webhooks (POST "+Path+"); the endpoint is off without it.")
}

// Validate checks the flags.
func (o *Options) Validate() []error {
	if o.SecretFile == "" {
		return nil
	}
	if _, err := o.Secret(); err != nil {
		return []error{err}
	}
	return nil
}

// Secret reads the secret, without surrounding whitespace.
func (o *Options) Secret() ([]byte, error) {
	data, err := os.ReadFile(o.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("--webhook-secret-file: %w", err)
	}
	secret := strings.TrimSpace(string(data))
	if len(secret) < 16 {
		return nil, fmt.Errorf("--webhook-secret-file %s: the secret must have at least 16 characters", o.SecretFile)
	}
	return []byte(secret), nil
}
