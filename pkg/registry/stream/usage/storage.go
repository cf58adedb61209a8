// Package usage serves usages: what each user's sessions of each template
// used in a namespace over a period (session time, CPU and memory requested
// while running) and its cost at the platform configuration's prices. It is
// read-only (get and list, no watch) and computed on each request from the
// intervals Postgres records as sessions start and stop running
// (postgres.Backend.SessionUsage, docs/usage.md).
//
// RBAC decides who may list usages in a namespace; the owner rule of
// sessions decides whose: a caller RBAC does not grant the assign verb on
// sessions there (package ownership) sees only their own usage.
package usage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/ownership"
	"github.com/streamspace/controlplane/pkg/storage/postgres"
)

var (
	resource         = stream.Resource("usages")
	sessionsResource = streamv1alpha1.SchemeGroupVersion.WithResource("sessions")
)

// Sources are what usages are computed from.
type Sources struct {
	// Usage adds up the recorded intervals (postgres.Backend.SessionUsage).
	Usage func(ctx context.Context, q postgres.UsageQuery) ([]postgres.UsageRow, time.Time, error)
	// Pricing reads the platform configuration's spec.pricing.
	Pricing func(ctx context.Context) (stream.PricingConfiguration, error)
	// Members lists the users whose User lists group.
	Members func(ctx context.Context, group string) ([]string, error)
}

// REST serves usages.
type REST struct {
	sources Sources
	authz   authorizer.Authorizer
	clock   clock.PassiveClock
}

var (
	_ rest.Storage              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.Getter               = &REST{}
	_ rest.Lister               = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

// NewREST serves usages from sources; authz answers whether a caller may
// see other users' usage (the assign verb on sessions).
func NewREST(sources Sources, authz authorizer.Authorizer) *REST {
	return &REST{sources: sources, authz: authz, clock: clock.RealClock{}}
}

func (r *REST) New() runtime.Object     { return &stream.Usage{} }
func (r *REST) NewList() runtime.Object { return &stream.UsageList{} }
func (r *REST) Destroy()                {}
func (r *REST) NamespaceScoped() bool   { return true }
func (r *REST) GetSingularName() string { return "usage" }

// Name is the name of the usage of user's sessions of template. Template
// names cannot contain ':', so the last ':' of a name separates the two.
func Name(user, template string) string { return user + ":" + template }

func splitName(name string) (user, template string, ok bool) {
	i := strings.LastIndex(name, ":")
	if i <= 0 || i == len(name)-1 {
		return "", "", false
	}
	return name[:i], name[i+1:], true
}

// Get computes the usage of one user's sessions of one template in the
// request's namespace over the current month.
func (r *REST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	userName, template, ok := splitName(name)
	if !ok {
		return nil, apierrors.NewNotFound(resource, name)
	}
	namespace := request.NamespaceValue(ctx)
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if userName != caller.GetName() {
		if !r.mayAssign(ctx, caller, namespace) {
			return nil, apierrors.NewForbidden(resource, name, fmt.Errorf("%s may see only their own usage (the usage of user %q needs the %q verb on sessions in namespace %q)",
				caller.GetName(), userName, stream.AssignVerb, namespace))
		}
	}
	p, err := parsePeriod("", r.clock.Now())
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	items, err := r.compute(ctx, postgres.UsageQuery{Namespace: namespace, Users: []string{userName}, Template: template}, p)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, apierrors.NewNotFound(resource, name)
	}
	return &items[0], nil
}

// filter is what a list's field selector asks for.
type filter struct {
	period                           string
	user, template, group, namespace string
	// none: the selector contradicts itself, nothing matches.
	none bool
}

// set records field = value, or a contradiction with an earlier value.
func (s *filter) set(into *string, value string) {
	if *into != "" && *into != value {
		s.none = true
	}
	*into = value
}

// selectionOf reads the field selector of a list. Only equality is
// answered: the fields are filters of a computation, not of stored objects.
func filterOf(sel fields.Selector) (filter, error) {
	var s filter
	if sel == nil {
		return s, nil
	}
	for _, req := range sel.Requirements() {
		if req.Operator != selection.Equals && req.Operator != selection.DoubleEquals {
			return s, apierrors.NewBadRequest(fmt.Sprintf("field selector %s%s%s: usages answer only = (on %s)", req.Field, req.Operator, req.Value, strings.Join(stream.UsageFieldSelectors, ", ")))
		}
		switch req.Field {
		case "spec.period":
			s.set(&s.period, req.Value)
		case "spec.user":
			s.set(&s.user, req.Value)
		case "spec.template":
			s.set(&s.template, req.Value)
		case "spec.group":
			s.set(&s.group, req.Value)
		case "metadata.namespace":
			s.set(&s.namespace, req.Value)
		case "metadata.name":
			userName, template, ok := splitName(req.Value)
			if !ok {
				s.none = true
				continue
			}
			s.set(&s.user, userName)
			s.set(&s.template, template)
		default:
			return s, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s (usages select on %s)", req.Field, strings.Join(stream.UsageFieldSelectors, ", ")))
		}
	}
	return s, nil
}

// List computes the usage in the request's namespace (every namespace when
// none), one item per user and template, over the period spec.period
// selects (default: the current month, UTC).
func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	var sel filter
	if options != nil {
		if options.LabelSelector != nil && !options.LabelSelector.Empty() {
			return nil, apierrors.NewBadRequest("usages have no labels; select with --field-selector on " + strings.Join(stream.UsageFieldSelectors, ", "))
		}
		if options.Continue != "" {
			return nil, apierrors.NewBadRequest("usages are listed in one page")
		}
		var err error
		if sel, err = filterOf(options.FieldSelector); err != nil {
			return nil, err
		}
	}
	p, err := parsePeriod(sel.period, r.clock.Now())
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	q := postgres.UsageQuery{Namespace: request.NamespaceValue(ctx), Template: sel.template}
	if sel.namespace != "" {
		if q.Namespace != "" && q.Namespace != sel.namespace {
			sel.none = true
		}
		q.Namespace = sel.namespace
	}
	if sel.user != "" {
		q.Users = []string{sel.user}
	}
	if sel.group != "" {
		members, err := r.sources.Members(ctx, sel.group)
		if err != nil {
			return nil, err
		}
		q.Users = intersect(q.Users, members)
	}
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if !r.mayAssign(ctx, caller, q.Namespace) {
		q.Users = intersect(q.Users, []string{caller.GetName()})
	}
	list := &stream.UsageList{}
	if sel.none {
		return list, nil
	}
	if list.Items, err = r.compute(ctx, q, p); err != nil {
		return nil, err
	}
	return list, nil
}

// intersect narrows users (nil: everyone) to those also in with.
func intersect(users, with []string) []string {
	out := []string{}
	for _, u := range with {
		if users == nil || slices.Contains(users, u) {
			out = append(out, u)
		}
	}
	return out
}

func (r *REST) compute(ctx context.Context, q postgres.UsageQuery, p period) ([]stream.Usage, error) {
	q.Start, q.End = p.start, p.end
	rows, measuredAt, err := r.sources.Usage(ctx, q)
	if err != nil {
		return nil, err
	}
	pricing, err := r.sources.Pricing(ctx)
	if err != nil {
		return nil, err
	}
	price := pricesOf(pricing)
	items := make([]stream.Usage, 0, len(rows))
	for _, row := range rows {
		items = append(items, usageOf(row, p, price, measuredAt))
	}
	return items, nil
}

func callerOf(ctx context.Context) (user.Info, error) {
	caller, ok := request.UserFrom(ctx)
	if !ok {
		return nil, apierrors.NewForbidden(resource, "", errors.New("no user in the request"))
	}
	return caller, nil
}

// mayAssign tells whether caller may act on other users' sessions in
// namespace (every namespace: ""), and so see their usage. An authorizer
// that fails answers no: the caller then sees their own usage only.
func (r *REST) mayAssign(ctx context.Context, caller user.Info, namespace string) bool {
	allowed, reason, err := ownership.MayAssign(ctx, r.authz, caller, ownership.Object{Resource: sessionsResource, Namespace: namespace})
	if err != nil && !allowed {
		klog.FromContext(ctx).V(2).Info("showing a caller only their own usage: the authorizer failed",
			"caller", caller.GetName(), "namespace", namespace, "reason", reason, "err", err)
	}
	return allowed
}

// ConvertToTable renders the columns of kubectl get: no name or age, the
// user and template are the name, and a usage is computed, not created.
func (r *REST) ConvertToTable(ctx context.Context, object, tableOptions runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{}
	if opt, ok := tableOptions.(*metav1.TableOptions); !ok || !opt.NoHeaders {
		table.ColumnDefinitions = columns
	}
	var items []stream.Usage
	switch o := object.(type) {
	case *stream.Usage:
		items = []stream.Usage{*o}
	case *stream.UsageList:
		items = o.Items
	default:
		return nil, apierrors.NewInternalError(fmt.Errorf("render table: not a Usage: %T", object))
	}
	for i := range items {
		u := &items[i]
		cost := u.Status.Cost
		if u.Status.Currency != "" {
			cost += " " + u.Status.Currency
		}
		table.Rows = append(table.Rows, metav1.TableRow{
			Object: runtime.RawExtension{Object: u},
			Cells: []interface{}{u.Spec.User, u.Spec.Template, u.Status.Sessions, u.Status.SessionHours,
				u.Status.CPUCoreHours, u.Status.MemoryGiBHours, cost, u.Spec.Period},
		})
	}
	return table, nil
}

var columns = []metav1.TableColumnDefinition{
	{Name: "User", Type: "string", Description: "Whose sessions."},
	{Name: "Template", Type: "string", Description: "The sessions' template."},
	{Name: "Sessions", Type: "integer", Description: "Sessions that ran within the period."},
	{Name: "Hours", Type: "string", Description: "Hours they ran."},
	{Name: "CPU-Hours", Type: "string", Description: "CPU cores requested times hours running."},
	{Name: "Mem-GiB-Hours", Type: "string", Description: "GiB of memory requested times hours running."},
	{Name: "Cost", Type: "string", Description: "At the platform configuration's spec.pricing."},
	{Name: "Period", Type: "string", Priority: 1, Description: "The period: a year, month or day (UTC), or all."},
}

// PricingFrom reads spec.pricing of the platform configuration from its
// storage; without the configuration nothing has a price.
func PricingFrom(configurations rest.Getter) func(ctx context.Context) (stream.PricingConfiguration, error) {
	return func(ctx context.Context) (stream.PricingConfiguration, error) {
		obj, err := configurations.Get(request.WithNamespace(ctx, ""), stream.PlatformConfigurationName, &metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return stream.PricingConfiguration{}, nil
		}
		if err != nil {
			return stream.PricingConfiguration{}, err
		}
		c, ok := obj.(*stream.PlatformConfiguration)
		if !ok {
			return stream.PricingConfiguration{}, apierrors.NewInternalError(fmt.Errorf("read the platform configuration: got %T", obj))
		}
		return c.Spec.Pricing, nil
	}
}

// MembersFrom lists, from the storage of Users, the users whose User lists
// a group: the groups of their latest request (docs/identity.md).
func MembersFrom(users rest.Lister) func(ctx context.Context, group string) ([]string, error) {
	return func(ctx context.Context, group string) ([]string, error) {
		obj, err := users.List(request.WithNamespace(ctx, ""), &metainternalversion.ListOptions{})
		if err != nil {
			return nil, err
		}
		list, ok := obj.(*stream.UserList)
		if !ok {
			return nil, apierrors.NewInternalError(fmt.Errorf("list users: got %T", obj))
		}
		members := []string{}
		for _, u := range list.Items {
			if slices.Contains(u.Status.Groups, group) {
				members = append(members, u.Name)
			}
		}
		return members, nil
	}
}
