package catalog

// Labels and annotations of the catalog, shared by the repository
// controller, the install admission plugin and the webhook.
const (
	// SyncRequestedAnnotation on a TemplateRepository asks for a sync when its
	// value changes: kubectl annotate repo X catalog.stream.space/sync-requested-at="$(date -Iseconds)" --overwrite
	SyncRequestedAnnotation = "catalog.stream.space/sync-requested-at"
	// RepositoryLabel on a CatalogTemplate names its repository (when the
	// name fits a label value; the field selector spec.repository always works).
	RepositoryLabel = "catalog.stream.space/repository"
	// CategoryLabel on a CatalogTemplate is its normalised category.
	CategoryLabel = "catalog.stream.space/category"
	// TagLabelPrefix + <tag slug> is set to "" on a CatalogTemplate for each
	// of its tags: kubectl get ctpl -l tag.catalog.stream.space/web-browsers
	TagLabelPrefix = "tag.catalog.stream.space/"
	// SourceLabel on a Template names the CatalogTemplate it was installed from.
	SourceLabel = "catalog.stream.space/source"
	// ContentHashAnnotation on a CatalogTemplate is the hash of what the
	// repository sync wrote (name, labels, owner references, spec). A no-op
	// sync compares it with the hash of what is stored to find objects
	// changed by hand without parsing the repository again.
	ContentHashAnnotation = "catalog.stream.space/content-hash"
)

// Credentials of TemplateRepositories.
const (
	// RepositoriesAnnotation on a credentials Secret lists, comma-separated,
	// the TemplateRepositories allowed to use it. The repository controller
	// reads no key of a Secret that does not name the repository, so naming a
	// Secret in spec.auth.secretRef is not enough to have it sent to a Git host.
	RepositoriesAnnotation = "catalog.stream.space/repositories"
	// DefaultCredentialsNamespace holds the credentials Secrets of
	// repositories whose spec.auth.secretRef names no namespace (the
	// controller's --secret-namespace default).
	DefaultCredentialsNamespace = "streamspace-system"
)

// WebhookDeliveriesAnnotation on a TemplateRepository holds the last
// webhook deliveries that asked for its sync (space-separated hashes of their
// delivery IDs and signed bodies), so that every bridge replica refuses a
// delivery another one already served.
const WebhookDeliveriesAnnotation = "catalog.stream.space/webhook-deliveries"
