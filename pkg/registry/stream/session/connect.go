package session

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/ownership"
)

// ConnectStateStarting is the state a connect answers when it woke a
// hibernated session.
const ConnectStateStarting = "Starting"

// ConnectREST serves POST sessions/{name}/connect: it creates a Connection
// for the caller and starts the session when it is hibernated, answering
// in the old API's {connectionId, sessionUrl, state, message} shape.
//
// Only the session's own user (spec.user) may connect, or a caller RBAC
// grants the "assign" verb on sessions (package ownership), or a person the
// session is shared with (a SessionShare naming them or one of their
// groups, not expired): RBAC on sessions/connect alone would let anyone in
// a shared namespace attach to, and wake, someone else's session. Admission
// sees this create with the request body only, so the rule is applied here,
// where the session is read, and before validating admission runs. The
// connection and the answer carry the caller's role: owner, or the share's
// control or view.
type ConnectREST struct {
	sessions    rest.StandardStorage
	connections rest.Creater
	shares      rest.Lister
	authorizer  authorizer.Authorizer
	now         func() time.Time
}

var (
	_ rest.NamedCreater    = &ConnectREST{}
	_ rest.StorageMetadata = &ConnectREST{}
)

// NewConnectREST returns the connect subresource over the session,
// connection and share storages; authz decides whether a caller may connect
// to another user's session without a share.
func NewConnectREST(sessions rest.StandardStorage, connections rest.Creater, shares rest.Lister, authz authorizer.Authorizer) *ConnectREST {
	return &ConnectREST{sessions: sessions, connections: connections, shares: shares, authorizer: authz, now: time.Now}
}

// New returns the request body type.
func (r *ConnectREST) New() runtime.Object { return &stream.SessionConnectRequest{} }

// Destroy is a no-op: the session and connection stores own the storage.
func (r *ConnectREST) Destroy() {}

// ProducesMIMETypes implements rest.StorageMetadata.
func (r *ConnectREST) ProducesMIMETypes(verb string) []string { return nil }

// ProducesObject documents the answer type in OpenAPI.
func (r *ConnectREST) ProducesObject(verb string) interface{} {
	return streamv1alpha1.SessionConnectResponse{}
}

// Create attaches the caller to session name.
func (r *ConnectREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	req, ok := obj.(*stream.SessionConnectRequest)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a SessionConnectRequest: %T", obj))
	}
	if errs := validateConnectRequest(req); len(errs) > 0 {
		return nil, apierrors.NewInvalid(stream.Kind("SessionConnectRequest"), name, errs)
	}
	caller, ok := genericapirequest.UserFrom(ctx)
	if !ok || caller.GetName() == "" {
		return nil, apierrors.NewBadRequest("connect needs an authenticated user")
	}
	namespace, _ := genericapirequest.NamespaceFrom(ctx)

	got, err := r.sessions.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	session := got.(*stream.Session)
	// The owner rule before validating admission: admission charges the
	// owner's SessionQuotas for a connect that wakes the session, which a
	// caller the rule refuses must not do.
	role, share := stream.ConnectionRoleOwner, ""
	if err := ownership.Authorize(ctx, r.authorizer, caller, ownership.Object{
		Resource:  streamv1alpha1.SchemeGroupVersion.WithResource("sessions"),
		Namespace: session.Namespace,
		Name:      session.Name,
		Owner:     session.Spec.User,
	}, "connect to"); err != nil {
		if !apierrors.IsForbidden(err) {
			return nil, err
		}
		shared, lerr := r.shareFor(ctx, session.Name, caller)
		if lerr != nil {
			return nil, lerr
		}
		if shared == nil {
			return nil, err
		}
		role, share = stream.ConnectionRole(shared.Spec.Role), shared.Name
	}
	if createValidation != nil {
		if err := createValidation(ctx, req.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	if session.DeletionTimestamp != nil || session.Spec.State == stream.SessionStateTerminated {
		return nil, apierrors.NewConflict(stream.Resource("sessions"), name,
			fmt.Errorf("the session is terminated; start a new session to connect"))
	}

	// The connection first: if waking fails below, the hibernation
	// controller still wakes the session for this connection.
	conn := &stream.Connection{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: name + "-",
			Namespace:    namespace,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: streamv1alpha1.SchemeGroupVersion.String(),
				Kind:       "Session",
				Name:       session.Name,
				UID:        session.UID,
			}},
		},
		Spec: stream.ConnectionSpec{Session: name, User: caller.GetName(), ClientIP: req.ClientIP, UserAgent: req.UserAgent,
			Role: role, Share: share},
	}
	createdObj, err := r.connections.Create(ctx, conn, rest.ValidateAllObjectFunc, &metav1.CreateOptions{DryRun: options.DryRun})
	if err != nil {
		return nil, fmt.Errorf("create connection to session %s: %w", name, err)
	}
	created := createdObj.(*stream.Connection)

	woke := false
	if session.Spec.State == stream.SessionStateHibernated {
		wokenAt := r.now()
		wake := func(ctx context.Context, _, oldObj runtime.Object) (runtime.Object, error) {
			// DefaultUpdatedObjectInfo without an object passes nil as newObj:
			// the update starts from the stored object.
			s := oldObj.DeepCopyObject().(*stream.Session)
			if s.Spec.State != stream.SessionStateHibernated {
				return s, nil
			}
			s.Spec.State = stream.SessionStateRunning
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations[stream.WokenAtAnnotation] = wokenAt.UTC().Format(time.RFC3339Nano)
			woke = true
			return s, nil
		}
		updated, _, err := r.sessions.Update(ctx, name, rest.DefaultUpdatedObjectInfo(nil, wake),
			rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{DryRun: options.DryRun})
		if err != nil {
			return nil, fmt.Errorf("start hibernated session %s: %w", name, err)
		}
		session = updated.(*stream.Session)
		if woke {
			klog.FromContext(ctx).Info("connect woke hibernated session", "session", klog.KObj(session), "user", caller.GetName(), "connection", created.Name)
		}
	}
	resp := connectResponse(session, created.Name, woke)
	resp.Role = role
	return resp, nil
}

// shareFor returns the share of the session that lets caller connect with
// the most rights (control over view), or nil: one naming the caller or one
// of their groups, and not expired. It reads the shares of the session
// (field selector spec.session, an index in the watch cache and in SQL).
func (r *ConnectREST) shareFor(ctx context.Context, session string, caller user.Info) (*stream.SessionShare, error) {
	obj, err := r.shares.List(ctx, &metainternalversion.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.session", session),
	})
	if err != nil {
		return nil, fmt.Errorf("read the shares of session %s: %w", session, err)
	}
	now := r.now()
	var best *stream.SessionShare
	for i := range obj.(*stream.SessionShareList).Items {
		s := &obj.(*stream.SessionShareList).Items[i]
		if !stream.ShareInForce(s.DeletionTimestamp, s.Spec.ExpiresAt, now) ||
			!stream.ShareNames(s.Spec.User, s.Spec.Group, caller.GetName(), caller.GetGroups()) {
			continue
		}
		if best == nil || stream.ShareRoleOutranks(string(s.Spec.Role), string(best.Spec.Role)) {
			best = s
		}
	}
	return best, nil
}

func connectResponse(s *stream.Session, connection string, woke bool) *stream.SessionConnectResponse {
	resp := &stream.SessionConnectResponse{ConnectionID: connection, SessionURL: s.Status.URL, State: string(s.Status.Phase)}
	switch {
	case woke || (s.Spec.State == stream.SessionStateRunning && s.Status.Phase == stream.SessionPhaseHibernated):
		resp.State = ConnectStateStarting
		resp.Message = "the session was hibernated and is starting; it is ready when its phase is Running"
	case s.Status.Phase == stream.SessionPhaseRunning:
		resp.Message = "the session is running"
	case s.Status.Phase == stream.SessionPhasePending:
		resp.Message = "the session is starting; it is ready when its phase is Running"
	case s.Status.Phase == stream.SessionPhaseFailed:
		resp.Message = "the session has failed: " + s.Status.Message
	default:
		resp.Message = "the session is " + string(s.Status.Phase)
	}
	return resp
}

func validateConnectRequest(req *stream.SessionConnectRequest) field.ErrorList {
	var errs field.ErrorList
	if req.ClientIP != "" {
		errs = append(errs, utilvalidation.IsValidIP(field.NewPath("clientIP"), req.ClientIP)...)
	}
	if len(req.UserAgent) > 1024 {
		errs = append(errs, field.TooLong(field.NewPath("userAgent"), "", 1024))
	}
	return errs
}
