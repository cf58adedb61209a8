package sessionquota

import (
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/streamspace/controlplane/pkg/apis/stream"
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
// standing in for the stored state of the sessions they name, and home
// storage as home (HomeUsage) says.
func PersonUsage(user string, sessions map[string]*streamv1alpha1.Session, live []streamv1alpha1.QuotaCharge, home map[string]resource.Quantity) Contribution {
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
	total.Home = home[user].DeepCopy()
	return total
}

// HomeClaimSelector selects the home-<user> claims the session controller
// makes (label app.kubernetes.io/component=home).
var HomeClaimSelector = labels.SelectorFromSet(labels.Set{"app.kubernetes.io/component": "home"})

// HomeClaim is a home claim that exists: whose, where, and its requested size.
type HomeClaim struct {
	Namespace, User string
	Size            resource.Quantity
}

// HomeClaims returns the home claims among claims (HomeClaimSelector's):
// those that name their user and are not being deleted.
func HomeClaims(claims []*corev1.PersistentVolumeClaim) []HomeClaim {
	var out []HomeClaim
	for _, pvc := range claims {
		user := pvc.Annotations[stream.UserNameAnnotation]
		if user == "" || pvc.DeletionTimestamp != nil {
			continue
		}
		out = append(out, HomeClaim{Namespace: pvc.Namespace, User: user, Size: pvc.Spec.Resources.Requests.Storage().DeepCopy()})
	}
	return out
}

// NeedsHomeClaim tells whether a session the session controller provisions
// (not terminated, not being deleted) uses a home claim.
func NeedsHomeClaim(s *streamv1alpha1.Session) bool {
	return streamv1alpha1.UsesHome(s) && s.DeletionTimestamp == nil && s.Spec.State != streamv1alpha1.SessionStateTerminated
}

// HomeUsage returns each person's home storage: the size of their home
// claims, plus newClaim for each namespace where a session of theirs uses
// a home and no claim exists yet (the session controller is about to make
// it), plus a live pending charge's home storage for a namespace where
// neither is seen yet (a session admitted but not yet stored). A person's
// sessions in one namespace share one claim.
func HomeUsage(claims []HomeClaim, sessions map[string]*streamv1alpha1.Session, live []streamv1alpha1.QuotaCharge, newClaim resource.Quantity) map[string]resource.Quantity {
	type where struct{ namespace, user string }
	homes := map[where]resource.Quantity{}
	for _, c := range claims {
		size := homes[where{c.Namespace, c.User}]
		size.Add(c.Size)
		homes[where{c.Namespace, c.User}] = size
	}
	for _, s := range sessions {
		if k := (where{s.Namespace, s.Spec.User}); NeedsHomeClaim(s) {
			if _, ok := homes[k]; !ok {
				homes[k] = newClaim.DeepCopy()
			}
		}
	}
	for _, c := range live {
		namespace, _, _ := strings.Cut(c.Session, "/")
		if k := (where{namespace, c.User}); !c.HomeStorage.IsZero() {
			if _, ok := homes[k]; !ok {
				homes[k] = c.HomeStorage.DeepCopy()
			}
		}
	}
	out := map[string]resource.Quantity{}
	for k, size := range homes {
		total := out[k.user]
		total.Add(size)
		out[k.user] = total
	}
	return out
}

// Index maps sessions by namespace/name.
func Index(sessions []*streamv1alpha1.Session) map[string]*streamv1alpha1.Session {
	out := make(map[string]*streamv1alpha1.Session, len(sessions))
	for _, s := range sessions {
		out[Key(s.Namespace, s.Name)] = s
	}
	return out
}

// Recompute returns the quota's status computed from every session and
// home claim, a not yet made claim counting at newClaim (HomeUsage). The
// people listed are the quota's named users (always, even at zero),
// everyone with sessions or home storage for all: true, and, for group
// quotas, the people already listed (admission charges a person with the
// caller's or their recorded groups; the controller does not look group
// membership up).
func Recompute(q *streamv1alpha1.SessionQuota, sessions []*streamv1alpha1.Session, claims []HomeClaim, newClaim resource.Quantity, now time.Time) streamv1alpha1.SessionQuotaStatus {
	byKey := Index(sessions)
	live := LivePending(q.Status.Pending, byKey, now)
	home := HomeUsage(claims, byKey, live, newClaim)
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
		c := PersonUsage(user, byKey, live, home)
		if !named && c.Sessions == 0 && c.Home.IsZero() {
			continue
		}
		SetUsage(&st, user, c)
	}
	sort.Slice(st.Usage, func(a, b int) bool { return st.Usage[a].User < st.Usage[b].User })
	return st
}
