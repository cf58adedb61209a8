package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	"github.com/streamspace/controlplane/pkg/gitcatalog/giturl"
)

// AnnotationTrigger requests syncs by setting the sync-requested-at
// annotation of matching TemplateRepositories, and remembers the delivery in
// their webhook-deliveries annotation. Its client is the bridge's own
// service identity, which RBAC lets list and patch templaterepositories and
// nothing else: a Git host has no Kubernetes identity to act with.
type AnnotationTrigger struct {
	Client versioned.Interface
	Clock  clock.PassiveClock
}

// maxRememberedDeliveries bounds the webhook-deliveries annotation (each
// entry is 33 bytes; a delivery has one or two).
const maxRememberedDeliveries = 32

// RequestSync implements Trigger. A repository whose annotation already
// holds one of the delivery's keys is replayed, not patched. The patch is
// conditional on the resourceVersion read, so two replicas serving the same
// delivery at once cannot both request the sync.
func (t *AnnotationTrigger) RequestSync(ctx context.Context, url, branch string, delivery []string) (requested, replayed []string, err error) {
	repos, err := t.Client.CatalogV1alpha1().TemplateRepositories().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list template repositories: %w", err)
	}
	now := time.Now()
	if t.Clock != nil {
		now = t.Clock.Now()
	}
	keys := make([]string, len(delivery))
	for i, k := range delivery {
		sum := sha256.Sum256([]byte(k))
		keys[i] = hex.EncodeToString(sum[:16])
	}
	for i := range repos.Items {
		r := &repos.Items[i]
		if giturl.Normalize(r.Spec.URL) != url || (branch != "" && r.Spec.Branch != branch) {
			continue
		}
		isReplay, err := t.requestOne(ctx, r, keys, now)
		if err != nil {
			return requested, replayed, fmt.Errorf("request sync of repository %s: %w", r.Name, err)
		}
		if isReplay {
			replayed = append(replayed, r.Name)
		} else {
			requested = append(requested, r.Name)
		}
	}
	return requested, replayed, nil
}

func (t *AnnotationTrigger) requestOne(ctx context.Context, r *catalogv1alpha1.TemplateRepository, keys []string, now time.Time) (bool, error) {
	repos := t.Client.CatalogV1alpha1().TemplateRepositories()
	for attempt := 0; ; attempt++ {
		seen := strings.Fields(r.Annotations[catalog.WebhookDeliveriesAnnotation])
		for _, k := range keys {
			if slices.Contains(seen, k) {
				return true, nil
			}
		}
		remembered := append(seen, keys...)
		if len(remembered) > maxRememberedDeliveries {
			remembered = remembered[len(remembered)-maxRememberedDeliveries:]
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": r.ResourceVersion,
			"annotations": map[string]string{
				catalog.SyncRequestedAnnotation:     now.UTC().Format(time.RFC3339Nano),
				catalog.WebhookDeliveriesAnnotation: strings.Join(remembered, " "),
			},
		}})
		if err != nil {
			return false, err
		}
		_, err = repos.Patch(ctx, r.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "streamspace-bridge-webhook"})
		if !apierrors.IsConflict(err) || attempt == 4 {
			return false, err
		}
		// Changed meanwhile (perhaps by another replica serving this delivery): look again.
		if r, err = repos.Get(ctx, r.Name, metav1.GetOptions{}); err != nil {
			return false, err
		}
	}
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
