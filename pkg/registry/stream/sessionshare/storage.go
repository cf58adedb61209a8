// Package sessionshare holds the REST storage of SessionShares.
//
// A share is the session owner's to give: creating, changing or deleting
// one is allowed to the session's user (spec.user) and to callers RBAC
// grants the assign verb on sessions in the namespace (package ownership),
// besides RBAC on sessionshares itself. Admission sees a share without its
// session, so the rule is applied here, where the session is read: on
// create from the Session, afterwards from status.owner, which the server
// sets then. A share is owned by its session (an owner reference), so the
// garbage collector deletes it with the session.
package sessionshare

import (
	"context"
	"fmt"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/apis/stream/validation"
	"github.com/streamspace/controlplane/pkg/ownership"
	"github.com/streamspace/controlplane/pkg/registry/resttable"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// rules: the session's owner writes the spec; the server sets status.owner
// at creation and the controller the conditions.
var rules = storebuilder.Rules[*stream.SessionShare]{
	APIVersion: "stream.space/v1alpha1",
	Namespaced: true,
	// Create (below) has set the owner from the session; nothing else of
	// the status is the client's.
	InitStatus:           func(s *stream.SessionShare) { s.Status = stream.SessionShareStatus{Owner: s.Status.Owner} },
	CopyStatus:           func(dst, src *stream.SessionShare) { dst.Status = src.Status },
	CopySpec:             func(dst, src *stream.SessionShare) { dst.Spec = src.Spec },
	SpecEqual:            func(a, b *stream.SessionShare) bool { return apiequality.Semantic.DeepEqual(a.Spec, b.Spec) },
	Fields:               stream.SessionShareFields,
	Validate:             validation.ValidateSessionShare,
	ValidateUpdate:       validation.ValidateSessionShareUpdate,
	ValidateStatusUpdate: validation.ValidateSessionShareStatusUpdate,
}

var sessionsResource = streamv1alpha1.SchemeGroupVersion.WithResource("sessions")

// REST serves SessionShares with the owner rule of their sessions.
type REST struct {
	*storebuilder.REST
	sessions rest.Getter
	authz    authorizer.Authorizer
}

// NewREST returns the storage of shares and of their status. sessions reads
// the session a new share names; authz answers whether a caller other than
// the session's user may assign sessions.
func NewREST(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, sessions rest.Getter, authz authorizer.Authorizer) (*REST, *storebuilder.StatusREST, error) {
	store, status, err := storebuilder.New(storebuilder.Options[*stream.SessionShare]{
		Resource:    stream.Resource("sessionshares"),
		Singular:    stream.Resource("sessionshare"),
		NewFunc:     func() runtime.Object { return &stream.SessionShare{} },
		NewListFunc: func() runtime.Object { return &stream.SessionShareList{} },
		Rules:       rules,
		Table:       table,
		ShortNames:  []string{"share"},
		Categories:  []string{"streamspace"},
	}, scheme, optsGetter)
	if err != nil {
		return nil, nil, err
	}
	return &REST{REST: store, sessions: sessions, authz: authz}, status, nil
}

// Create shares a session: only its user, or a caller who may assign
// sessions, may. The share records the session's user as status.owner and
// is owned by the session.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	share, ok := obj.(*stream.SessionShare)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a SessionShare: %T", obj))
	}
	if share.Spec.Session == "" {
		// Validation names the missing field.
		return r.REST.Create(ctx, obj, createValidation, options)
	}
	got, err := r.sessions.Get(ctx, share.Spec.Session, &metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewInvalid(stream.Kind("SessionShare"), share.Name, field.ErrorList{
			field.NotFound(field.NewPath("spec", "session"), share.Spec.Session)})
	}
	if err != nil {
		return nil, err
	}
	session := got.(*stream.Session)
	if err := r.authorize(ctx, share.Namespace, share.Spec.Session, session.Spec.User, "share"); err != nil {
		return nil, err
	}
	if session.DeletionTimestamp != nil || session.Spec.State == stream.SessionStateTerminated {
		return nil, apierrors.NewConflict(stream.Resource("sessions"), session.Name,
			fmt.Errorf("the session is terminated; it cannot be shared"))
	}
	if share.Spec.User != "" && share.Spec.User == session.Spec.User {
		return nil, apierrors.NewInvalid(stream.Kind("SessionShare"), share.Name, field.ErrorList{
			field.Invalid(field.NewPath("spec", "user"), share.Spec.User, "the session's own user needs no share")})
	}
	share.Status.Owner = session.Spec.User
	share.OwnerReferences = append(share.OwnerReferences, metav1.OwnerReference{
		APIVersion: streamv1alpha1.SchemeGroupVersion.String(),
		Kind:       "Session",
		Name:       session.Name,
		UID:        session.UID,
	})
	return r.REST.Create(ctx, share, createValidation, options)
}

// Update changes a share's role or expiry: its owner, or a caller who may
// assign sessions.
func (r *REST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc,
	updateValidation rest.ValidateObjectUpdateFunc, _ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	check := func(ctx context.Context, obj, old runtime.Object) error {
		s := old.(*stream.SessionShare)
		if err := r.authorize(ctx, s.Namespace, s.Spec.Session, s.Status.Owner, "change a share of"); err != nil {
			return err
		}
		if updateValidation != nil {
			return updateValidation(ctx, obj, old)
		}
		return nil
	}
	// No create on update: a share is created through Create, which reads
	// its session.
	return r.REST.Update(ctx, name, objInfo, createValidation, check, false, options)
}

// Delete revokes a share: its owner, or a caller who may assign sessions.
func (r *REST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	return r.REST.Delete(ctx, name, r.deleteCheck(deleteValidation), options)
}

// DeleteCollection revokes the shares the caller may revoke, refusing the
// first one they may not.
func (r *REST) DeleteCollection(ctx context.Context, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions, listOptions *metainternalversion.ListOptions) (runtime.Object, error) {
	return r.REST.DeleteCollection(ctx, r.deleteCheck(deleteValidation), options, listOptions)
}

func (r *REST) deleteCheck(deleteValidation rest.ValidateObjectFunc) rest.ValidateObjectFunc {
	return func(ctx context.Context, obj runtime.Object) error {
		s := obj.(*stream.SessionShare)
		if err := r.authorize(ctx, s.Namespace, s.Spec.Session, s.Status.Owner, "revoke a share of"); err != nil {
			return err
		}
		if deleteValidation != nil {
			return deleteValidation(ctx, obj)
		}
		return nil
	}
}

func (r *REST) authorize(ctx context.Context, namespace, session, owner, action string) error {
	caller, _ := request.UserFrom(ctx)
	return ownership.Authorize(ctx, r.authz, caller, ownership.Object{
		Resource: sessionsResource, Namespace: namespace, Name: session, Owner: owner,
	}, action)
}

var table = resttable.Convertor{
	Columns: []metav1.TableColumnDefinition{
		{Name: "Session", Type: "string", Description: "The shared session."},
		{Name: "Shared-With", Type: "string", Description: "user:<name> or group:<name>."},
		{Name: "Role", Type: "string", Description: "view or control."},
		{Name: "Expires", Type: "string", Description: "When the share ends, if ever."},
		{Name: "Owner", Type: "string", Priority: 1, Description: "The session's user, who shared it."},
		{Name: "Granted", Type: "string", Priority: 1, Description: "Whether the access the share grants is in place."},
	},
	Row: func(obj runtime.Object) ([]interface{}, error) {
		s, ok := obj.(*stream.SessionShare)
		if !ok {
			return nil, fmt.Errorf("not a SessionShare: %T", obj)
		}
		expires := "<never>"
		if s.Spec.ExpiresAt != nil {
			expires = s.Spec.ExpiresAt.UTC().Format(time.RFC3339)
		}
		granted := "Unknown"
		for _, c := range s.Status.Conditions {
			if c.Type == stream.SessionShareConditionGranted {
				granted = string(c.Status)
			}
		}
		return []interface{}{s.Spec.Session, SharedWith(s), string(s.Spec.Role), expires, s.Status.Owner, granted}, nil
	},
}

// SharedWith describes who a share is for: "user:bob" or "group:staff".
func SharedWith(s *stream.SessionShare) string {
	if s.Spec.Group != "" {
		return "group:" + s.Spec.Group
	}
	return "user:" + s.Spec.User
}
