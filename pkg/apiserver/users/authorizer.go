package users

import (
	"context"
	"net/http"

	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// SelfAuthorizer lets every person read their own User, which RBAC cannot
// express (a rule would have to name each person's User). It allows get of
// users/<name>, and list and watch of users with the field selector
// metadata.name=<name>, when <name> is the caller's username; it has no
// opinion on anything else, so the delegated authorizer (RBAC) decides.
// It stands in front of the delegated authorizer, as kube-apiserver's Node
// authorizer stands in front of RBAC.
var SelfAuthorizer authorizer.Authorizer = authorizer.AuthorizerFunc(authorizeSelf)

func authorizeSelf(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if !a.IsResourceRequest() || a.GetAPIGroup() != stream.GroupName || a.GetResource() != "users" ||
		a.GetSubresource() != "" || a.GetUser() == nil || a.GetUser().GetName() == "" {
		return authorizer.DecisionNoOpinion, "", nil
	}
	me := a.GetUser().GetName()
	switch a.GetVerb() {
	case "get":
		if a.GetName() == me {
			return authorizer.DecisionAllow, "a person may read their own User", nil
		}
	case "list", "watch":
		if a.GetName() == me || selectsOnlyName(a, me) {
			return authorizer.DecisionAllow, "a person may read their own User", nil
		}
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// selectsOnlyName tells whether the request's field selector requires
// metadata.name to be name.
func selectsOnlyName(a authorizer.Attributes, name string) bool {
	reqs, err := a.GetFieldSelector()
	if err != nil {
		return false
	}
	for _, r := range reqs {
		if r.Field == "metadata.name" && (r.Operator == selection.Equals || r.Operator == selection.DoubleEquals) && r.Value == name {
			return true
		}
	}
	return false
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
