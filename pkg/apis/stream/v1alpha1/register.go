package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of sessions, templates and connections.
const GroupName = "stream.space"

// SchemeGroupVersion is the group version of this package.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

var (
	// SchemeBuilder registers the types, conversions and defaults of this version.
	SchemeBuilder      runtime.SchemeBuilder
	localSchemeBuilder = &SchemeBuilder
	// AddToScheme adds this version to a scheme.
	AddToScheme = localSchemeBuilder.AddToScheme
)

func init() {
	// Generated functions register themselves in the zz_generated files, so this
	// package compiles without them.
	localSchemeBuilder.Register(addKnownTypes, addDefaultingFuncs, addFieldLabelConversions)
}

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion,
		&Session{}, &SessionList{},
		&Template{}, &TemplateList{},
		&Connection{}, &ConnectionList{},
		&User{}, &UserList{},
		&APIKey{}, &APIKeyList{},
		&PlatformConfiguration{}, &PlatformConfigurationList{},
		&AuditEvent{}, &AuditEventList{},
		&SessionQuota{}, &SessionQuotaList{},
		&SessionShare{}, &SessionShareList{},
		&Usage{}, &UsageList{},
		&SessionPool{}, &SessionPoolList{},
		// Bodies and answers of the connect and heartbeat subresources.
		&SessionConnectRequest{}, &SessionConnectResponse{}, &ConnectionHeartbeat{},
	)
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}

// Resource returns a group-qualified resource.
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}
