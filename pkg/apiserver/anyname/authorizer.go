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
// Questions asked at the same moment are asked once: while one unnamed
// question is on its way to kube-apiserver, the same question from other
// requests waits for its answer instead of sending its own. Without that,
// an expired cache entry under load sent one review per waiting request
// (a person's fifty viewers beating, say), and when kube-apiserver was slow
// to answer, the reviews that timed out were not cached, so every heartbeat
// sent another: the reviews themselves became most of kube-apiserver's load.
//
// The one difference is for an authorizer in kube-apiserver's chain that
// denies a name while allowing the kind unnamed (a deny-capable webhook
// keyed on names): such a denial would not be seen here. Requests through
// the aggregator were already authorized by kube-apiserver with their name
// before they were proxied, so there it still applies.
package anyname

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/sync/singleflight"

	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// NewAuthorizer wraps delegate as the package comment describes.
func NewAuthorizer(delegate authorizer.Authorizer) authorizer.Authorizer {
	var inFlight singleflight.Group
	return authorizer.AuthorizerFunc(func(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if !a.IsResourceRequest() || a.GetName() == "" {
			return delegate.Authorize(ctx, a)
		}
		u := unnamed(a)
		key, err := questionKey(u)
		if err != nil {
			return delegate.Authorize(ctx, a)
		}
		// The shared question runs without the first caller's deadline, so
		// that its cancellation does not fail the others; the delegate
		// bounds it with its own timeout.
		ch := inFlight.DoChan(key, func() (any, error) {
			decision, reason, err := delegate.Authorize(context.WithoutCancel(ctx), u)
			return answer{decision, reason}, err
		})
		select {
		case r := <-ch:
			if ans := r.Val.(answer); ans.decision == authorizer.DecisionAllow && r.Err == nil {
				return ans.decision, ans.reason, nil
			}
		case <-ctx.Done():
			return authorizer.DecisionNoOpinion, "", ctx.Err()
		}
		return delegate.Authorize(ctx, a)
	})
}

type answer struct {
	decision authorizer.Decision
	reason   string
}

// questionKey identifies an unnamed question: everything the delegate's
// SubjectAccessReview would carry (the caller's name, uid, groups and
// extra, and the request's attributes).
func questionKey(a authorizer.Attributes) (string, error) {
	u := a.GetUser()
	if u == nil {
		return "", errors.New("no user")
	}
	fields, _ := a.GetFieldSelector()
	labels, _ := a.GetLabelSelector()
	b, err := json.Marshal([]any{u.GetName(), u.GetUID(), u.GetGroups(), u.GetExtra(), a.GetVerb(), a.GetNamespace(),
		a.GetAPIGroup(), a.GetAPIVersion(), a.GetResource(), a.GetSubresource(), fmt.Sprint(fields), fmt.Sprint(labels)})
	return string(b), err
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
