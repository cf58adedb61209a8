package stream

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PlatformConfigurationName is the name of the one PlatformConfiguration.
const PlatformConfigurationName = "cluster"

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// PlatformConfiguration is what administrators tune for the whole platform.
type PlatformConfiguration struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	Spec   PlatformConfigurationSpec
	Status PlatformConfigurationStatus
}

// PlatformConfigurationSpec holds the settings, by area.
type PlatformConfigurationSpec struct {
	Ingress  IngressConfiguration
	Sessions SessionConfiguration
	Home     HomeConfiguration
	Catalog  CatalogConfiguration
	Pricing  PricingConfiguration
}

// IngressConfiguration says where sessions' Ingresses point.
type IngressConfiguration struct {
	Domain    string
	ClassName string
}

// SessionConfiguration holds the defaults of sessions.
type SessionConfiguration struct {
	DefaultIdleTimeout     *metav1.Duration
	AutoHibernation        *bool
	StaleConnectionTimeout *metav1.Duration
	DefaultResources       *ResourceRequirements
}

// HomeConfiguration describes the home-<user> PersistentVolumeClaims.
type HomeConfiguration struct {
	VolumeSize       *resource.Quantity
	StorageClassName string
}

// CatalogConfiguration holds the defaults of template repositories.
type CatalogConfiguration struct {
	SyncInterval *metav1.Duration
}

// PricingConfiguration prices what sessions use. Prices are decimal
// strings, per hour.
type PricingConfiguration struct {
	Currency      string
	CPUCoreHour   string
	MemoryGiBHour string
	Templates     []TemplatePrice
}

// TemplatePrice is the price of an hour of a session of one template.
type TemplatePrice struct {
	Template    string
	SessionHour string
}

// PlatformConfigurationStatus says who changed the settings last.
type PlatformConfigurationStatus struct {
	UpdatedBy string
	UpdatedAt *metav1.Time
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// PlatformConfigurationList is a list of PlatformConfigurations.
type PlatformConfigurationList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []PlatformConfiguration
}
