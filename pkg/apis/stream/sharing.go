package stream

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The rules of a SessionShare that streamspace-apiserver (connect) and
// streamspace-bridge (the sessions shared with a caller) both apply. They
// take the share's fields rather than a type, so the internal and the
// v1alpha1 SessionShare use the same rule.

// ShareNames reports whether a share for user, or for group (a share sets
// exactly one), names the person called caller who is in callerGroups.
func ShareNames(user, group, caller string, callerGroups []string) bool {
	return (user != "" && user == caller) || (group != "" && slices.Contains(callerGroups, group))
}

// ShareInForce reports whether a share grants anything at now: it is not
// being deleted and its expiry, if it has one, is still ahead.
func ShareInForce(deletionTimestamp, expiresAt *metav1.Time, now time.Time) bool {
	return deletionTimestamp == nil && (expiresAt == nil || expiresAt.After(now))
}

// ShareRoleOutranks reports whether role a gives more than role b: control
// outranks view, so a person named by several shares gets control if any
// of them gives it.
func ShareRoleOutranks(a, b string) bool {
	return a == string(ShareRoleControl) && b != string(ShareRoleControl)
}
