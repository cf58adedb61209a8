// Package user holds the REST storage of Users: read-only for clients (get,
// list, watch, and delete for whoever RBAC lets), written only by the API
// server's own recorder of the identities that call it.
package user

import (
	"context"
	"fmt"
	"strings"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/apis/stream/validation"
	"github.com/streamspace/controlplane/pkg/registry/resttable"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// rules: a User has no spec; its status is whatever the recorder writes,
// on create and on update alike.
var rules = storebuilder.Rules[*stream.User]{
	APIVersion:           "stream.space/v1alpha1",
	Namespaced:           false,
	InitStatus:           func(*stream.User) {},
	CopyStatus:           func(dst, src *stream.User) {},
	CopySpec:             func(dst, src *stream.User) {},
	SpecEqual:            func(a, b *stream.User) bool { return true },
	Fields:               stream.UserFields,
	Validate:             validation.ValidateUser,
	ValidateUpdate:       validation.ValidateUserUpdate,
	ValidateStatusUpdate: validation.ValidateUserUpdate,
}

// REST serves Users to clients. It offers no create, update or patch, so
// those verbs are absent from discovery and answered 405 Method Not Allowed.
type REST struct {
	store *storebuilder.REST
}

var (
	_ rest.Getter               = &REST{}
	_ rest.Lister               = &REST{}
	_ rest.Watcher              = &REST{}
	_ rest.GracefulDeleter      = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
	_ rest.ShortNamesProvider   = &REST{}
	// The server's storage-readiness check and unsafe deletes reach the
	// store through these, as they reach every store the server embeds.
	_ rest.StorageWithReadiness         = &REST{}
	_ rest.CorruptObjectDeleterProvider = &REST{}
)

// NewREST returns the read-only storage of Users and the full store behind
// it, through which the recorder writes (so watches see its changes).
func NewREST(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*REST, *genericregistry.Store, error) {
	store, _, err := storebuilder.New(storebuilder.Options[*stream.User]{
		Resource:    stream.Resource("users"),
		Singular:    stream.Resource("user"),
		NewFunc:     func() runtime.Object { return &stream.User{} },
		NewListFunc: func() runtime.Object { return &stream.UserList{} },
		Rules:       rules,
		Table:       table,
		ShortNames:  []string{"usr"},
		// Not in the streamspace category: kubectl get streamspace in a
		// namespace would list these cluster-scoped records, which only
		// administrators may.
	}, scheme, optsGetter)
	if err != nil {
		return nil, nil, err
	}
	return &REST{store: store}, store.Store, nil
}

// New returns an empty User.
func (r *REST) New() runtime.Object { return r.store.New() }

// Destroy closes the storage.
func (r *REST) Destroy() { r.store.Destroy() }

// ReadinessCheck fails until the store's watch cache has filled.
func (r *REST) ReadinessCheck() error { return r.store.ReadinessCheck() }

// GetCorruptObjDeleter removes a User whose stored bytes cannot be read: an
// administrator's delete with ignoreStoreReadErrorWithClusterBreakingPotential.
func (r *REST) GetCorruptObjDeleter() rest.GracefulDeleter { return r.store.GetCorruptObjDeleter() }

// NamespaceScoped is false: a person is not in a namespace.
func (r *REST) NamespaceScoped() bool { return false }

// GetSingularName is "user".
func (r *REST) GetSingularName() string { return r.store.GetSingularName() }

// ShortNames implements rest.ShortNamesProvider (kubectl get usr).
func (r *REST) ShortNames() []string { return r.store.ShortNames() }

// Get returns one User.
func (r *REST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

// NewList returns an empty UserList.
func (r *REST) NewList() runtime.Object { return r.store.NewList() }

// List returns the Users.
func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	return r.store.List(ctx, options)
}

// Watch watches the Users.
func (r *REST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	return r.store.Watch(ctx, options)
}

// Delete forgets a User (an administrator's clean-up): the person's next
// request records them again.
func (r *REST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	return r.store.Delete(ctx, name, deleteValidation, options)
}

// ConvertToTable renders Users for kubectl get.
func (r *REST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, object, tableOptions)
}

var table = resttable.Convertor{
	Columns: []metav1.TableColumnDefinition{
		{Name: "Display-Name", Type: "string", Description: "The person's name from their identity's claims."},
		{Name: "Email", Type: "string", Description: "The address from their identity's claims."},
		{Name: "Role", Type: "string", Description: "admin or user, from their groups."},
		{Name: "Groups", Type: "string", Description: "The groups of their last request."},
		{Name: "Last-Seen", Type: "string", Description: "When their last request was recorded."},
		{Name: "UID", Type: "string", Priority: 1, Description: "The identity's uid (the OpenID sub claim)."},
		{Name: "Last-Login", Type: "string", Priority: 1, Description: "When they last signed in."},
	},
	Row: func(obj runtime.Object) ([]interface{}, error) {
		u, ok := obj.(*stream.User)
		if !ok {
			return nil, fmt.Errorf("not a User: %T", obj)
		}
		return []interface{}{u.Status.DisplayName, u.Status.Email, string(u.Status.Role),
			strings.Join(u.Status.Groups, ","), resttable.Since(u.Status.LastSeen), u.Status.UID, resttable.Since(u.Status.LastLogin)}, nil
	},
}
