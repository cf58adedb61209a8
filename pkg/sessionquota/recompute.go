package sessionquota

import (
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// observed tells whether a stored session already shows the change a
// charge was made for (its generation reached the charge's), so the charge
// can be dropped and the stored session counted as it is.
func observed(s *streamv1alpha1.Session, c streamv1alpha1.QuotaCharge) bool {
	return s.Generation >= c.Generation
}

// LivePending returns the charges still to be counted at now: those younger
// than PendingGrace whose session change is not yet seen in sessions.
func LivePending(pending []streamv1alpha1.QuotaCharge, sessions map[string]*streamv1alpha1.Session, now time.Time) []streamv1alpha1.QuotaCharge {
	var out []streamv1alpha1.QuotaCharge
	for _, c := range pending {
		if now.Sub(c.Time.Time) > PendingGrace {
			continue
		}
		if s, ok := sessions[c.Session]; ok && observed(s, c) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// PersonUsage is what user's sessions count for, with live pending charges
// standing in for the stored state of the sessions they name.
func PersonUsage(user string, sessions map[string]*streamv1alpha1.Session, live []streamv1alpha1.QuotaCharge) Contribution {
	charged := map[string]streamv1alpha1.QuotaCharge{}
	for _, c := range live {
		if c.User == user {
			charged[c.Session] = c
		}
	}
	var total Contribution
	for key, s := range sessions {
		if s.Spec.User != user {
			continue
		}
		if c, ok := charged[key]; ok {
			total = total.Add(OfCharge(c))
			delete(charged, key)
			continue
		}
		total = total.Add(OfSession(s))
	}
	for _, c := range charged {
		total = total.Add(OfCharge(c))
	}
	return total
}

// Index maps sessions by namespace/name.
func Index(sessions []*streamv1alpha1.Session) map[string]*streamv1alpha1.Session {
	out := make(map[string]*streamv1alpha1.Session, len(sessions))
	for _, s := range sessions {
		out[Key(s.Namespace, s.Name)] = s
	}
	return out
}

// Recompute returns the quota's status computed from every session and the
// size of each user's home claims. The people listed are the quota's named
// users (always, even at zero), everyone with sessions or home claims for
// all: true, and, for group quotas, the people already listed (admission
// learns group membership from a person's own requests; the controller
// cannot look it up).
func Recompute(q *streamv1alpha1.SessionQuota, sessions []*streamv1alpha1.Session, home map[string]resource.Quantity, now time.Time) streamv1alpha1.SessionQuotaStatus {
	byKey := Index(sessions)
	live := LivePending(q.Status.Pending, byKey, now)
	people := map[string]bool{}
	for _, u := range q.Spec.Subjects.Users {
		people[u] = true
	}
	if len(q.Spec.Subjects.Groups) > 0 {
		for _, u := range q.Status.Usage {
			people[u.User] = false
		}
	}
	if q.Spec.Subjects.All {
		for _, s := range sessions {
			if _, ok := people[s.Spec.User]; !ok {
				people[s.Spec.User] = false
			}
		}
		for u := range home {
			if _, ok := people[u]; !ok {
				people[u] = false
			}
		}
	}
	for _, c := range live {
		if _, ok := people[c.User]; !ok {
			people[c.User] = false
		}
	}
	st := streamv1alpha1.SessionQuotaStatus{
		ObservedGeneration: q.Generation,
		Pending:            live,
		Conditions:         q.Status.Conditions,
	}
	for user, named := range people {
		c := PersonUsage(user, byKey, live)
		h := home[user]
		if !named && c.Sessions == 0 && h.IsZero() {
			continue
		}
		SetUsage(&st, user, c)
		st.Usage[FindUsage(&st, user)].HomeStorage = h.DeepCopy()
	}
	sort.Slice(st.Usage, func(a, b int) bool { return st.Usage[a].User < st.Usage[b].User })
	return st
}
