package sessionquota

import (
	"context"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// Every authenticated person may read SessionQuotas to see their limits
// (the ClusterRole streamspace-quota-reader), but a quota's status lists the
// usage and pending charges of every person it matches. RBAC grants a verb
// on a resource, not on parts of an object, so the registry narrows what a
// reader sees: a caller the server's authorizer does not allow to update
// sessionquotas or their status reads, in get, list and watch, only their
// own usage entry and their own pending charges. Administrators (update)
// and the writers of the status (update of sessionquotas/status: the
// admission plugin's loopback identity, the sessionquota controller) read
// everything, as they must: they write the status back whole.

// REST serves SessionQuotas, each narrowed to the caller's own usage unless
// the caller may write quotas. Everything but get, list and watch is the
// store's.
type REST struct {
	*storebuilder.REST
	privacy usagePrivacy
}

// StatusREST serves sessionquotas/status, whose get is narrowed like the
// main resource's.
type StatusREST struct {
	*storebuilder.StatusREST
	privacy usagePrivacy
}

// WithUsagePrivacy wraps the storage of SessionQuotas and of their status
// so that readers see only their own usage. authz is the server's
// authorizer; nil (no authorization) shows everyone everything.
func WithUsagePrivacy(main *storebuilder.REST, status *storebuilder.StatusREST, authz authorizer.Authorizer) (*REST, *StatusREST) {
	p := usagePrivacy{authz: authz}
	return &REST{REST: main, privacy: p}, &StatusREST{StatusREST: status, privacy: p}
}

// Get returns the quota, narrowed for the caller.
func (r *REST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.REST.Get(ctx, name, options)
	if err != nil {
		return nil, err
	}
	return r.privacy.narrowObject(ctx, name, obj), nil
}

// List returns the quotas, each narrowed for the caller.
func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	obj, err := r.REST.List(ctx, options)
	if err != nil {
		return nil, err
	}
	list, ok := obj.(*stream.SessionQuotaList)
	if !ok {
		return obj, nil
	}
	everyone, user := r.privacy.seesEveryone(ctx, "")
	if everyone {
		return list, nil
	}
	for i := range list.Items {
		// The items may share their slices with the watch cache: narrowed
		// makes new ones and never writes into those.
		list.Items[i] = *narrowed(&list.Items[i], user)
	}
	return list, nil
}

// Watch watches the quotas, each event's object narrowed for the caller.
// Whether the caller sees everyone is decided once, when the watch starts,
// as RBAC decides a watch once.
func (r *REST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	w, err := r.REST.Watch(ctx, options)
	if err != nil {
		return nil, err
	}
	everyone, user := r.privacy.seesEveryone(ctx, "")
	if everyone {
		return w, nil
	}
	return storebuilder.MapWatch(w, func(q *stream.SessionQuota) *stream.SessionQuota { return narrowed(q, user) }), nil
}

// Get returns the quota, narrowed for the caller.
func (r *StatusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.StatusREST.Get(ctx, name, options)
	if err != nil {
		return nil, err
	}
	return r.privacy.narrowObject(ctx, name, obj), nil
}

// usagePrivacy decides who sees everyone's usage.
type usagePrivacy struct {
	authz authorizer.Authorizer
}

// seesEveryone tells whether the caller may read every person's usage (may
// update the quota named name, or every quota when name is empty, or its
// status), and otherwise the user name whose usage they may read ("" for a
// request without a user: nobody's).
func (p usagePrivacy) seesEveryone(ctx context.Context, name string) (bool, string) {
	if p.authz == nil {
		return true, ""
	}
	caller, ok := request.UserFrom(ctx)
	if !ok {
		return false, ""
	}
	version := ""
	if info, ok := request.RequestInfoFrom(ctx); ok {
		version = info.APIVersion
	}
	for _, subresource := range []string{"", "status"} {
		decision, reason, err := p.authz.Authorize(ctx, authorizer.AttributesRecord{
			User:            caller,
			Verb:            "update",
			APIGroup:        stream.GroupName,
			APIVersion:      version,
			Resource:        "sessionquotas",
			Subresource:     subresource,
			Name:            name,
			ResourceRequest: true,
		})
		if decision == authorizer.DecisionAllow {
			return true, caller.GetName()
		}
		if err != nil {
			// Refused for now: the caller sees their own usage only.
			klog.FromContext(ctx).V(2).Info("could not tell whether the caller may read everyone's quota usage",
				"caller", caller.GetName(), "subresource", subresource, "reason", reason, "err", err)
		}
	}
	return false, caller.GetName()
}

// narrowObject narrows one quota read by get for the caller.
func (p usagePrivacy) narrowObject(ctx context.Context, name string, obj runtime.Object) runtime.Object {
	q, ok := obj.(*stream.SessionQuota)
	if !ok {
		return obj
	}
	if everyone, user := p.seesEveryone(ctx, name); !everyone {
		return narrowed(q, user)
	}
	return q
}

// narrowed returns a copy of q whose status keeps only user's usage entry
// and pending charges. It never writes into q or its slices, which the
// watch cache may share with other readers.
func narrowed(q *stream.SessionQuota, user string) *stream.SessionQuota {
	out := *q
	out.Status.Usage = nil
	for i := range q.Status.Usage {
		if q.Status.Usage[i].User == user {
			out.Status.Usage = append(out.Status.Usage, *q.Status.Usage[i].DeepCopy())
		}
	}
	out.Status.Pending = nil
	for i := range q.Status.Pending {
		if q.Status.Pending[i].User == user {
			out.Status.Pending = append(out.Status.Pending, *q.Status.Pending[i].DeepCopy())
		}
	}
	return &out
}
