package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionQuota limits, for each person it matches, how many sessions that
// person may have (in any namespace) and what their running sessions may
// request. Limits apply to each matched person separately; when several
// quotas match a person, all of them apply.
type SessionQuota struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// spec names the people and the limits.
	// +optional
	Spec SessionQuotaSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// status is each matched person's usage, charged by admission and
	// recomputed by the controller.
	// +optional
	Status SessionQuotaStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// SessionQuotaSpec names who the quota applies to and the limits.
type SessionQuotaSpec struct {
	// subjects are the people the quota applies to.
	Subjects QuotaSubjects `json:"subjects" protobuf:"bytes,1,opt,name=subjects"`
	// limits apply to each subject separately.
	Limits QuotaLimits `json:"limits" protobuf:"bytes,2,opt,name=limits"`
}

// QuotaSubjects are the people a quota applies to: named users, members of
// named groups, or everyone (all: true, and then no users or groups).
type QuotaSubjects struct {
	// users are user names as the API server sees them (e.g. "alice" for a
	// static token, "oidc:alice" for an OpenID Connect sign-in).
	// +optional
	// +listType=set
	Users []string `json:"users,omitempty" protobuf:"bytes,1,rep,name=users"`
	// groups: every member of these groups is limited separately.
	// +optional
	// +listType=set
	Groups []string `json:"groups,omitempty" protobuf:"bytes,2,rep,name=groups"`
	// all: true applies the quota to everyone.
	// +optional
	All bool `json:"all,omitempty" protobuf:"varint,3,opt,name=all"`
}

// QuotaLimits are per-person limits; a limit left out does not limit.
type QuotaLimits struct {
	// maxSessions is the number of sessions (any state but terminated) a person may have.
	// +optional
	MaxSessions *int32 `json:"maxSessions,omitempty" protobuf:"varint,1,opt,name=maxSessions"`
	// maxRunningSessions is the number of sessions a person may have in state running.
	// +optional
	MaxRunningSessions *int32 `json:"maxRunningSessions,omitempty" protobuf:"varint,2,opt,name=maxRunningSessions"`
	// cpu is the total CPU request of a person's running sessions.
	// +optional
	CPU *resource.Quantity `json:"cpu,omitempty" protobuf:"bytes,3,opt,name=cpu"`
	// memory is the total memory request of a person's running sessions.
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty" protobuf:"bytes,4,opt,name=memory"`
	// homeStorage is the total size of a person's home claims, those that
	// exist and those their sessions will get. A session with a persistent
	// home in a namespace where its user has no home claim yet adds the size
	// of a new claim (the platform configuration's spec.home.volumeSize, else
	// 10Gi) and is refused when that would exceed it.
	// +optional
	HomeStorage *resource.Quantity `json:"homeStorage,omitempty" protobuf:"bytes,5,opt,name=homeStorage"`
	// maxIdleTimeout is the longest spec.idleTimeout a session may have;
	// "0s" (never hibernate) is then refused.
	// +optional
	MaxIdleTimeout *metav1.Duration `json:"maxIdleTimeout,omitempty" protobuf:"bytes,6,opt,name=maxIdleTimeout"`
	// maxSessionDuration is the longest spec.maxSessionDuration a session may
	// have; "0s" (no limit) is then refused.
	// +optional
	MaxSessionDuration *metav1.Duration `json:"maxSessionDuration,omitempty" protobuf:"bytes,7,opt,name=maxSessionDuration"`
}

// SessionQuotaStatus is the usage of each person the quota matches.
type SessionQuotaStatus struct {
	// observedGeneration is the generation the controller last computed usage for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty" protobuf:"varint,1,opt,name=observedGeneration"`
	// usage of each person, by user name.
	// +optional
	// +listType=map
	// +listMapKey=user
	Usage []QuotaUsage `json:"usage,omitempty" protobuf:"bytes,2,rep,name=usage"`
	// pending are charges admission made for session changes the controller
	// has not seen stored yet; they count in usage until it does, or are
	// dropped after a grace period when the change was never stored.
	// +optional
	// +listType=atomic
	Pending []QuotaCharge `json:"pending,omitempty" protobuf:"bytes,3,rep,name=pending"`
	// conditions: UsageComputed.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" protobuf:"bytes,4,rep,name=conditions"`
}

// QuotaUsage is what one person uses.
type QuotaUsage struct {
	// user is the person's user name.
	User string `json:"user" protobuf:"bytes,1,opt,name=user"`
	// sessions is the number of the person's sessions that are not terminated.
	Sessions int32 `json:"sessions" protobuf:"varint,2,opt,name=sessions"`
	// runningSessions is the number of the person's sessions in state running.
	RunningSessions int32 `json:"runningSessions" protobuf:"varint,3,opt,name=runningSessions"`
	// cpu is the total CPU request of the person's running sessions.
	CPU resource.Quantity `json:"cpu" protobuf:"bytes,4,opt,name=cpu"`
	// memory is the total memory request of the person's running sessions.
	Memory resource.Quantity `json:"memory" protobuf:"bytes,5,opt,name=memory"`
	// homeStorage is the total size of the person's home claims.
	HomeStorage resource.Quantity `json:"homeStorage" protobuf:"bytes,6,opt,name=homeStorage"`
}

// QuotaCharge is a session change admission counted before it was stored.
type QuotaCharge struct {
	// user is the person charged.
	User string `json:"user" protobuf:"bytes,1,opt,name=user"`
	// session is namespace/name of the session.
	Session string `json:"session" protobuf:"bytes,2,opt,name=session"`
	// generation is the session's metadata.generation the change makes; the
	// charge is seen stored once the session reaches it.
	Generation int64 `json:"generation" protobuf:"varint,7,opt,name=generation"`
	// running: the session is charged as running.
	// +optional
	Running bool `json:"running,omitempty" protobuf:"varint,3,opt,name=running"`
	// cpu charged (when running).
	// +optional
	CPU resource.Quantity `json:"cpu,omitempty" protobuf:"bytes,4,opt,name=cpu"`
	// memory charged (when running).
	// +optional
	Memory resource.Quantity `json:"memory,omitempty" protobuf:"bytes,5,opt,name=memory"`
	// homeStorage charged: the size of the home claim the session will get
	// (it has a persistent home and its user has no home claim in its
	// namespace yet). It counts until that claim exists.
	// +optional
	HomeStorage resource.Quantity `json:"homeStorage,omitempty" protobuf:"bytes,8,opt,name=homeStorage"`
	// time of the charge.
	Time metav1.Time `json:"time" protobuf:"bytes,6,opt,name=time"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionQuotaList is a list of session quotas.
type SessionQuotaList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Items           []SessionQuota `json:"items" protobuf:"bytes,2,rep,name=items"`
}
