package stream

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Usage is what one user's sessions of one template used in a namespace
// over a period, computed from the intervals recorded while sessions ran.
type Usage struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	Spec   UsageSpec
	Status UsageStatus
}

// UsageSpec says whose usage of what, over which period.
type UsageSpec struct {
	User     string
	Template string
	Period   string
	Start    *metav1.Time
	End      *metav1.Time
}

// UsageStatus is what was used, and its cost.
type UsageStatus struct {
	Sessions       int64
	SessionSeconds int64
	SessionHours   string
	CPUCoreHours   string
	MemoryGiBHours string
	Cost           string
	Currency       string
	MeasuredAt     metav1.Time
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// UsageList is a list of usages.
type UsageList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []Usage
}
