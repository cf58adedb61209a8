// Package sessionquota is the arithmetic of SessionQuotas shared by the
// admission plugin that charges them and the controller that recomputes
// them: who a quota matches, what a session counts for, whether a change
// fits the limits, and the words of a refusal.
package sessionquota

import (
	"fmt"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// PendingGrace is how long a charge admission made is counted while the
// session change it was made for is not seen stored. A create that failed
// after admission is no longer counted after it.
const PendingGrace = time.Minute

// Person is whom a session belongs to, with their groups: the caller's when
// the owner made the request, else those recorded in the owner's User.
type Person struct {
	User   string
	Groups []string
}

// Matches tells whether a quota's subjects name the person.
func Matches(s streamv1alpha1.QuotaSubjects, p Person) bool {
	if s.All {
		return true
	}
	if slices.Contains(s.Users, p.User) {
		return true
	}
	for _, g := range s.Groups {
		if slices.Contains(p.Groups, g) {
			return true
		}
	}
	return false
}

// Contribution is what one session (or a person's sessions) counts for.
type Contribution struct {
	Sessions int32
	Running  int32
	CPU      resource.Quantity
	Memory   resource.Quantity
	// Home is home storage: for a session, the new home claim it will get;
	// for a person, their home claims (HomeUsage).
	Home resource.Quantity
}

// Of returns what a session in state with requests counts for: every
// session but a terminated one counts as a session; a running one also
// counts as running with its CPU and memory requests.
func Of(state string, requests corev1.ResourceList) Contribution {
	var c Contribution
	if state == string(streamv1alpha1.SessionStateTerminated) {
		return c
	}
	c.Sessions = 1
	if state == "" || state == string(streamv1alpha1.SessionStateRunning) {
		c.Running = 1
		c.CPU = requests.Cpu().DeepCopy()
		c.Memory = requests.Memory().DeepCopy()
	}
	return c
}

// OfSession returns what a stored session counts for.
func OfSession(s *streamv1alpha1.Session) Contribution {
	if s.DeletionTimestamp != nil {
		return Contribution{}
	}
	return Of(string(s.Spec.State), s.Spec.Resources.Requests)
}

// OfCharge returns what a pending charge counts for.
func OfCharge(c streamv1alpha1.QuotaCharge) Contribution {
	out := Contribution{Sessions: 1, CPU: c.CPU.DeepCopy(), Memory: c.Memory.DeepCopy(), Home: c.HomeStorage.DeepCopy()}
	if c.Running {
		out.Running = 1
	}
	return out
}

// Add returns c + o.
func (c Contribution) Add(o Contribution) Contribution {
	out := Contribution{Sessions: c.Sessions + o.Sessions, Running: c.Running + o.Running, CPU: c.CPU.DeepCopy(), Memory: c.Memory.DeepCopy(), Home: c.Home.DeepCopy()}
	out.CPU.Add(o.CPU)
	out.Memory.Add(o.Memory)
	out.Home.Add(o.Home)
	return out
}

// Sub returns c - o.
func (c Contribution) Sub(o Contribution) Contribution {
	out := Contribution{Sessions: c.Sessions - o.Sessions, Running: c.Running - o.Running, CPU: c.CPU.DeepCopy(), Memory: c.Memory.DeepCopy(), Home: c.Home.DeepCopy()}
	out.CPU.Sub(o.CPU)
	out.Memory.Sub(o.Memory)
	out.Home.Sub(o.Home)
	return out
}

// Usage returns a usage entry's counts as a contribution.
func Usage(u streamv1alpha1.QuotaUsage) Contribution {
	return Contribution{Sessions: u.Sessions, Running: u.RunningSessions, CPU: u.CPU.DeepCopy(), Memory: u.Memory.DeepCopy(), Home: u.HomeStorage.DeepCopy()}
}

// ExceededError is the refusal of a change a quota does not allow.
type ExceededError struct {
	Quota string
	User  string
	// What is the limit's name as people read it ("sessions", "running sessions", "cpu", ...).
	What string
	// Used and Limit are the usage before the change and the limit.
	Used, Limit string
	// Requested is what the change adds, for quantities.
	Requested string
}

func (e *ExceededError) Error() string {
	if e.Requested != "" {
		return fmt.Sprintf("exceeded quota %s: %s requested %s, %s of %s used for user %s", e.Quota, e.What, e.Requested, e.Used, e.Limit, e.User)
	}
	return fmt.Sprintf("exceeded quota %s: %s %s of %s used for user %s", e.Quota, e.What, e.Used, e.Limit, e.User)
}

// Check tells whether replacing old by new (what one session counts for
// before and after a change) fits the quota's limits for a person who
// uses used (old included). Only what the change increases is checked, so
// a person above a lowered limit may still shrink or stop sessions.
func Check(q *streamv1alpha1.SessionQuota, user string, used, old, new Contribution) error {
	l := q.Spec.Limits
	after := used.Sub(old).Add(new)
	if l.MaxSessions != nil && new.Sessions > old.Sessions && after.Sessions > *l.MaxSessions {
		return &ExceededError{Quota: q.Name, User: user, What: "sessions", Used: fmt.Sprint(used.Sessions), Limit: fmt.Sprint(*l.MaxSessions)}
	}
	if l.MaxRunningSessions != nil && new.Running > old.Running && after.Running > *l.MaxRunningSessions {
		return &ExceededError{Quota: q.Name, User: user, What: "running sessions", Used: fmt.Sprint(used.Running), Limit: fmt.Sprint(*l.MaxRunningSessions)}
	}
	if l.CPU != nil && new.CPU.Cmp(old.CPU) > 0 && after.CPU.Cmp(*l.CPU) > 0 {
		return &ExceededError{Quota: q.Name, User: user, What: "cpu", Used: used.CPU.String(), Limit: l.CPU.String(), Requested: new.CPU.String()}
	}
	if l.Memory != nil && new.Memory.Cmp(old.Memory) > 0 && after.Memory.Cmp(*l.Memory) > 0 {
		return &ExceededError{Quota: q.Name, User: user, What: "memory", Used: used.Memory.String(), Limit: l.Memory.String(), Requested: new.Memory.String()}
	}
	if l.HomeStorage != nil && new.Home.Cmp(old.Home) > 0 && after.Home.Cmp(*l.HomeStorage) > 0 {
		return &ExceededError{Quota: q.Name, User: user, What: "home storage", Used: used.Home.String(), Limit: l.HomeStorage.String(), Requested: new.Home.String()}
	}
	return nil
}

// DurationError refuses a session whose idleTimeout or maxSessionDuration
// is longer than a quota allows.
type DurationError struct {
	Quota, User, Field string
	Value, Max         string
}

func (e *DurationError) Error() string {
	return fmt.Sprintf("exceeded quota %s: %s %s is longer than the %s allowed for user %s", e.Quota, e.Field, e.Value, e.Max, e.User)
}

// CheckDurations checks a session's idleTimeout and maxSessionDuration
// against the quota's maxima; 0s (never hibernate, no limit) is longer than
// any maximum.
func CheckDurations(q *streamv1alpha1.SessionQuota, user string, idle, maxDuration *metav1.Duration) error {
	l := q.Spec.Limits
	over := func(v *metav1.Duration, max *metav1.Duration) bool {
		return max != nil && (v == nil || v.Duration <= 0 || v.Duration > max.Duration)
	}
	show := func(v *metav1.Duration) string {
		if v == nil || v.Duration <= 0 {
			return "0s (none)"
		}
		return v.Duration.String()
	}
	if over(idle, l.MaxIdleTimeout) {
		return &DurationError{Quota: q.Name, User: user, Field: "spec.idleTimeout", Value: show(idle), Max: l.MaxIdleTimeout.Duration.String()}
	}
	if over(maxDuration, l.MaxSessionDuration) {
		return &DurationError{Quota: q.Name, User: user, Field: "spec.maxSessionDuration", Value: show(maxDuration), Max: l.MaxSessionDuration.Duration.String()}
	}
	return nil
}

// FindUsage returns the index of user's usage entry, or -1.
func FindUsage(st *streamv1alpha1.SessionQuotaStatus, user string) int {
	for i := range st.Usage {
		if st.Usage[i].User == user {
			return i
		}
	}
	return -1
}

// SetUsage writes c as user's usage, keeping the entries sorted by user.
func SetUsage(st *streamv1alpha1.SessionQuotaStatus, user string, c Contribution) {
	i := FindUsage(st, user)
	if i < 0 {
		st.Usage = append(st.Usage, streamv1alpha1.QuotaUsage{User: user})
		i = len(st.Usage) - 1
	}
	st.Usage[i].Sessions, st.Usage[i].RunningSessions = c.Sessions, c.Running
	st.Usage[i].CPU, st.Usage[i].Memory, st.Usage[i].HomeStorage = c.CPU.DeepCopy(), c.Memory.DeepCopy(), c.Home.DeepCopy()
	sort.Slice(st.Usage, func(a, b int) bool { return st.Usage[a].User < st.Usage[b].User })
}

// Charge records a pending charge for session (namespace/name), replacing an
// earlier one for the same session.
func Charge(st *streamv1alpha1.SessionQuotaStatus, c streamv1alpha1.QuotaCharge) {
	st.Pending = slices.DeleteFunc(st.Pending, func(p streamv1alpha1.QuotaCharge) bool { return p.Session == c.Session })
	st.Pending = append(st.Pending, c)
}

// Key is the namespace/name a charge names its session by.
func Key(namespace, name string) string { return namespace + "/" + name }
