package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ShareRole is what a person a session is shared with may do in it: view
// (watch the stream only) or control (keyboard and mouse, as the owner).
type ShareRole string

const (
	ShareRoleView    ShareRole = "view"
	ShareRoleControl ShareRole = "control"
)

// ConnectionRole is the role a Connection was opened with: owner (the
// session's user, or a caller who may assign sessions), or the role of the
// share it was opened through, control or view. The streaming gateway
// enforces it: a view connection gets no input.
type ConnectionRole string

const (
	ConnectionRoleOwner   ConnectionRole = "owner"
	ConnectionRoleControl ConnectionRole = "control"
	ConnectionRoleView    ConnectionRole = "view"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionShare lets one user, or the members of one group, see and connect
// to another user's Session, as a viewer or with control, and nothing else.
// Only the session's user (or a caller RBAC grants the assign verb on
// sessions) may create, change or delete a share of it. Deleting the share,
// or its expiry, revokes it: the access it granted is withdrawn and the
// connections opened through it are closed. A share is deleted with its
// session.
type SessionShare struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// spec names the session, who it is shared with and the role.
	Spec SessionShareSpec `json:"spec" protobuf:"bytes,2,opt,name=spec"`
	// status is set by the server and the controller.
	// +optional
	Status SessionShareStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// SessionShareSpec names the session, who it is shared with (exactly one of
// user and group) and the role.
type SessionShareSpec struct {
	// session is the name of the Session, in the share's namespace.
	// Immutable.
	Session string `json:"session" protobuf:"bytes,1,opt,name=session"`
	// user is the person the session is shared with. Immutable.
	// +optional
	User string `json:"user,omitempty" protobuf:"bytes,2,opt,name=user"`
	// group: the session is shared with every member of this group.
	// Immutable.
	// +optional
	Group string `json:"group,omitempty" protobuf:"bytes,3,opt,name=group"`
	// role is view or control.
	Role ShareRole `json:"role" protobuf:"bytes,4,opt,name=role,casttype=ShareRole"`
	// expiresAt, when set, ends the share: the controller deletes it then.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty" protobuf:"bytes,5,opt,name=expiresAt"`
}

// SessionShareStatus is what the share grants now.
type SessionShareStatus struct {
	// owner is the session's user, who shared it; set by the server.
	// +optional
	Owner string `json:"owner,omitempty" protobuf:"bytes,1,opt,name=owner"`
	// conditions: Granted is True once the access the share grants (a Role
	// and RoleBinding in the namespace) is in place.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" protobuf:"bytes,2,rep,name=conditions"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionShareList is a list of shares.
type SessionShareList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Items           []SessionShare `json:"items" protobuf:"bytes,2,rep,name=items"`
}
