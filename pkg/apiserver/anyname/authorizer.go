// Package anyname puts a question in front of the delegated authorizer that
// its cache can answer: may the caller do this to any object of the kind?
//
// The delegated authorizer asks kube-apiserver with a SubjectAccessReview
// and caches the answer by the review's whole spec, the object's name
// included, in an LRU of 8,192 entries for 10 seconds
// (k8s.io/apiserver/plugin/pkg/authorizer/webhook). A request naming an
// object it has not seen in the last 10 seconds is a round trip to
// kube-apiserver. Heartbeats are exactly that: every viewer's Connection has
// its own name and beats every 30 seconds, so each heartbeat missed the cache
// and cost a SubjectAccessReview, and so did every controller's update of a
// Session's status.
//
// Rules that grant a verb on a kind without naming objects (the usual RBAC
// rule: "alice may create connections/heartbeat in namespace alice") allow
// the request for every name. So a request that names an object is first
// asked without the name; the answer is shared by every object of that kind
// in that namespace for that caller and verb, and stays in the cache. Only
// when that answer is not "allow" (the caller holds a rule restricted with
// resourceNames, or none) is the request asked again with its name, as
// before, so every decision RBAC makes is unchanged.
//
// The one difference is for an authorizer in kube-apiserver's chain that
// denies a name while allowing the kind unnamed (a deny-capable webhook
// keyed on names): such a denial would not be seen here. Requests through
// the aggregator were already authorized by kube-apiserver with their name
// before they were proxied, so there it still applies.
package anyname

import (
	"context"

	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// NewAuthorizer wraps delegate as the package comment describes.
func NewAuthorizer(delegate authorizer.Authorizer) authorizer.Authorizer {
	return authorizer.AuthorizerFunc(func(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if !a.IsResourceRequest() || a.GetName() == "" {
			return delegate.Authorize(ctx, a)
		}
		if decision, reason, err := delegate.Authorize(ctx, unnamed(a)); decision == authorizer.DecisionAllow && err == nil {
			return decision, reason, nil
		}
		return delegate.Authorize(ctx, a)
	})
}

// unnamed is a with no object name.
func unnamed(a authorizer.Attributes) authorizer.Attributes {
	fieldReqs, fieldErr := a.GetFieldSelector()
	labelReqs, labelErr := a.GetLabelSelector()
	return authorizer.AttributesRecord{
		User:                      a.GetUser(),
		Verb:                      a.GetVerb(),
		Namespace:                 a.GetNamespace(),
		APIGroup:                  a.GetAPIGroup(),
		APIVersion:                a.GetAPIVersion(),
		Resource:                  a.GetResource(),
		Subresource:               a.GetSubresource(),
		ResourceRequest:           true,
		Path:                      a.GetPath(),
		FieldSelectorRequirements: fieldReqs,
		FieldSelectorParsingErr:   fieldErr,
		LabelSelectorRequirements: labelReqs,
		LabelSelectorParsingErr:   labelErr,
	}
}
