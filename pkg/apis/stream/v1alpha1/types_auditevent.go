package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// +genclient
// +genclient:nonNamespaced
// +genclient:onlyVerbs=get,list
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// AuditEvent is one entry of the audit trail: a request to StreamSpace's
// API as streamspace-apiserver's audit policy records it. Read-only; the
// name is the row's id in audit_log, its creation time the event's time.
type AuditEvent struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	// auditID is the request's audit ID (several stages of one request share it).
	AuditID string `json:"auditID" protobuf:"bytes,2,opt,name=auditID"`
	// user made the request.
	User string `json:"user" protobuf:"bytes,3,opt,name=user"`
	// groups of the user.
	// +optional
	// +listType=atomic
	Groups []string `json:"groups,omitempty" protobuf:"bytes,4,rep,name=groups"`
	// verb of the request: get, list, watch, create, update, patch, delete, deletecollection.
	Verb string `json:"verb" protobuf:"bytes,5,opt,name=verb"`
	// apiGroup, version, resource and subresource requested.
	// +optional
	APIGroup string `json:"apiGroup,omitempty" protobuf:"bytes,6,opt,name=apiGroup"`
	// +optional
	Version string `json:"version,omitempty" protobuf:"bytes,7,opt,name=version"`
	// +optional
	Resource string `json:"resource,omitempty" protobuf:"bytes,8,opt,name=resource"`
	// +optional
	Subresource string `json:"subresource,omitempty" protobuf:"bytes,9,opt,name=subresource"`
	// objectNamespace and objectName of the object acted on.
	// +optional
	ObjectNamespace string `json:"objectNamespace,omitempty" protobuf:"bytes,10,opt,name=objectNamespace"`
	// +optional
	ObjectName string `json:"objectName,omitempty" protobuf:"bytes,11,opt,name=objectName"`
	// requestURI of the request.
	// +optional
	RequestURI string `json:"requestURI,omitempty" protobuf:"bytes,12,opt,name=requestURI"`
	// code of the response.
	// +optional
	Code int32 `json:"code,omitempty" protobuf:"varint,13,opt,name=code"`
	// sourceIPs of the request, the client first.
	// +optional
	SourceIPs string `json:"sourceIPs,omitempty" protobuf:"bytes,14,opt,name=sourceIPs"`
	// userAgent of the client.
	// +optional
	UserAgent string `json:"userAgent,omitempty" protobuf:"bytes,15,opt,name=userAgent"`
	// stage and level of the audit event.
	// +optional
	Stage string `json:"stage,omitempty" protobuf:"bytes,16,opt,name=stage"`
	// +optional
	Level string `json:"level,omitempty" protobuf:"bytes,17,opt,name=level"`
	// changes is the request body of a write (the object, or the patch).
	// +optional
	Changes *runtime.RawExtension `json:"changes,omitempty" protobuf:"bytes,18,opt,name=changes"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// AuditEventList is a page of the audit trail, newest first.
type AuditEventList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Items           []AuditEvent `json:"items" protobuf:"bytes,2,rep,name=items"`
}
