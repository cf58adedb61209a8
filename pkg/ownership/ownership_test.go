package ownership

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// The rule as the connect and heartbeat subresources apply it.
func TestAuthorize(t *testing.T) {
	authz := authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if a.GetUser().GetName() == "admin" && a.GetVerb() == stream.AssignVerb && a.GetNamespace() == "shared" && a.IsResourceRequest() {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "no RBAC policy matched", nil
	})
	for _, c := range []struct {
		resource, action, caller string
		allowed                  bool
	}{
		{"sessions", "connect to", "alice", true},
		{"sessions", "connect to", "bob", false},
		{"sessions", "connect to", "admin", true},
		{"connections", "send heartbeats for", "alice", true},
		{"connections", "send heartbeats for", "bob", false},
		{"connections", "send heartbeats for", "admin", true},
		{"connections", "send heartbeats for", "", false},
	} {
		t.Run(c.resource+"/"+c.caller, func(t *testing.T) {
			var caller user.Info
			if c.caller != "" {
				caller = &user.DefaultInfo{Name: c.caller}
			}
			o := Object{Resource: streamv1alpha1.SchemeGroupVersion.WithResource(c.resource), Namespace: "shared", Name: "desk", Owner: "alice"}
			err := Authorize(context.Background(), authz, caller, o, c.action)
			if c.allowed {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !apierrors.IsForbidden(err) {
				t.Fatalf("got %v, want 403", err)
			}
			want := c.resource + ` "desk" belongs to user "alice": `
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "may not "+c.action+` it (that needs the "assign" verb on `+c.resource+".stream.space)") {
				t.Errorf("message %q does not state the owner rule", err)
			}
		})
	}
	// The owner herself needs assign to hand the object to someone else.
	o := Object{Resource: streamv1alpha1.SchemeGroupVersion.WithResource("sessions"), Namespace: "shared", Name: "desk", Owner: "alice"}
	if err := RequireAssign(context.Background(), authz, &user.DefaultInfo{Name: "alice"}, o, "reassign"); !apierrors.IsForbidden(err) {
		t.Errorf("alice reassigning: %v, want 403", err)
	}
}
