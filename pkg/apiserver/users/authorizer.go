package users

import (
	"context"
	"net/http"

	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// NewAuthorizer puts the rule that each person may read their own User,
// which RBAC cannot express (a rule would have to name each person's User),
// in front of the delegated authorizer, as kube-apiserver's Node authorizer
// stands in front of RBAC.
//
// kube-apiserver authorizes every request before it proxies it here, so its
// RBAC must let every authenticated caller "get" users (the ClusterRole
// streamspace-user-self of artifacts/rbac); this server then decides which
// User: get of users/<name> is allowed when <name> is the caller's username,
// and reading anyone else's needs "list" on users (administrators), which
// the delegated authorizer answers. Every other request is the delegated
// authorizer's alone.
func NewAuthorizer(delegate authorizer.Authorizer) authorizer.Authorizer {
	return authorizer.AuthorizerFunc(func(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if !a.IsResourceRequest() || a.GetAPIGroup() != stream.GroupName || a.GetResource() != "users" ||
			a.GetSubresource() != "" || a.GetVerb() != "get" || a.GetUser() == nil {
			return delegate.Authorize(ctx, a)
		}
		if me := a.GetUser().GetName(); me != "" && a.GetName() == me {
			return authorizer.DecisionAllow, "a person may read their own User", nil
		}
		decision, reason, err := delegate.Authorize(ctx, authorizer.AttributesRecord{
			User:            a.GetUser(),
			Verb:            "list",
			APIGroup:        a.GetAPIGroup(),
			APIVersion:      a.GetAPIVersion(),
			Resource:        "users",
			ResourceRequest: true,
			Path:            a.GetPath(),
		})
		if decision == authorizer.DecisionAllow {
			return decision, reason, err
		}
		return authorizer.DecisionDeny, "reading another person's User needs list on users.stream.space", err
	})
}

// WithRecording records the caller of every request that reaches handler
// (authenticated and authorized) with the recorder, without waiting for it.
func WithRecording(handler http.Handler, r *Recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, ok := request.UserFrom(req.Context()); ok {
			r.Observe(req.Context(), u)
		}
		handler.ServeHTTP(w, req)
	})
}
