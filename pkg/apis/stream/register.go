package stream

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of sessions, templates and connections.
const GroupName = "stream.space"

// SchemeGroupVersion is the internal version of the group.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: runtime.APIVersionInternal}

// Kind returns a group-qualified kind.
func Kind(kind string) schema.GroupKind { return SchemeGroupVersion.WithKind(kind).GroupKind() }

// Resource returns a group-qualified resource.
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}

var (
	// SchemeBuilder registers the internal types.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the internal types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

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
	return nil
}
