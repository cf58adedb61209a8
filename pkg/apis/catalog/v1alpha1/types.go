package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// AuthType is how the controller authenticates to a Git repository.
// +enum
type AuthType string

const (
	AuthTypeNone  AuthType = "none"
	AuthTypeSSH   AuthType = "ssh"
	AuthTypeToken AuthType = "token"
	AuthTypeBasic AuthType = "basic"
)

// RepositoryPhase is the sync state of a repository.
// +enum
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

// TemplateRepository is a Git repository of templates that the catalog is synced from.
type TemplateRepository struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// +optional
	Spec TemplateRepositorySpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// +optional
	Status TemplateRepositoryStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// TemplateRepositorySpec says where the templates are and how to fetch them.
type TemplateRepositorySpec struct {
	// url of the Git repository (https:// or ssh).
	URL string `json:"url" protobuf:"bytes,1,opt,name=url"`
	// branch to sync. Defaults to main.
	// +optional
	Branch string `json:"branch,omitempty" protobuf:"bytes,2,opt,name=branch"`
	// path inside the repository where templates are. Defaults to the root.
	// +optional
	Path string `json:"path,omitempty" protobuf:"bytes,3,opt,name=path"`
	// syncInterval between scheduled syncs. Defaults to 1h.
	// +optional
	SyncInterval *metav1.Duration `json:"syncInterval,omitempty" protobuf:"bytes,4,opt,name=syncInterval"`
	// auth names the credentials. Defaults to none.
	// +optional
	Auth RepositoryAuth `json:"auth,omitempty" protobuf:"bytes,5,opt,name=auth"`
}

// RepositoryAuth names the credentials of a repository.
type RepositoryAuth struct {
	// type is none, ssh, token or basic. Defaults to none.
	// +optional
	Type AuthType `json:"type,omitempty" protobuf:"bytes,1,opt,name=type,casttype=AuthType"`
	// secretRef names the Secret holding the credentials (keys: token; username
	// and password; ssh-privatekey and known_hosts).
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty" protobuf:"bytes,2,opt,name=secretRef"`
}

// SecretReference names a Secret.
type SecretReference struct {
	Name string `json:"name" protobuf:"bytes,1,opt,name=name"`
	// namespace of the Secret. Defaults to the controller's namespace.
	// +optional
	Namespace string `json:"namespace,omitempty" protobuf:"bytes,2,opt,name=namespace"`
}

// TemplateRepositoryStatus is the result of the last sync.
type TemplateRepositoryStatus struct {
	// +optional
	Phase RepositoryPhase `json:"phase,omitempty" protobuf:"bytes,1,opt,name=phase,casttype=RepositoryPhase"`
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty" protobuf:"bytes,2,opt,name=lastSyncTime"`
	// lastSyncedCommit is the commit the catalog reflects.
	// +optional
	LastSyncedCommit string `json:"lastSyncedCommit,omitempty" protobuf:"bytes,3,opt,name=lastSyncedCommit"`
	// +optional
	TemplateCount int32 `json:"templateCount,omitempty" protobuf:"varint,4,opt,name=templateCount"`
	// +optional
	ErrorMessage string `json:"errorMessage,omitempty" protobuf:"bytes,5,opt,name=errorMessage"`
	// fileErrors are the files skipped by the last sync, and why.
	// +optional
	// +listType=atomic
	FileErrors []FileError `json:"fileErrors,omitempty" protobuf:"bytes,6,rep,name=fileErrors"`
	// skippedFiles are YAML documents that are not templates (e.g. a
	// TemplateCatalog index), skipped on purpose, and why.
	// +optional
	// +listType=atomic
	SkippedFiles []FileError `json:"skippedFiles,omitempty" protobuf:"bytes,7,rep,name=skippedFiles"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" protobuf:"bytes,8,rep,name=conditions"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty" protobuf:"varint,9,opt,name=observedGeneration"`
}

// FileError is a file of the repository that was skipped, and why.
type FileError struct {
	Path   string `json:"path" protobuf:"bytes,1,opt,name=path"`
	Reason string `json:"reason" protobuf:"bytes,2,opt,name=reason"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// TemplateRepositoryList is a list of repositories.
type TemplateRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Items           []TemplateRepository `json:"items" protobuf:"bytes,2,rep,name=items"`
}

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// CatalogTemplate is one template offered by a repository. It is written by
// the repository sync and read-only to users.
type CatalogTemplate struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// +optional
	Spec CatalogTemplateSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// +optional
	Status CatalogTemplateStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// CatalogTemplateSpec is a template as found in a repository.
type CatalogTemplateSpec struct {
	// repository is the name of the TemplateRepository it came from.
	Repository string `json:"repository" protobuf:"bytes,1,opt,name=repository"`
	// path of the file in the repository.
	// +optional
	Path string `json:"path,omitempty" protobuf:"bytes,2,opt,name=path"`
	// category is template.category normalised for filtering (e.g. "web-browsers").
	// +optional
	Category string `json:"category,omitempty" protobuf:"bytes,3,opt,name=category"`
	// template is the template as it will be installed.
	Template streamv1alpha1.TemplateSpec `json:"template" protobuf:"bytes,4,opt,name=template"`
}

// CatalogTemplateStatus counts installs.
type CatalogTemplateStatus struct {
	// +optional
	InstallCount int64 `json:"installCount,omitempty" protobuf:"varint,1,opt,name=installCount"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// CatalogTemplateList is a list of catalog templates.
type CatalogTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Items           []CatalogTemplate `json:"items" protobuf:"bytes,2,rep,name=items"`
}
