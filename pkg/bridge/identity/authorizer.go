package identity

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes"
)

// SelfAuthorizer answers authorization questions about the holder of kube's
// credentials with SelfSubjectAccessReviews made with those credentials
// (every authenticated user may make one), so the bridge needs no right to
// ask about others. The User of the attributes is ignored: the answer is
// always about the caller, which is the only user the bridge asks about.
// It lets the bridge reuse code written against authorizer.Authorizer, such
// as pkg/ownership.
func SelfAuthorizer(kube kubernetes.Interface) authorizer.Authorizer {
	return authorizer.AuthorizerFunc(func(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
		return selfReview(ctx, kube, attrs)
	})
}

func selfReview(ctx context.Context, kube kubernetes.Interface, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	review := &authorizationv1.SelfSubjectAccessReview{}
	if attrs.IsResourceRequest() {
		review.Spec.ResourceAttributes = &authorizationv1.ResourceAttributes{
			Namespace:   attrs.GetNamespace(),
			Verb:        attrs.GetVerb(),
			Group:       attrs.GetAPIGroup(),
			Version:     attrs.GetAPIVersion(),
			Resource:    attrs.GetResource(),
			Subresource: attrs.GetSubresource(),
			Name:        attrs.GetName(),
		}
	} else {
		review.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: attrs.GetPath(), Verb: attrs.GetVerb()}
	}
	answer, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return authorizer.DecisionNoOpinion, "", fmt.Errorf("SelfSubjectAccessReview: %w", err)
	}
	switch {
	case answer.Status.Allowed:
		return authorizer.DecisionAllow, answer.Status.Reason, nil
	case answer.Status.Denied:
		return authorizer.DecisionDeny, answer.Status.Reason, nil
	}
	if answer.Status.EvaluationError != "" {
		return authorizer.DecisionNoOpinion, answer.Status.Reason, fmt.Errorf("%s", answer.Status.EvaluationError)
	}
	return authorizer.DecisionNoOpinion, answer.Status.Reason, nil
}

// UserInfo is the caller as a user.Info: its name only, which is all the
// owner rule compares (groups and the rest are kube-apiserver's to know and
// are taken into account by SelfAuthorizer's reviews).
func (c *Caller) UserInfo() user.Info { return &user.DefaultInfo{Name: c.username} }
