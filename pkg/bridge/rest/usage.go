package rest

import (
	"math/big"
	"net/http"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
)

// usageView is the answer of GET /api/v1/usage: the usages the caller may
// see in the namespace, and their sums per template, for the dashboard's
// chart.
type usageView struct {
	Namespace string `json:"namespace"`
	// Period is the period the usages cover (a year, month or day, or
	// all); empty when there are none and none was asked for (the current
	// month).
	Period     string `json:"period"`
	MeasuredAt string `json:"measuredAt,omitempty"`
	Currency   string `json:"currency,omitempty"`
	// Usages are one per user and template.
	Usages []usageEntry `json:"usages"`
	// Templates add the usages up per template, by template name.
	Templates []templateUsage `json:"templates"`
	// Total adds up every usage.
	Total templateUsage `json:"total"`
}

// usageEntry is one user's usage of one template.
type usageEntry struct {
	User           string `json:"user"`
	Template       string `json:"template"`
	Sessions       int64  `json:"sessions"`
	Hours          string `json:"hours"`
	CPUCoreHours   string `json:"cpuCoreHours"`
	MemoryGiBHours string `json:"memoryGiBHours"`
	Cost           string `json:"cost"`
}

// templateUsage is the usage of one template (or of all, without one),
// summed over users.
type templateUsage struct {
	Template string `json:"template,omitempty"`
	Sessions int64  `json:"sessions"`
	Hours    string `json:"hours"`
	Cost     string `json:"cost"`
}

// GetUsage: GET /api/v1/usage[?period=][&template=][&user=][&group=][&namespace=]:
// the usages (stream.space usages) of the namespace, as the caller: a
// person who may not assign sessions there sees only their own. period is
// a month (2026-12, the default being the current one), a day
// (2026-12-05), a year (2026) or all.
func (a *API) GetUsage(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	set := fields.Set{}
	for param, field := range map[string]string{"period": "spec.period", "template": "spec.template", "user": "spec.user", "group": "spec.group"} {
		if v := strings.TrimSpace(q.Get(param)); v != "" {
			set[field] = v
		}
	}
	list, err := c.Stream().StreamV1alpha1().Usages(ns).List(r.Context(), metav1.ListOptions{FieldSelector: fields.SelectorFromSet(set).String()})
	if err != nil {
		httpjson.APIError(w, r, "list usages", err)
		return
	}
	out := newUsageView(ns, list.Items)
	if out.Period == "" {
		out.Period = set["spec.period"]
	}
	httpjson.Write(w, http.StatusOK, out)
}

// newUsageView lists usages and adds them up per template, exactly from
// their decimals.
func newUsageView(namespace string, usages []streamv1alpha1.Usage) usageView {
	out := usageView{Namespace: namespace, Usages: []usageEntry{}, Templates: []templateUsage{}}
	type sums struct {
		sessions    int64
		hours, cost *big.Rat
	}
	add := func(s *sums, u *streamv1alpha1.Usage) {
		s.sessions += u.Status.Sessions
		s.hours.Add(s.hours, decimal(u.Status.SessionHours))
		s.cost.Add(s.cost, decimal(u.Status.Cost))
	}
	newSums := func() *sums { return &sums{hours: new(big.Rat), cost: new(big.Rat)} }
	total := newSums()
	byTemplate := map[string]*sums{}
	for i := range usages {
		u := &usages[i]
		out.Period = u.Spec.Period
		out.Currency = u.Status.Currency
		out.MeasuredAt = u.Status.MeasuredAt.UTC().Format(time.RFC3339)
		out.Usages = append(out.Usages, usageEntry{User: u.Spec.User, Template: u.Spec.Template, Sessions: u.Status.Sessions,
			Hours: u.Status.SessionHours, CPUCoreHours: u.Status.CPUCoreHours, MemoryGiBHours: u.Status.MemoryGiBHours, Cost: u.Status.Cost})
		if byTemplate[u.Spec.Template] == nil {
			byTemplate[u.Spec.Template] = newSums()
		}
		add(byTemplate[u.Spec.Template], u)
		add(total, u)
	}
	names := make([]string, 0, len(byTemplate))
	for name := range byTemplate {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := byTemplate[name]
		out.Templates = append(out.Templates, templateUsage{Template: name, Sessions: s.sessions, Hours: s.hours.FloatString(4), Cost: s.cost.FloatString(4)})
	}
	out.Total = templateUsage{Sessions: total.sessions, Hours: total.hours.FloatString(4), Cost: total.cost.FloatString(4)}
	return out
}

// decimal reads a decimal of a usage; one that does not parse counts 0.
func decimal(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return new(big.Rat)
	}
	return r
}
