// Package apikey holds the REST storage of APIKeys, and the authenticator
// of their tokens that streamspace-apiserver serves to kube-apiserver as a
// token webhook.
//
// A key is created by a person for themself: the owner admission plugin
// defaults spec.user to the caller (naming another user needs "assign"),
// and Create takes the caller's uid and groups, defaults the expiry,
// generates the token and stores only its hash. The token is in the create
// response only. Keys are never updated; deleting one revokes it. Readers
// never see the hash, and see only their own keys unless they may assign.
package apikey

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/apis/stream/validation"
	"github.com/streamspace/controlplane/pkg/ownership"
	"github.com/streamspace/controlplane/pkg/registry/resttable"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// ExtraAPIKey is the user extra the token webhook adds: the name of the key
// a request authenticated with.
const ExtraAPIKey = "streamspace.io/api-key"

// rules: Create (below) fills the status with the token's hash alone, and
// the registry keeps it; nothing updates a key.
var rules = storebuilder.Rules[*stream.APIKey]{
	APIVersion:           "stream.space/v1alpha1",
	Namespaced:           false,
	InitStatus:           func(k *stream.APIKey) { k.Status = stream.APIKeyStatus{TokenHash: k.Status.TokenHash} },
	CopyStatus:           func(dst, src *stream.APIKey) { dst.Status = src.Status },
	CopySpec:             func(dst, src *stream.APIKey) { dst.Spec = src.Spec },
	SpecEqual:            func(a, b *stream.APIKey) bool { return true },
	Fields:               stream.APIKeyFields,
	Validate:             validation.ValidateAPIKey,
	ValidateUpdate:       validation.ValidateAPIKeyUpdate,
	ValidateStatusUpdate: validation.ValidateAPIKeyUpdate,
}

var resource = stream.SchemeGroupVersion.WithResource("apikeys")

// REST serves APIKeys: create, get, list, watch, delete, and update and
// patch of the description and metadata only (the rest of the spec is
// immutable: 422). kubectl's client-side validation needs a PATCH path to
// find a kind in the OpenAPI document, besides.
type REST struct {
	store *storebuilder.REST
	authz authorizer.Authorizer
	now   func() time.Time
}

var (
	_ rest.Creater              = &REST{}
	_ rest.Updater              = &REST{}
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

// NewREST returns the storage of APIKeys and the full store behind it, from
// which the token authenticator reads the hashes. authz answers whether a
// caller may assign keys (read and revoke anyone's).
func NewREST(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, authz authorizer.Authorizer) (*REST, *genericregistry.Store, error) {
	store, _, err := storebuilder.New(storebuilder.Options[*stream.APIKey]{
		Resource:    stream.Resource("apikeys"),
		Singular:    stream.Resource("apikey"),
		NewFunc:     func() runtime.Object { return &stream.APIKey{} },
		NewListFunc: func() runtime.Object { return &stream.APIKeyList{} },
		Rules:       rules,
		Table:       table,
		ShortNames:  []string{"ak"},
	}, scheme, optsGetter)
	if err != nil {
		return nil, nil, err
	}
	return &REST{store: store, authz: authz, now: time.Now}, store.Store, nil
}

// New returns an empty APIKey.
func (r *REST) New() runtime.Object { return r.store.New() }

// Destroy closes the storage.
func (r *REST) Destroy() { r.store.Destroy() }

// ReadinessCheck fails until the store's watch cache has filled.
func (r *REST) ReadinessCheck() error { return r.store.ReadinessCheck() }

// GetCorruptObjDeleter removes an APIKey whose stored bytes cannot be read: an
// administrator's delete with ignoreStoreReadErrorWithClusterBreakingPotential.
func (r *REST) GetCorruptObjDeleter() rest.GracefulDeleter { return r.store.GetCorruptObjDeleter() }

// NamespaceScoped is false: a key belongs to a person, not a namespace.
func (r *REST) NamespaceScoped() bool { return false }

// GetSingularName is "apikey".
func (r *REST) GetSingularName() string { return r.store.GetSingularName() }

// ShortNames implements rest.ShortNamesProvider (kubectl get ak).
func (r *REST) ShortNames() []string { return r.store.ShortNames() }

// NewList returns an empty APIKeyList.
func (r *REST) NewList() runtime.Object { return r.store.NewList() }

// Create mints a key: the caller's uid and groups when the key is theirs,
// the default expiry, a new token whose hash is stored; the response carries
// the token (status.token), the one time it is ever shown.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	key, ok := obj.(*stream.APIKey)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not an APIKey: %T", obj))
	}
	if key.Name == "" && key.GenerateName != "" {
		// The token names its key, so the name is chosen before the token.
		key.Name = names.SimpleNameGenerator.GenerateName(key.GenerateName)
	}
	if caller, ok := request.UserFrom(ctx); ok && (key.Spec.User == "" || key.Spec.User == caller.GetName()) {
		// One's own key acts with the identity one has now, whatever the
		// request says; an administrator (assign) minting one for another
		// user states the groups.
		key.Spec.User, key.Spec.UID, key.Spec.Groups = caller.GetName(), caller.GetUID(), groupsOf(caller)
	}
	if key.Spec.ExpiresAt == nil {
		expires := metav1.NewTime(r.now().Add(validation.DefaultAPIKeyLifetime).UTC().Truncate(time.Second))
		key.Spec.ExpiresAt = &expires
	}
	token, hash := NewToken(key.Name)
	key.Status = stream.APIKeyStatus{TokenHash: hash}
	out, err := r.store.Create(ctx, key, createValidation, options)
	if err != nil {
		return nil, err
	}
	created := out.(*stream.APIKey).DeepCopy()
	created.Status = stream.APIKeyStatus{Token: token}
	return created, nil
}

// groupsOf returns the caller's groups without system:authenticated, which
// kube-apiserver adds to every authenticated user anyway.
func groupsOf(u user.Info) []string {
	var groups []string
	for _, g := range u.GetGroups() {
		if g != user.AllAuthenticated {
			groups = append(groups, g)
		}
	}
	return groups
}

// Get returns a key the caller may read, without its hash.
func (r *REST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.store.Get(ctx, name, options)
	if err != nil {
		return nil, err
	}
	key := obj.(*stream.APIKey)
	if err := r.authorizeOwner(ctx, key, "read"); err != nil {
		return nil, err
	}
	return redact(key), nil
}

// List returns the caller's keys, or every key for a caller who may assign
// them; without hashes.
func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	options, err := r.restrict(ctx, options)
	if err != nil {
		return nil, err
	}
	obj, err := r.store.List(ctx, options)
	if err != nil {
		return nil, err
	}
	list := obj.(*stream.APIKeyList)
	for i := range list.Items {
		list.Items[i].Status = stream.APIKeyStatus{}
	}
	return list, nil
}

// Watch watches the keys List would return, without hashes.
func (r *REST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	options, err := r.restrict(ctx, options)
	if err != nil {
		return nil, err
	}
	w, err := r.store.Watch(ctx, options)
	if err != nil {
		return nil, err
	}
	return storebuilder.MapWatch(w, redact), nil
}

// Update changes a key's description or metadata; its owner, or a caller
// who may assign keys, may (the owner admission plugin). The stored status,
// the token's hash, is kept (CopyStatus).
func (r *REST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc,
	updateValidation rest.ValidateObjectUpdateFunc, _ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	obj, created, err := r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
	if key, ok := obj.(*stream.APIKey); ok {
		obj = redact(key)
	}
	return obj, created, err
}

// Delete revokes a key; the owner admission plugin lets only its owner, or
// a caller who may assign keys, do it.
func (r *REST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	obj, deleted, err := r.store.Delete(ctx, name, deleteValidation, options)
	if key, ok := obj.(*stream.APIKey); ok {
		obj = redact(key)
	}
	return obj, deleted, err
}

// ConvertToTable renders keys for kubectl get.
func (r *REST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, object, tableOptions)
}

// restrict narrows a list or watch to the caller's own keys (field selector
// spec.user=<caller>) unless the caller may assign keys. RBAC cannot filter
// by owner; the registry does.
func (r *REST) restrict(ctx context.Context, options *metainternalversion.ListOptions) (*metainternalversion.ListOptions, error) {
	caller, ok := request.UserFrom(ctx)
	if !ok {
		return nil, apierrors.NewForbidden(stream.Resource("apikeys"), "", errors.New("no user in the request"))
	}
	if allowed, _, _ := ownership.MayAssign(ctx, r.authz, caller, ownership.Object{Resource: resource}); allowed {
		return options, nil
	}
	out := &metainternalversion.ListOptions{}
	if options != nil {
		out = options.DeepCopy()
	}
	mine := fields.OneTermEqualSelector("spec.user", caller.GetName())
	if out.FieldSelector == nil || out.FieldSelector.Empty() {
		out.FieldSelector = mine
	} else {
		out.FieldSelector = fields.AndSelectors(out.FieldSelector, mine)
	}
	return out, nil
}

// authorizeOwner allows the key's owner, and callers who may assign keys.
func (r *REST) authorizeOwner(ctx context.Context, key *stream.APIKey, action string) error {
	caller, _ := request.UserFrom(ctx)
	return ownership.Authorize(ctx, r.authz, caller, ownership.Object{Resource: resource, Name: key.Name, Owner: key.Spec.User}, action)
}

// redact returns the key without its status: the hash is never served.
func redact(key *stream.APIKey) *stream.APIKey {
	out := key.DeepCopy()
	out.Status = stream.APIKeyStatus{}
	return out
}

var table = resttable.Convertor{
	Columns: []metav1.TableColumnDefinition{
		{Name: "User", Type: "string", Description: "The user the key acts as."},
		{Name: "Expires", Type: "string", Description: "When the key stops working."},
		{Name: "Description", Type: "string", Description: "What the key is for."},
		{Name: "Groups", Type: "string", Priority: 1, Description: "The groups the key acts with."},
	},
	Row: func(obj runtime.Object) ([]interface{}, error) {
		k, ok := obj.(*stream.APIKey)
		if !ok {
			return nil, fmt.Errorf("not an APIKey: %T", obj)
		}
		expires := ""
		if k.Spec.ExpiresAt != nil {
			expires = k.Spec.ExpiresAt.UTC().Format(time.RFC3339)
		}
		return []interface{}{k.Spec.User, expires, k.Spec.Description, strings.Join(k.Spec.Groups, ",")}, nil
	},
}
