package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PlatformConfigurationName is the name of the one PlatformConfiguration.
const PlatformConfigurationName = "cluster"

// +genclient
// +genclient:nonNamespaced
// +genclient:noStatus
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// PlatformConfiguration is what administrators tune for the whole platform.
// There is one, named "cluster"; what it leaves unset falls back to the
// controllers' command-line flags. Controllers pick up a change within
// seconds, without a restart.
type PlatformConfiguration struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	// +optional
	Spec PlatformConfigurationSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// +optional
	Status PlatformConfigurationStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// PlatformConfigurationSpec holds the settings, by area.
type PlatformConfigurationSpec struct {
	// ingress: how sessions are reached from outside.
	// +optional
	Ingress IngressConfiguration `json:"ingress,omitempty" protobuf:"bytes,1,opt,name=ingress"`
	// sessions: idle handling and default resources.
	// +optional
	Sessions SessionConfiguration `json:"sessions,omitempty" protobuf:"bytes,2,opt,name=sessions"`
	// home: the persistent home volumes of users.
	// +optional
	Home HomeConfiguration `json:"home,omitempty" protobuf:"bytes,3,opt,name=home"`
	// catalog: template repositories.
	// +optional
	Catalog CatalogConfiguration `json:"catalog,omitempty" protobuf:"bytes,4,opt,name=catalog"`
}

// IngressConfiguration says where sessions' Ingresses point.
type IngressConfiguration struct {
	// domain gives every session an Ingress at
	// https://<session>-<namespace>.<domain>/. Empty: the controller's
	// --ingress-domain.
	// +optional
	Domain string `json:"domain,omitempty" protobuf:"bytes,1,opt,name=domain"`
	// className is the IngressClass of session Ingresses. Empty: the
	// controller's --ingress-class.
	// +optional
	ClassName string `json:"className,omitempty" protobuf:"bytes,2,opt,name=className"`
}

// SessionConfiguration holds the defaults of sessions.
type SessionConfiguration struct {
	// defaultIdleTimeout applies to sessions without spec.idleTimeout; 0
	// never hibernates them. Unset: the controller's --default-idle-timeout.
	// +optional
	DefaultIdleTimeout *metav1.Duration `json:"defaultIdleTimeout,omitempty" protobuf:"bytes,1,opt,name=defaultIdleTimeout"`
	// autoHibernation turns the hibernation of idle sessions on or off.
	// Unset: on.
	// +optional
	AutoHibernation *bool `json:"autoHibernation,omitempty" protobuf:"varint,2,opt,name=autoHibernation"`
	// staleConnectionTimeout: a Connection without a heartbeat for this long
	// is removed. Unset: the controller's --stale-connection-timeout.
	// +optional
	StaleConnectionTimeout *metav1.Duration `json:"staleConnectionTimeout,omitempty" protobuf:"bytes,3,opt,name=staleConnectionTimeout"`
	// defaultResources apply to sessions whose spec and template name no
	// resources.
	// +optional
	DefaultResources *ResourceRequirements `json:"defaultResources,omitempty" protobuf:"bytes,4,opt,name=defaultResources"`
}

// HomeConfiguration describes the home-<user> PersistentVolumeClaims.
type HomeConfiguration struct {
	// volumeSize requested by a new home claim. Unset: the controller's
	// --home-size.
	// +optional
	VolumeSize *resource.Quantity `json:"volumeSize,omitempty" protobuf:"bytes,1,opt,name=volumeSize"`
	// storageClassName of new home claims. Empty: the controller's
	// --home-storage-class.
	// +optional
	StorageClassName string `json:"storageClassName,omitempty" protobuf:"bytes,2,opt,name=storageClassName"`
}

// CatalogConfiguration holds the defaults of template repositories.
type CatalogConfiguration struct {
	// syncInterval applies to repositories without spec.syncInterval; 0
	// syncs them only when asked. Unset: one hour.
	// +optional
	SyncInterval *metav1.Duration `json:"syncInterval,omitempty" protobuf:"bytes,1,opt,name=syncInterval"`
}

// PlatformConfigurationStatus says who changed the settings last.
type PlatformConfigurationStatus struct {
	// updatedBy is the user whose request last changed the spec.
	// +optional
	UpdatedBy string `json:"updatedBy,omitempty" protobuf:"bytes,1,opt,name=updatedBy"`
	// updatedAt is when the spec last changed.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty" protobuf:"bytes,2,opt,name=updatedAt"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// PlatformConfigurationList is a list of PlatformConfigurations (at most one).
type PlatformConfigurationList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Items           []PlatformConfiguration `json:"items" protobuf:"bytes,2,rep,name=items"`
}
