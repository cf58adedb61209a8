package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionPool keeps workloads of one Template started and ready, so that a
// new Session of that template in the pool's namespace claims one and runs
// at once instead of waiting for a pod to be scheduled and started. The
// pool refills what is claimed and replaces workloads older than maxAge.
type SessionPool struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// spec is the template and how many ready workloads to keep.
	Spec SessionPoolSpec `json:"spec" protobuf:"bytes,2,opt,name=spec"`
	// status is written by the controller.
	// +optional
	Status SessionPoolStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// SessionPoolSpec says which workloads the pool keeps ready.
type SessionPoolSpec struct {
	// template is the name of the Template, in the pool's namespace, whose
	// workloads the pool keeps.
	Template string `json:"template" protobuf:"bytes,1,opt,name=template"`
	// replicas is how many ready, unclaimed workloads the pool keeps.
	Replicas int32 `json:"replicas" protobuf:"varint,2,opt,name=replicas"`
	// user, when set, personalises the pool's workloads ahead for this
	// person: they mount the user's home (home-<user>), and only that
	// user's sessions claim them. Without a user, the workloads have no
	// persistent home and serve sessions with persistentHome false, of any
	// user. A home cannot be added to a running pod, so a session that
	// needs a home the pool's workloads do not have starts cold.
	// +optional
	User string `json:"user,omitempty" protobuf:"bytes,3,opt,name=user"`
	// maxAge is how long an unclaimed workload waits before it is replaced
	// by a fresh one (idle recycling), e.g. "12h". Defaults to 24h; "0s"
	// keeps them until claimed.
	// +optional
	MaxAge *metav1.Duration `json:"maxAge,omitempty" protobuf:"bytes,4,opt,name=maxAge"`
}

// SessionPoolStatus is what the pool has now.
type SessionPoolStatus struct {
	// replicas is the number of unclaimed workloads, ready or starting.
	// +optional
	Replicas int32 `json:"replicas,omitempty" protobuf:"varint,1,opt,name=replicas"`
	// readyReplicas is the number of unclaimed workloads ready to be claimed.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty" protobuf:"varint,2,opt,name=readyReplicas"`
	// claimed is how many workloads sessions have claimed from the pool
	// since it was created.
	// +optional
	Claimed int64 `json:"claimed,omitempty" protobuf:"varint,3,opt,name=claimed"`
	// conditions: Ready is True when readyReplicas reaches spec.replicas.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" protobuf:"bytes,4,rep,name=conditions"`
	// observedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty" protobuf:"varint,5,opt,name=observedGeneration"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionPoolList is a list of pools.
type SessionPoolList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Items           []SessionPool `json:"items" protobuf:"bytes,2,rep,name=items"`
}
