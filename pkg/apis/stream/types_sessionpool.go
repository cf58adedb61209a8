package stream

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionPool keeps ready workloads of one Template for new sessions to claim.
type SessionPool struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   SessionPoolSpec
	Status SessionPoolStatus
}

// SessionPoolSpec says which workloads the pool keeps ready.
type SessionPoolSpec struct {
	Template string
	Replicas int32
	User     string
	MaxAge   *metav1.Duration
}

// SessionPoolStatus is what the pool has now.
type SessionPoolStatus struct {
	Replicas           int32
	ReadyReplicas      int32
	Claimed            int64
	Conditions         []metav1.Condition
	ObservedGeneration int64
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionPoolList is a list of pools.
type SessionPoolList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []SessionPool
}
