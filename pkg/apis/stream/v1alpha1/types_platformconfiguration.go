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
	// pricing: what session time, CPU and memory cost, for the usages
	// resource.
	// +optional
	Pricing PricingConfiguration `json:"pricing,omitempty" protobuf:"bytes,5,opt,name=pricing"`
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

// PricingConfiguration prices what sessions use. A usage's cost is its
// session hours times its template's sessionHour, plus its CPU core hours
// times cpuCoreHour, plus its memory GiB hours times memoryGiBHour. Prices
// are non-negative decimal strings such as "0.035"; an unset price is 0.
type PricingConfiguration struct {
	// currency the prices are in, e.g. EUR; shown beside every cost.
	// +optional
	Currency string `json:"currency,omitempty" protobuf:"bytes,1,opt,name=currency"`
	// cpuCoreHour is the price of one CPU core requested for one hour
	// while a session runs.
	// +optional
	CPUCoreHour string `json:"cpuCoreHour,omitempty" protobuf:"bytes,2,opt,name=cpuCoreHour"`
	// memoryGiBHour is the price of one GiB (2^30 bytes) of memory
	// requested for one hour while a session runs.
	// +optional
	MemoryGiBHour string `json:"memoryGiBHour,omitempty" protobuf:"bytes,3,opt,name=memoryGiBHour"`
	// templates price an hour of a running session by the name of its
	// template, in every namespace.
	// +optional
	// +listType=map
	// +listMapKey=template
	Templates []TemplatePrice `json:"templates,omitempty" protobuf:"bytes,4,rep,name=templates"`
}

// TemplatePrice is the price of an hour of a running session of one template.
type TemplatePrice struct {
	// template is the name of the Template.
	Template string `json:"template" protobuf:"bytes,1,opt,name=template"`
	// sessionHour is the price of one hour of a running session of it.
	SessionHour string `json:"sessionHour" protobuf:"bytes,2,opt,name=sessionHour"`
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
