package usage

import (
	"context"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/storage/postgres"
)

func TestParsePeriod(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 20, 0, 0, time.FixedZone("CET", 3600))
	day := func(y int, m time.Month, d int) string {
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
	}
	for _, c := range []struct {
		value, name, start, end string
	}{
		{"", "2026-12", day(2026, 12, 1), day(2027, 1, 1)},
		{"2026-12", "2026-12", day(2026, 12, 1), day(2027, 1, 1)},
		{"2026-02", "2026-02", day(2026, 2, 1), day(2026, 3, 1)},
		{"2026-12-31", "2026-12-31", day(2026, 12, 31), day(2027, 1, 1)},
		{"2026", "2026", day(2026, 1, 1), day(2027, 1, 1)},
		{"all", "all", "", ""},
	} {
		p, err := parsePeriod(c.value, now)
		if err != nil {
			t.Errorf("%q: %v", c.value, err)
			continue
		}
		format := func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return t.Format(time.RFC3339)
		}
		if p.name != c.name || format(p.start) != c.start || format(p.end) != c.end {
			t.Errorf("%q: period %s [%s, %s), want %s [%s, %s)", c.value, p.name, format(p.start), format(p.end), c.name, c.start, c.end)
		}
	}
	for _, bad := range []string{"2026-13", "2026-2", "26-12", "2026-12-32", "December", "2026-12-05T00:00:00Z", "ALL"} {
		if _, err := parsePeriod(bad, now); err == nil || !strings.Contains(err.Error(), "spec.period") {
			t.Errorf("%q: error %v, want one naming spec.period", bad, err)
		}
	}
}

func rat(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("bad number %q", s)
	}
	return r
}

// TestUsageOf checks the units and the cost formula: hours × the
// template's price + core hours × cpuCoreHour + GiB hours × memoryGiBHour,
// exact until rounded to 4 places.
func TestUsageOf(t *testing.T) {
	start, end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	p := period{name: "2026-12", start: &start, end: &end}
	// 90 minutes with 1500m CPU and 3 GiB.
	row := postgres.UsageRow{Namespace: "alice", User: "alice", Template: "firefox", Sessions: 2,
		Seconds: rat(t, "5400.5"), CPUMilliSeconds: rat(t, "8100750"), MemoryByteSeconds: rat(t, "17396228161536")}
	price := pricesOf(stream.PricingConfiguration{Currency: "EUR", CPUCoreHour: "0.04", MemoryGiBHour: "0.005",
		Templates: []stream.TemplatePrice{{Template: "firefox", SessionHour: "0.10"}, {Template: "gimp", SessionHour: "9"}}})
	measured := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	u := usageOf(row, p, price, measured)
	// hours 1.500138…, core hours 2.250208…, GiB hours 4.5004166…
	// cost 0.1500138 + 0.0900083 + 0.0225020 = 0.2625243
	want := stream.UsageStatus{Sessions: 2, SessionSeconds: 5400, SessionHours: "1.5001", CPUCoreHours: "2.2502",
		MemoryGiBHours: "4.5004", Cost: "0.2625", Currency: "EUR", MeasuredAt: metav1.NewTime(measured)}
	if u.Status != want {
		t.Errorf("status %+v, want %+v", u.Status, want)
	}
	if u.Name != "alice:firefox" || u.Namespace != "alice" || u.Spec.User != "alice" || u.Spec.Template != "firefox" || u.Spec.Period != "2026-12" ||
		!u.Spec.Start.Time.Equal(start) || !u.Spec.End.Time.Equal(end) {
		t.Errorf("usage %+v", u)
	}
	// No prices: no cost; a template without a price costs its resources only.
	if got := usageOf(row, p, pricesOf(stream.PricingConfiguration{}), measured).Status.Cost; got != "0.0000" {
		t.Errorf("cost without prices %s, want 0.0000", got)
	}
	row.Template = "xterm"
	if got := usageOf(row, p, price, measured).Status.Cost; got != "0.1125" {
		t.Errorf("cost of an unpriced template %s, want 0.1125 (cpu and memory)", got)
	}
}

// fakeUsage records the queries and answers rows that match them.
type fakeUsage struct {
	rows    []postgres.UsageRow
	queries []postgres.UsageQuery
}

func (f *fakeUsage) read(_ context.Context, q postgres.UsageQuery) ([]postgres.UsageRow, time.Time, error) {
	f.queries = append(f.queries, q)
	var out []postgres.UsageRow
	for _, r := range f.rows {
		if (q.Namespace == "" || r.Namespace == q.Namespace) && (q.Users == nil || slices.Contains(q.Users, r.User)) && (q.Template == "" || r.Template == q.Template) {
			out = append(out, r)
		}
	}
	return out, time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), nil
}

// testREST serves usages where admin may assign sessions everywhere, lead
// only in namespace team, and asking about dave fails.
func testREST(t *testing.T) (*REST, *fakeUsage) {
	second := func() *big.Rat { return big.NewRat(3600, 1) }
	usage := &fakeUsage{rows: []postgres.UsageRow{
		{Namespace: "team", User: "alice", Template: "firefox", Sessions: 1, Seconds: second(), CPUMilliSeconds: new(big.Rat), MemoryByteSeconds: new(big.Rat)},
		{Namespace: "team", User: "bob", Template: "firefox", Sessions: 1, Seconds: second(), CPUMilliSeconds: new(big.Rat), MemoryByteSeconds: new(big.Rat)},
		{Namespace: "team", User: "oidc:carol", Template: "gimp", Sessions: 1, Seconds: second(), CPUMilliSeconds: new(big.Rat), MemoryByteSeconds: new(big.Rat)},
		{Namespace: "other", User: "alice", Template: "gimp", Sessions: 1, Seconds: second(), CPUMilliSeconds: new(big.Rat), MemoryByteSeconds: new(big.Rat)},
		{Namespace: "other", User: "dave", Template: "gimp", Sessions: 1, Seconds: second(), CPUMilliSeconds: new(big.Rat), MemoryByteSeconds: new(big.Rat)},
	}}
	authz := authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if a.GetUser().GetName() == "dave" {
			return authorizer.DecisionNoOpinion, "", errors.New("the authorizer is unreachable")
		}
		if a.GetVerb() == stream.AssignVerb && a.GetResource() == "sessions" &&
			(a.GetUser().GetName() == "admin" || a.GetUser().GetName() == "lead" && a.GetNamespace() == "team") {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "", nil
	})
	r := NewREST(Sources{
		Usage: usage.read,
		Pricing: func(context.Context) (stream.PricingConfiguration, error) {
			return stream.PricingConfiguration{Currency: "EUR", Templates: []stream.TemplatePrice{{Template: "firefox", SessionHour: "2"}}}, nil
		},
		Members: func(_ context.Context, group string) ([]string, error) {
			if group == "artists" {
				return []string{"oidc:carol", "bob"}, nil
			}
			return []string{}, nil
		},
	}, authz)
	r.clock = clocktesting.NewFakePassiveClock(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	return r, usage
}

func as(caller, namespace string) context.Context {
	return request.WithNamespace(request.WithUser(context.Background(), &user.DefaultInfo{Name: caller}), namespace)
}

func names(t *testing.T, obj any, err error) []string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range obj.(*stream.UsageList).Items {
		out = append(out, u.Namespace+"/"+u.Name)
	}
	return out
}

// TestList checks whose usage a list shows (the owner rule), the field
// selectors and the period a list is computed for.
func TestList(t *testing.T) {
	r, usage := testREST(t)
	list := func(caller, namespace, selector string) []string {
		t.Helper()
		opts := &metainternalversion.ListOptions{FieldSelector: fields.ParseSelectorOrDie(selector)}
		obj, err := r.List(as(caller, namespace), opts)
		return names(t, obj, err)
	}
	for _, c := range []struct {
		caller, namespace, selector string
		want                        []string
	}{
		{"alice", "team", "", []string{"team/alice:firefox"}},
		{"bob", "team", "", []string{"team/bob:firefox"}},
		{"bob", "team", "spec.user=alice", nil},
		{"alice", "", "", []string{"team/alice:firefox", "other/alice:gimp"}},
		{"lead", "team", "", []string{"team/alice:firefox", "team/bob:firefox", "team/oidc:carol:gimp"}},
		{"lead", "other", "", nil},
		{"admin", "", "", []string{"team/alice:firefox", "team/bob:firefox", "team/oidc:carol:gimp", "other/alice:gimp", "other/dave:gimp"}},
		{"admin", "", "spec.template=gimp", []string{"team/oidc:carol:gimp", "other/alice:gimp", "other/dave:gimp"}},
		{"dave", "", "", []string{"other/dave:gimp"}},
		{"admin", "", "metadata.name=oidc:carol:gimp", []string{"team/oidc:carol:gimp"}},
		{"admin", "", "metadata.namespace=other", []string{"other/alice:gimp", "other/dave:gimp"}},
		{"admin", "team", "metadata.namespace=other", nil},
		{"admin", "", "spec.group=artists", []string{"team/bob:firefox", "team/oidc:carol:gimp"}},
		{"admin", "", "spec.group=artists,spec.user=bob", []string{"team/bob:firefox"}},
		{"admin", "", "spec.group=nobody", nil},
		{"bob", "team", "spec.group=artists", []string{"team/bob:firefox"}},
		{"admin", "", "spec.user=alice,spec.user=bob", nil},
	} {
		if got := list(c.caller, c.namespace, c.selector); !slices.Equal(got, c.want) {
			t.Errorf("%s lists in %q with %q: %v, want %v", c.caller, c.namespace, c.selector, got, c.want)
		}
	}

	// The period: the current month by default, else the one selected.
	usage.queries = nil
	list("admin", "", "")
	list("admin", "", "spec.period=2026-11-30")
	list("admin", "", "spec.period=all")
	if q := usage.queries; len(q) != 3 || !q[0].Start.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) || !q[0].End.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		!q[1].Start.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) || !q[1].End.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) ||
		q[2].Start != nil || q[2].End != nil {
		t.Errorf("queries %+v", q)
	}
	obj, err := r.List(as("admin", ""), &metainternalversion.ListOptions{FieldSelector: fields.ParseSelectorOrDie("spec.period=all")})
	if err != nil {
		t.Fatal(err)
	}
	if u := obj.(*stream.UsageList).Items[0]; u.Spec.Period != "all" || u.Status.SessionHours != "1.0000" || u.Status.Cost != "2.0000" || u.Status.Currency != "EUR" {
		t.Errorf("first item %+v", u)
	}

	for _, bad := range []string{"spec.period=someday", "spec.user!=alice", "spec.state=running"} {
		_, err := r.List(as("admin", ""), &metainternalversion.ListOptions{FieldSelector: fields.ParseSelectorOrDie(bad)})
		if !apierrors.IsBadRequest(err) {
			t.Errorf("selector %q: error %v, want 400", bad, err)
		}
	}
}

// TestGet checks get by name (<user>:<template>) and the owner rule.
func TestGet(t *testing.T) {
	r, _ := testREST(t)
	obj, err := r.Get(as("alice", "team"), "alice:firefox", nil)
	if err != nil {
		t.Fatal(err)
	}
	if u := obj.(*stream.Usage); u.Spec.User != "alice" || u.Spec.Template != "firefox" || u.Spec.Period != "2026-12" {
		t.Errorf("got %+v", u)
	}
	if obj, err := r.Get(as("lead", "team"), "oidc:carol:gimp", nil); err != nil || obj.(*stream.Usage).Spec.User != "oidc:carol" {
		t.Errorf("lead gets carol's: %v, %v", obj, err)
	}
	if _, err := r.Get(as("bob", "team"), "alice:firefox", nil); !apierrors.IsForbidden(err) {
		t.Errorf("bob gets alice's: %v, want 403", err)
	}
	if _, err := r.Get(as("dave", "other"), "alice:gimp", nil); !apierrors.IsForbidden(err) {
		t.Errorf("dave, whom the authorizer cannot answer for, gets alice's: %v, want 403", err)
	}
	for _, name := range []string{"alice:gimp", "alice", "alice:", ":firefox"} {
		if _, err := r.Get(as("alice", "team"), name, nil); !apierrors.IsNotFound(err) {
			t.Errorf("get %q: %v, want 404", name, err)
		}
	}
}

func TestTable(t *testing.T) {
	r, _ := testREST(t)
	obj, err := r.List(as("admin", "team"), &metainternalversion.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	table, err := r.ConvertToTable(context.Background(), obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	var headers []string
	for _, c := range table.ColumnDefinitions {
		headers = append(headers, c.Name)
	}
	if want := []string{"User", "Template", "Sessions", "Hours", "CPU-Hours", "Mem-GiB-Hours", "Cost", "Period"}; !slices.Equal(headers, want) {
		t.Errorf("columns %v, want %v", headers, want)
	}
	if len(table.Rows) != 3 {
		t.Fatalf("%d rows", len(table.Rows))
	}
	if got := table.Rows[0].Cells; got[0] != "alice" || got[1] != "firefox" || got[2] != int64(1) || got[3] != "1.0000" || got[6] != "2.0000 EUR" || got[7] != "2026-12" {
		t.Errorf("first row %v", got)
	}
}
