package stream

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionQuota limits, for each person it matches, how many sessions that
// person may have and what their running sessions may request.
type SessionQuota struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   SessionQuotaSpec
	Status SessionQuotaStatus
}

// SessionQuotaSpec names who the quota applies to and the limits.
type SessionQuotaSpec struct {
	Subjects QuotaSubjects
	Limits   QuotaLimits
}

// QuotaSubjects are the people a quota applies to: named users, members of
// named groups, or everyone.
type QuotaSubjects struct {
	Users  []string
	Groups []string
	All    bool
}

// QuotaLimits are per-person limits; a nil limit does not limit.
type QuotaLimits struct {
	MaxSessions        *int32
	MaxRunningSessions *int32
	CPU                *resource.Quantity
	Memory             *resource.Quantity
	HomeStorage        *resource.Quantity
	MaxIdleTimeout     *metav1.Duration
	MaxSessionDuration *metav1.Duration
}

// SessionQuotaStatus is the usage of each person the quota matches.
type SessionQuotaStatus struct {
	ObservedGeneration int64
	Usage              []QuotaUsage
	// Pending are charges admission made for sessions the controller has not
	// seen yet.
	Pending    []QuotaCharge
	Conditions []metav1.Condition
}

// QuotaUsage is what one person uses.
type QuotaUsage struct {
	User            string
	Sessions        int32
	RunningSessions int32
	CPU             resource.Quantity
	Memory          resource.Quantity
	HomeStorage     resource.Quantity
}

// QuotaCharge is a change admission counted before it was stored.
type QuotaCharge struct {
	User    string
	Session string
	// Generation is the session's metadata.generation the change makes.
	Generation int64
	Running    bool
	CPU        resource.Quantity
	Memory     resource.Quantity
	// HomeStorage is the size of the home claim the session will get.
	HomeStorage resource.Quantity
	Time        metav1.Time
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionQuotaList is a list of session quotas.
type SessionQuotaList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []SessionQuota
}
