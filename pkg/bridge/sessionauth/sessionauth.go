// Package sessionauth answers an ingress controller's forward-auth
// subrequests for session URLs: may the caller of the original request use
// the session behind the host it asked for? The ingress controller (for
// ingress-nginx the auth-url annotation the session controller writes)
// calls GET /auth/sessions/{namespace}/{name} with the original request's
// Authorization and Cookie headers before every request it forwards to the
// session's desktop, WebSocket handshakes included; a 2xx lets the request
// through, 401 sends a browser to sign in, anything else refuses it.
// Anything after the session's name in the path is ignored (Envoy's
// ext_authz appends the original request's path).
//
// The decision is made with the caller's own token, as everything the
// bridge does: RBAC must let the caller create the sessions/connect
// subresource of the session (what connecting through the API needs), and
// the owner rule (pkg/ownership) must hold: the caller is the session's
// spec.user, or has the assign verb on sessions in its namespace.
package sessionauth

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/lru"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	"github.com/streamspace/controlplane/pkg/ownership"
)

const (
	// PathPrefix is where the endpoint is served: PathPrefix/<namespace>/<name>.
	PathPrefix = "/auth/sessions"
	// UserHeader names the caller in an allowed answer; the ingress passes
	// it to the desktop (auth-response-headers).
	UserHeader = "X-Streamspace-User"
	// DecisionTTL is how long a decision is reused for the same token and
	// session. Ingress controllers ask on every request (every asset of a
	// desktop's web client, every WebSocket handshake), so without it each
	// of those would cost kube-apiserver up to three requests; a revoked
	// right or a deleted session takes effect at most this late.
	DecisionTTL = 5 * time.Second
	// MaxDecisions bounds the decision cache (least recently used first
	// out); an entry is a few hundred bytes.
	MaxDecisions = 10000
	// decideTimeout bounds the API calls of one decision.
	decideTimeout = 10 * time.Second
)

// Handler serves GET /auth/sessions/{namespace}/{name} behind the bridge's
// authenticated middleware (which answers 401 without a valid credential).
type Handler struct {
	ttl time.Duration
	now func() time.Time

	mu        sync.Mutex
	decisions *lru.Cache // token key + "\x00" + namespace/name → Decision
}

// New builds a Handler with an empty decision cache of at most MaxDecisions
// entries, each kept for DecisionTTL.
func New() *Handler {
	return &Handler{ttl: DecisionTTL, now: time.Now, decisions: lru.New(MaxDecisions)}
}

// Decision is the answer for one caller and session.
type Decision struct {
	// Status is 200 (allowed), 403 or 404.
	Status int
	// Message explains a refusal.
	Message string
	// User is the caller's user name, sent in UserHeader when allowed.
	User string

	expires time.Time
}

// Allowed reports whether the caller may use the session.
func (d Decision) Allowed() bool { return d.Status == http.StatusOK }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	names, ok := httpjson.ObjectNames(w, r, "namespace", "name")
	if !ok {
		return
	}
	ns, name := names[0], names[1]
	caller := identity.FromRequest(r)
	key := caller.TokenKey() + "\x00" + ns + "/" + name
	now := h.now()
	if d, ok := h.cached(key, now); ok {
		decisions.WithLabelValues(result(d), "true").Inc()
		write(w, d)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), decideTimeout)
	defer cancel()
	d, err := Decide(ctx, caller.Kube(), caller.Stream(), caller.UserInfo(), ns, name)
	if err != nil {
		// Not remembered: kube-apiserver may answer the next one.
		decisions.WithLabelValues("error", "false").Inc()
		httpjson.APIError(w, r, fmt.Sprintf("decide whether %s may use session %s/%s", caller.Username(), ns, name), err)
		return
	}
	d.expires = now.Add(h.ttl)
	h.mu.Lock()
	h.decisions.Add(key, d)
	h.mu.Unlock()
	decisions.WithLabelValues(result(d), "false").Inc()
	if !d.Allowed() {
		klog.FromContext(r.Context()).V(2).Info("refused a session URL request",
			"session", klog.KRef(ns, name), "user", caller.Username(), "status", d.Status, "reason", d.Message)
	}
	write(w, d)
}

func (h *Handler) cached(key string, now time.Time) (Decision, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.decisions.Get(key)
	if !ok {
		return Decision{}, false
	}
	d := v.(Decision)
	if !now.Before(d.expires) {
		h.decisions.Remove(key)
		return Decision{}, false
	}
	return d, true
}

func write(w http.ResponseWriter, d Decision) {
	// Each answer is for this caller only, and the ingress must not let a
	// shared cache keep it.
	w.Header().Set("Cache-Control", "no-store")
	if !d.Allowed() {
		httpjson.Error(w, d.Status, d.Message)
		return
	}
	w.Header().Set(UserHeader, d.User)
	httpjson.Write(w, http.StatusOK, map[string]string{"user": d.User})
}

func result(d Decision) string {
	switch d.Status {
	case http.StatusOK:
		return "allowed"
	case http.StatusNotFound:
		return "not_found"
	default:
		return "forbidden"
	}
}

// Decide says whether caller, acting with kube and streamClient (the
// caller's own clients), may use session namespace/name:
//
//  1. RBAC must allow creating the session's sessions/connect subresource
//     (asked with a SelfSubjectAccessReview), as connecting through the
//     API does. This comes first so that someone with no right in the
//     namespace learns nothing about which sessions exist there.
//  2. The session must exist (read as the caller: 404 only reaches those
//     RBAC lets read sessions there).
//  3. The owner rule: the caller is spec.user, or has the assign verb on
//     sessions in the namespace (pkg/ownership).
//
// An error is returned only when kube-apiserver could not answer; a refusal
// is a Decision.
func Decide(ctx context.Context, kube kubernetes.Interface, streamClient clientset.Interface, caller user.Info, namespace, name string) (Decision, error) {
	authz := identity.SelfAuthorizer(kube)
	sessions := streamv1alpha1.SchemeGroupVersion.WithResource("sessions")
	allowed, reason, err := authz.Authorize(ctx, authorizer.AttributesRecord{
		User: caller, Verb: "create", Namespace: namespace, Name: name, ResourceRequest: true,
		APIGroup: sessions.Group, APIVersion: sessions.Version, Resource: sessions.Resource, Subresource: "connect",
	})
	if err != nil {
		return Decision{}, err
	}
	if allowed != authorizer.DecisionAllow {
		msg := fmt.Sprintf("user %q may not use session %s/%s: RBAC does not allow create on sessions/connect (group %s) in namespace %q",
			caller.GetName(), namespace, name, stream.GroupName, namespace)
		if reason != "" {
			msg += ": " + reason
		}
		return Decision{Status: http.StatusForbidden, Message: msg}, nil
	}
	session, err := streamClient.StreamV1alpha1().Sessions(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return Decision{Status: http.StatusNotFound, Message: fmt.Sprintf("session %s/%s does not exist", namespace, name)}, nil
	case apierrors.IsForbidden(err):
		return Decision{Status: http.StatusForbidden, Message: fmt.Sprintf("user %q may not use session %s/%s: %s",
			caller.GetName(), namespace, name, err.Error())}, nil
	case err != nil:
		return Decision{}, err
	}
	err = ownership.Authorize(ctx, authz, caller, ownership.Object{
		Resource: sessions, Namespace: namespace, Name: name, Owner: session.Spec.User,
	}, "connect to")
	switch {
	case apierrors.IsForbidden(err):
		return Decision{Status: http.StatusForbidden, Message: err.Error()}, nil
	case err != nil:
		return Decision{}, err
	}
	return Decision{Status: http.StatusOK, User: caller.GetName()}, nil
}
