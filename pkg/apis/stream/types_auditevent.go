package stream

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// AuditEvent is one entry of the audit trail.
type AuditEvent struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	AuditID         string
	User            string
	Groups          []string
	Verb            string
	APIGroup        string
	Version         string
	Resource        string
	Subresource     string
	ObjectNamespace string
	ObjectName      string
	RequestURI      string
	Code            int32
	SourceIPs       string
	UserAgent       string
	Stage           string
	Level           string
	Changes         *runtime.RawExtension
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// AuditEventList is a page of the audit trail.
type AuditEventList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []AuditEvent
}
