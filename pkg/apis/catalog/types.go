package catalog

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// AuthType is how the controller authenticates to a Git repository.
type AuthType string

const (
	AuthTypeNone  AuthType = "none"
	AuthTypeSSH   AuthType = "ssh"
	AuthTypeToken AuthType = "token"
	AuthTypeBasic AuthType = "basic"
)

// RepositoryPhase is the sync state of a repository.
type RepositoryPhase string

const (
	RepositoryPhasePending RepositoryPhase = "Pending"
	RepositoryPhaseSyncing RepositoryPhase = "Syncing"
	RepositoryPhaseReady   RepositoryPhase = "Ready"
	RepositoryPhaseFailed  RepositoryPhase = "Failed"
)

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// TemplateRepository is a Git repository of templates.
type TemplateRepository struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   TemplateRepositorySpec
	Status TemplateRepositoryStatus
}

// TemplateRepositorySpec says where the templates are and how to fetch them.
type TemplateRepositorySpec struct {
	URL          string
	Branch       string
	Path         string
	SyncInterval *metav1.Duration
	Auth         RepositoryAuth
}

// RepositoryAuth names the credentials of a repository.
type RepositoryAuth struct {
	Type      AuthType
	SecretRef *SecretReference
}

// SecretReference names a Secret.
type SecretReference struct {
	Name      string
	Namespace string
}

// TemplateRepositoryStatus is the result of the last sync.
type TemplateRepositoryStatus struct {
	Phase              RepositoryPhase
	LastSyncTime       *metav1.Time
	LastSyncedCommit   string
	TemplateCount      int32
	ErrorMessage       string
	FileErrors         []FileError
	SkippedFiles       []FileError
	Conditions         []metav1.Condition
	ObservedGeneration int64
}

// FileError is a file of the repository that was skipped, and why.
type FileError struct {
	Path   string
	Reason string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// TemplateRepositoryList is a list of repositories.
type TemplateRepositoryList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []TemplateRepository
}

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// CatalogTemplate is one template offered by a repository.
type CatalogTemplate struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   CatalogTemplateSpec
	Status CatalogTemplateStatus
}

// CatalogTemplateSpec is a template as found in a repository.
type CatalogTemplateSpec struct {
	Repository string
	Path       string
	Category   string
	Template   stream.TemplateSpec
}

// CatalogTemplateStatus counts installs.
type CatalogTemplateStatus struct {
	InstallCount int64
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// CatalogTemplateList is a list of catalog templates.
type CatalogTemplateList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []CatalogTemplate
}
