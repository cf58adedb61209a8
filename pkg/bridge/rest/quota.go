package rest

import (
	"net/http"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
	quota "github.com/streamspace/controlplane/pkg/sessionquota"
)

// quotaView is the answer of GET /api/v1/quota: the quotas that apply to
// the caller, with the caller's usage in each, and the tightest limit of
// each kind across them.
type quotaView struct {
	User   string   `json:"user"`
	Groups []string `json:"groups"`
	// Quotas apply to the caller, by name.
	Quotas    []quotaEntry   `json:"quotas"`
	Effective effectiveQuota `json:"effective"`
}

// quotaEntry is one quota that applies to the caller.
type quotaEntry struct {
	Name   string      `json:"name"`
	Limits quotaLimits `json:"limits"`
	// Usage is the caller's entry in the quota's status; zeros while the
	// quota has none for them.
	Usage quotaUsage `json:"usage"`
}

// quotaLimits are limits as the dashboard shows them: quantities in the
// API's notation ("500m", "4Gi"), durations as Go writes them without
// trailing zero units ("1h", "1h30m"). A limit left out does not limit.
type quotaLimits struct {
	MaxSessions        *int32 `json:"maxSessions,omitempty"`
	MaxRunningSessions *int32 `json:"maxRunningSessions,omitempty"`
	CPU                string `json:"cpu,omitempty"`
	Memory             string `json:"memory,omitempty"`
	HomeStorage        string `json:"homeStorage,omitempty"`
	MaxIdleTimeout     string `json:"maxIdleTimeout,omitempty"`
	MaxSessionDuration string `json:"maxSessionDuration,omitempty"`
}

// quotaUsage is what the caller uses, as a quota counts it.
type quotaUsage struct {
	Sessions        int32  `json:"sessions"`
	RunningSessions int32  `json:"runningSessions"`
	CPU             string `json:"cpu"`
	Memory          string `json:"memory"`
	HomeStorage     string `json:"homeStorage"`
}

// effectiveQuota is, for each kind of limit, the tightest one across the
// quotas (all of them apply, so it is the one that binds), with the usage
// that quota counts against it and, in From, the quota's name under the
// limit's JSON name. Usage of a kind no quota limits is the highest any of
// them counts.
type effectiveQuota struct {
	Limits quotaLimits       `json:"limits"`
	Usage  quotaUsage        `json:"usage"`
	From   map[string]string `json:"from"`
}

// GetQuota: GET /api/v1/quota: the SessionQuotas that apply to the caller
// (naming their user name or one of their groups, or everyone), each with
// its limits and the caller's usage, and the effective limits. Read as the
// caller: the API shows a person who is not an administrator only their
// own usage (docs/quotas.md).
func (a *API) GetQuota(w http.ResponseWriter, r *http.Request) {
	c := identity.FromRequest(r)
	list, err := c.Stream().StreamV1alpha1().SessionQuotas().List(r.Context(), metav1.ListOptions{})
	if err != nil {
		httpjson.APIError(w, r, "list session quotas", err)
		return
	}
	httpjson.Write(w, http.StatusOK, newQuotaView(quota.Person{User: c.Username(), Groups: c.Groups()}, list.Items))
}

// newQuotaView builds the caller's view of quotas: those matching person,
// sorted by name.
func newQuotaView(person quota.Person, quotas []streamv1alpha1.SessionQuota) quotaView {
	out := quotaView{User: person.User, Groups: person.Groups, Quotas: []quotaEntry{}, Effective: effectiveQuota{From: map[string]string{}}}
	if out.Groups == nil {
		out.Groups = []string{}
	}
	var applying []*streamv1alpha1.SessionQuota
	for i := range quotas {
		if quota.Matches(quotas[i].Spec.Subjects, person) {
			applying = append(applying, &quotas[i])
		}
	}
	sort.Slice(applying, func(i, j int) bool { return applying[i].Name < applying[j].Name })

	var eff effective
	for _, q := range applying {
		var used streamv1alpha1.QuotaUsage
		if i := quota.FindUsage(&q.Status, person.User); i >= 0 {
			used = q.Status.Usage[i]
		}
		out.Quotas = append(out.Quotas, quotaEntry{Name: q.Name, Limits: newQuotaLimits(q.Spec.Limits), Usage: newQuotaUsage(used)})
		eff.add(q.Name, q.Spec.Limits, used)
	}
	out.Effective = eff.view()
	return out
}

func newQuotaLimits(l streamv1alpha1.QuotaLimits) quotaLimits {
	return quotaLimits{
		MaxSessions: l.MaxSessions, MaxRunningSessions: l.MaxRunningSessions,
		CPU: quantityString(l.CPU), Memory: quantityString(l.Memory), HomeStorage: quantityString(l.HomeStorage),
		MaxIdleTimeout: durationString(l.MaxIdleTimeout), MaxSessionDuration: durationString(l.MaxSessionDuration),
	}
}

func newQuotaUsage(u streamv1alpha1.QuotaUsage) quotaUsage {
	return quotaUsage{Sessions: u.Sessions, RunningSessions: u.RunningSessions,
		CPU: u.CPU.String(), Memory: u.Memory.String(), HomeStorage: u.HomeStorage.String()}
}

func quantityString(q *resource.Quantity) string {
	if q == nil {
		return ""
	}
	return q.String()
}

// durationString writes d as Go does, without the zero units it ends
// with: 1h0m0s is "1h", 90m is "1h30m".
func durationString(d *metav1.Duration) string {
	if d == nil {
		return ""
	}
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// effective gathers the tightest limit of each kind, the quota it comes
// from and the usage that quota counts against it, and the highest usage
// any quota counts (for kinds no quota limits).
type effective struct {
	sessions, running countLimit
	cpu, memory, home quantityLimit
	idle, duration    durationLimit
}

type countLimit struct {
	limit      *int32
	used, most int32
	from       string
}

// take keeps limit when it is tighter than the one kept.
func (c *countLimit) take(name string, limit *int32, used int32) {
	if limit != nil && (c.limit == nil || *limit < *c.limit) {
		c.limit, c.used, c.from = limit, used, name
	}
	c.most = max(c.most, used)
}

func (c *countLimit) usage() int32 {
	if c.limit != nil {
		return c.used
	}
	return c.most
}

type quantityLimit struct {
	limit      *resource.Quantity
	used, most resource.Quantity
	from       string
}

func (q *quantityLimit) take(name string, limit *resource.Quantity, used resource.Quantity) {
	if limit != nil && (q.limit == nil || limit.Cmp(*q.limit) < 0) {
		q.limit, q.used, q.from = limit, used, name
	}
	if used.Cmp(q.most) > 0 {
		q.most = used
	}
}

func (q *quantityLimit) usage() string {
	if q.limit != nil {
		return q.used.String()
	}
	return q.most.String()
}

type durationLimit struct {
	limit *metav1.Duration
	from  string
}

func (d *durationLimit) take(name string, limit *metav1.Duration) {
	if limit != nil && (d.limit == nil || limit.Duration < d.limit.Duration) {
		d.limit, d.from = limit, name
	}
}

// add takes the limits of quota name, in which the caller uses used.
// Quotas are added in name order; of equal limits the first is kept.
func (e *effective) add(name string, l streamv1alpha1.QuotaLimits, used streamv1alpha1.QuotaUsage) {
	e.sessions.take(name, l.MaxSessions, used.Sessions)
	e.running.take(name, l.MaxRunningSessions, used.RunningSessions)
	e.cpu.take(name, l.CPU, used.CPU)
	e.memory.take(name, l.Memory, used.Memory)
	e.home.take(name, l.HomeStorage, used.HomeStorage)
	e.idle.take(name, l.MaxIdleTimeout)
	e.duration.take(name, l.MaxSessionDuration)
}

func (e *effective) view() effectiveQuota {
	out := effectiveQuota{
		Limits: quotaLimits{
			MaxSessions: e.sessions.limit, MaxRunningSessions: e.running.limit,
			CPU: quantityString(e.cpu.limit), Memory: quantityString(e.memory.limit), HomeStorage: quantityString(e.home.limit),
			MaxIdleTimeout: durationString(e.idle.limit), MaxSessionDuration: durationString(e.duration.limit),
		},
		Usage: quotaUsage{
			Sessions: e.sessions.usage(), RunningSessions: e.running.usage(),
			CPU: e.cpu.usage(), Memory: e.memory.usage(), HomeStorage: e.home.usage(),
		},
		From: map[string]string{},
	}
	for key, from := range map[string]string{
		"maxSessions": e.sessions.from, "maxRunningSessions": e.running.from, "cpu": e.cpu.from, "memory": e.memory.from,
		"homeStorage": e.home.from, "maxIdleTimeout": e.idle.from, "maxSessionDuration": e.duration.from,
	} {
		if from != "" {
			out.From[key] = from
		}
	}
	return out
}
