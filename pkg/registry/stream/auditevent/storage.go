// Package auditevent serves the audit trail (the audit_log table) as the
// read-only, cluster-scoped resource auditevents: get by id, and list newest
// first, always in pages, filtered by field selectors on the columns a
// person filters by. It reads the table directly: the trail is an
// append-only log, not objects with resourceVersions, so there is no watch.
package auditevent

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/auditlog"
	"github.com/streamspace/controlplane/pkg/registry/resttable"
)

// MaxPage bounds a page: a list without a limit, or with a larger one, is
// answered in pages of this many with a continue token.
const MaxPage = 1000

// fieldColumns are the field selectors of auditevents and the audit_log
// columns they filter, as stream.AuditEventFields declares them.
var fieldColumns = func() map[string]string {
	m := map[string]string{}
	for _, f := range stream.AuditEventFields.Fields {
		m[f.Name] = f.Column
	}
	return m
}()

// filterNames lists the field selectors people filter by, for messages.
var filterNames = func() string {
	var names []string
	for _, f := range stream.AuditEventFields.Fields {
		if !strings.HasPrefix(f.Name, "metadata.") {
			names = append(names, f.Name)
		}
	}
	return strings.Join(names, ", ")
}()

// REST reads the audit trail.
type REST struct {
	pool *pgxpool.Pool
}

var (
	_ rest.Storage              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.Getter               = &REST{}
	_ rest.Lister               = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

// NewREST reads audit_log through pool.
func NewREST(pool *pgxpool.Pool) *REST { return &REST{pool: pool} }

func (r *REST) New() runtime.Object     { return &stream.AuditEvent{} }
func (r *REST) NewList() runtime.Object { return &stream.AuditEventList{} }
func (r *REST) Destroy()                {}
func (r *REST) NamespaceScoped() bool   { return false }
func (r *REST) GetSingularName() string { return "auditevent" }
func (r *REST) ShortNames() []string    { return []string{"ae"} }

// Get reads one event by its id.
func (r *REST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	if _, err := strconv.ParseInt(name, 10, 64); err != nil {
		return nil, apierrors.NewNotFound(stream.Resource("auditevents"), name)
	}
	entries, _, err := auditlog.List(ctx, r.pool, auditlog.Query{Filters: []auditlog.Filter{{Column: "id", Value: name}}, Limit: 1})
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("read the audit trail: %v", err))
	}
	if len(entries) == 0 {
		return nil, apierrors.NewNotFound(stream.Resource("auditevents"), name)
	}
	return event(entries[0]), nil
}

// List reads a page of events, newest first.
func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	q := auditlog.Query{Limit: MaxPage}
	if options != nil {
		if options.Limit > 0 && options.Limit < MaxPage {
			q.Limit = int(options.Limit)
		}
		if options.Continue != "" {
			before, err := strconv.ParseInt(options.Continue, 10, 64)
			if err != nil || before <= 0 {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("continue %q: not a continue token of auditevents", options.Continue))
			}
			q.Before = before
		}
		if options.LabelSelector != nil && !options.LabelSelector.Empty() {
			return nil, apierrors.NewBadRequest("auditevents have no labels; filter with --field-selector on " + filterNames)
		}
		filters, err := filtersOf(options.FieldSelector)
		if err != nil {
			return nil, err
		}
		q.Filters = filters
	}
	entries, more, err := auditlog.List(ctx, r.pool, q)
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("read the audit trail: %v", err))
	}
	list := &stream.AuditEventList{Items: make([]stream.AuditEvent, 0, len(entries))}
	for _, e := range entries {
		list.Items = append(list.Items, *event(e))
	}
	if more && len(entries) > 0 {
		list.Continue = strconv.FormatInt(entries[len(entries)-1].ID, 10)
	}
	return list, nil
}

func filtersOf(sel fields.Selector) ([]auditlog.Filter, error) {
	if sel == nil || sel.Empty() {
		return nil, nil
	}
	var out []auditlog.Filter
	for _, req := range sel.Requirements() {
		column, ok := fieldColumns[req.Field]
		if !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s (auditevents filter on %s)", req.Field, filterNames))
		}
		switch req.Operator {
		case selection.Equals, selection.DoubleEquals:
			out = append(out, auditlog.Filter{Column: column, Value: req.Value})
		case selection.NotEquals:
			out = append(out, auditlog.Filter{Column: column, Value: req.Value, Not: true})
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("field selector operator %q is not supported", req.Operator))
		}
		if column == "response_code" || column == "id" {
			if _, err := strconv.ParseInt(req.Value, 10, 64); err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("field selector %s=%q: want a number", req.Field, req.Value))
			}
		}
	}
	return out, nil
}

func event(e auditlog.Entry) *stream.AuditEvent {
	ev := &stream.AuditEvent{
		ObjectMeta: metav1.ObjectMeta{Name: strconv.FormatInt(e.ID, 10), CreationTimestamp: metav1.NewTime(e.Timestamp)},
		AuditID:    e.AuditID, User: e.User, Groups: e.Groups, Verb: e.Verb, APIGroup: e.APIGroup, Version: e.APIVersion,
		Resource: e.Resource, Subresource: e.Subresource, ObjectNamespace: e.Namespace, ObjectName: e.Name, RequestURI: e.RequestURI,
		Code: e.Code, SourceIPs: e.SourceIPs, UserAgent: e.UserAgent, Stage: e.Stage, Level: e.Level,
	}
	if len(e.Changes) > 0 {
		ev.Changes = &runtime.RawExtension{Raw: e.Changes}
	}
	return ev
}

// ConvertToTable renders the columns of kubectl get.
func (r *REST) ConvertToTable(ctx context.Context, object, tableOptions runtime.Object) (*metav1.Table, error) {
	return table.ConvertToTable(ctx, object, tableOptions)
}

var table = resttable.Convertor{
	Columns: []metav1.TableColumnDefinition{
		{Name: "Time", Type: "string", Format: "date-time", Description: "When the request was answered."},
		{Name: "User", Type: "string", Description: "Who made the request."},
		{Name: "Verb", Type: "string", Description: "What the request did."},
		{Name: "Resource", Type: "string", Description: "The resource (and subresource)."},
		{Name: "Namespace", Type: "string", Description: "The object's namespace."},
		{Name: "Object", Type: "string", Description: "The object's name."},
		{Name: "Code", Type: "integer", Description: "The response code."},
	},
	Row: func(obj runtime.Object) ([]interface{}, error) {
		e, ok := obj.(*stream.AuditEvent)
		if !ok {
			return nil, fmt.Errorf("not an AuditEvent: %T", obj)
		}
		resource := e.Resource
		if e.Subresource != "" {
			resource += "/" + e.Subresource
		}
		return []interface{}{e.CreationTimestamp.UTC().Format("2006-01-02T15:04:05Z"), e.User, e.Verb, resource, e.ObjectNamespace, e.ObjectName, int64(e.Code)}, nil
	},
}
