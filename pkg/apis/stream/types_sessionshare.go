package stream

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ShareRole is what a person a session is shared with may do in it.
type ShareRole string

const (
	// ShareRoleView lets the person watch the session's stream; the
	// streaming gateway sends them no input.
	ShareRoleView ShareRole = "view"
	// ShareRoleControl lets the person use the session as its owner does:
	// keyboard and mouse.
	ShareRoleControl ShareRole = "control"
)

// ConnectionRole is the role a Connection was opened with: the owner's, or
// that of the share it was opened through.
type ConnectionRole string

const (
	// ConnectionRoleOwner: the session's own user, or a caller RBAC lets
	// act on anyone's sessions (the assign verb).
	ConnectionRoleOwner   ConnectionRole = "owner"
	ConnectionRoleControl ConnectionRole = "control"
	ConnectionRoleView    ConnectionRole = "view"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionShare lets one user, or the members of one group, connect to a
// Session of another user, as a viewer or with control. Deleting it
// revokes the share and closes the connections opened through it.
type SessionShare struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   SessionShareSpec
	Status SessionShareStatus
}

// SessionShareSpec names the session, who it is shared with and how.
type SessionShareSpec struct {
	Session   string
	User      string
	Group     string
	Role      ShareRole
	ExpiresAt *metav1.Time
}

// SessionShareStatus is what the share grants now.
type SessionShareStatus struct {
	// Owner is the session's user, who shared it.
	Owner      string
	Conditions []metav1.Condition
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionShareList is a list of shares.
type SessionShareList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []SessionShare
}
