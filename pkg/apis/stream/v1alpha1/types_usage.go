package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +genclient:onlyVerbs=get,list
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Usage is what one user's sessions of one template used in a namespace
// over a period: the time they ran, the CPU and memory they requested while
// running, and what that costs at the prices of the platform
// configuration. Read-only: streamspace-apiserver computes it from the
// intervals Postgres records as sessions start and stop running. The name
// is <user>:<template>; a list selects the period with the field selector
// spec.period (default: the current month, in UTC).
type Usage struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	// spec says whose usage of which template, over which period.
	// +optional
	Spec UsageSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// status is what was used, and its cost.
	// +optional
	Status UsageStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// UsageSpec says whose usage of which template, over which period.
type UsageSpec struct {
	// user whose sessions these are (their spec.user).
	User string `json:"user" protobuf:"bytes,1,opt,name=user"`
	// template the sessions were started from.
	Template string `json:"template" protobuf:"bytes,2,opt,name=template"`
	// period as selected: a month (2026-12), a day (2026-12-05), a year
	// (2026) or all.
	Period string `json:"period" protobuf:"bytes,3,opt,name=period"`
	// start of the period, in UTC; unset for all.
	// +optional
	Start *metav1.Time `json:"start,omitempty" protobuf:"bytes,4,opt,name=start"`
	// end of the period (exclusive), in UTC; unset for all.
	// +optional
	End *metav1.Time `json:"end,omitempty" protobuf:"bytes,5,opt,name=end"`
}

// UsageStatus is what the sessions used within the period, up to
// measuredAt, and its cost. Decimals are rounded to 4 places.
type UsageStatus struct {
	// sessions is how many sessions ran within the period.
	Sessions int64 `json:"sessions" protobuf:"varint,1,opt,name=sessions"`
	// sessionSeconds is how long they ran, in whole seconds.
	SessionSeconds int64 `json:"sessionSeconds" protobuf:"varint,2,opt,name=sessionSeconds"`
	// sessionHours is how long they ran, in hours, a decimal.
	SessionHours string `json:"sessionHours" protobuf:"bytes,3,opt,name=sessionHours"`
	// cpuCoreHours is the CPU they requested while running times how long
	// they ran: one core for an hour is 1.
	CPUCoreHours string `json:"cpuCoreHours" protobuf:"bytes,4,opt,name=cpuCoreHours"`
	// memoryGiBHours is the memory they requested while running times how
	// long they ran: one GiB for an hour is 1.
	MemoryGiBHours string `json:"memoryGiBHours" protobuf:"bytes,5,opt,name=memoryGiBHours"`
	// cost at the platform configuration's spec.pricing, a decimal.
	Cost string `json:"cost" protobuf:"bytes,6,opt,name=cost"`
	// currency of the cost, as spec.pricing names it.
	// +optional
	Currency string `json:"currency,omitempty" protobuf:"bytes,7,opt,name=currency"`
	// measuredAt is the time up to which sessions still running are counted.
	MeasuredAt metav1.Time `json:"measuredAt" protobuf:"bytes,8,opt,name=measuredAt"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// UsageList is the usage of each user and template, one item each.
type UsageList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Items           []Usage `json:"items" protobuf:"bytes,2,rep,name=items"`
}
