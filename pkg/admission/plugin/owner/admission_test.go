package owner

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

const (
	namespace  = "shared"
	controller = "system:serviceaccount:streamspace-system:streamspace-controller"
)

// assigners: carol may assign in the shared namespace only, the controller
// everywhere; alice and bob nowhere.
func assigners() authorizer.Authorizer {
	return authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if a.GetVerb() != stream.AssignVerb || a.GetAPIGroup() != stream.GroupName || a.GetSubresource() != "" {
			return authorizer.DecisionNoOpinion, "not an assign", nil
		}
		switch {
		case a.GetUser().GetName() == controller,
			a.GetUser().GetName() == "carol" && a.GetNamespace() == namespace:
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "no RBAC policy matched", nil
	})
}

func newPlugin(t *testing.T) *Plugin {
	t.Helper()
	p := New()
	p.SetAuthorizer(assigners())
	if err := p.ValidateInitialization(); err != nil {
		t.Fatal(err)
	}
	return p
}

func session(ns, userName string) *stream.Session {
	return &stream.Session{ObjectMeta: metav1.ObjectMeta{Name: "desk", Namespace: ns}, Spec: stream.SessionSpec{User: userName, Template: "firefox"}}
}

func connection(ns, userName string) *stream.Connection {
	return &stream.Connection{ObjectMeta: metav1.ObjectMeta{Name: "desk-x1", Namespace: ns}, Spec: stream.ConnectionSpec{User: userName, Session: "desk"}}
}

type request struct {
	op          admission.Operation
	resource    string
	subresource string
	name        string
	obj, old    runtime.Object
	options     runtime.Object
}

func (r request) attributes(ns, caller string) admission.Attributes {
	var info user.Info
	if caller != "" {
		info = &user.DefaultInfo{Name: caller}
	}
	return admission.NewAttributesRecord(r.obj, r.old, stream.Kind("Session").WithVersion("v1alpha1"), ns, r.name,
		streamv1alpha1.SchemeGroupVersion.WithResource(r.resource), r.subresource, r.op, r.options, false, info)
}

func update(resource string, old runtime.Object, change func(runtime.Object)) request {
	obj := old.DeepCopyObject()
	if change != nil {
		change(obj)
	}
	return request{op: admission.Update, resource: resource, name: "desk", obj: obj, old: old, options: &metav1.UpdateOptions{}}
}

func TestValidateOwnerRule(t *testing.T) {
	hibernate := func(o runtime.Object) { o.(*stream.Session).Spec.State = stream.SessionStateHibernated }
	requests := map[string]func(ns string) request{
		"update session": func(ns string) request { return update("sessions", session(ns, "alice"), hibernate) },
		"patch session (an update with patch options)": func(ns string) request {
			r := update("sessions", session(ns, "alice"), hibernate)
			r.options = &metav1.PatchOptions{}
			return r
		},
		"update session status": func(ns string) request {
			r := update("sessions", session(ns, "alice"), func(o runtime.Object) { o.(*stream.Session).Status.Phase = stream.SessionPhaseRunning })
			r.subresource = "status"
			return r
		},
		"update connection": func(ns string) request {
			return update("connections", connection(ns, "alice"), func(o runtime.Object) { o.(*stream.Connection).Labels = map[string]string{"a": "b"} })
		},
		"update connection status": func(ns string) request {
			r := update("connections", connection(ns, "alice"), func(o runtime.Object) { o.(*stream.Connection).Status.State = stream.ConnectionStateActive })
			r.subresource = "status"
			return r
		},
		"delete session": func(ns string) request {
			return request{op: admission.Delete, resource: "sessions", name: "desk", old: session(ns, "alice"), options: &metav1.DeleteOptions{}}
		},
		"delete connection": func(ns string) request {
			return request{op: admission.Delete, resource: "connections", name: "desk-x1", old: connection(ns, "alice"), options: &metav1.DeleteOptions{}}
		},
		"deletecollection item (no name in the attributes)": func(ns string) request {
			return request{op: admission.Delete, resource: "sessions", old: session(ns, "alice"), options: &metav1.DeleteOptions{}}
		},
	}
	callers := []struct {
		name, caller, namespace string
		allowed                 bool
	}{
		{"owner", "alice", namespace, true},
		{"other user", "bob", namespace, false},
		{"other user with assign", "carol", namespace, true},
		{"other user with assign elsewhere only", "carol", "elsewhere", false},
		{"controller service account", controller, namespace, true},
		{"anonymous", "", namespace, false},
	}
	for reqName, build := range requests {
		for _, c := range callers {
			t.Run(reqName+"/"+c.name, func(t *testing.T) {
				r := build(c.namespace)
				err := newPlugin(t).Validate(context.Background(), r.attributes(c.namespace, c.caller), nil)
				if c.allowed {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				if !apierrors.IsForbidden(err) {
					t.Fatalf("got %v, want 403", err)
				}
				for _, want := range []string{`belongs to user "alice"`, `"assign" verb on ` + r.resource + ".stream.space", `"desk`} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("message %q does not say %q", err.Error(), want)
					}
				}
			})
		}
	}
}

func TestValidateSpecUserChangeIsAnAssign(t *testing.T) {
	giveToBob := func(o runtime.Object) { o.(*stream.Session).Spec.User = "bob" }
	for _, c := range []struct {
		caller  string
		allowed bool
	}{{"alice", false}, {"bob", false}, {"carol", true}, {controller, true}} {
		t.Run(c.caller, func(t *testing.T) {
			r := update("sessions", session(namespace, "alice"), giveToBob)
			err := newPlugin(t).Validate(context.Background(), r.attributes(namespace, c.caller), nil)
			if c.allowed != (err == nil) || (err != nil && !apierrors.IsForbidden(err)) {
				t.Fatalf("got %v, want allowed=%v or 403", err, c.allowed)
			}
			// The owner is refused the change itself; another user, the update.
			if c.caller == "alice" && !strings.Contains(err.Error(), `alice may not set spec.user to "bob" in it`) {
				t.Errorf("message %q does not name the change", err)
			}
		})
	}
}

func TestCreate(t *testing.T) {
	p := newPlugin(t)
	ctx := context.Background()
	create := func(obj runtime.Object, caller string) admission.Attributes {
		return request{op: admission.Create, resource: "sessions", name: "desk", obj: obj, options: &metav1.CreateOptions{}}.attributes(namespace, caller)
	}

	// An empty spec.user becomes the caller.
	s := session(namespace, "")
	if err := p.Admit(ctx, create(s, "bob"), nil); err != nil || s.Spec.User != "bob" {
		t.Fatalf("Admit: %v, spec.user %q, want bob", err, s.Spec.User)
	}
	if err := p.Validate(ctx, create(s, "bob"), nil); err != nil {
		t.Errorf("bob creating his own session: %v", err)
	}
	// Naming another user is an assign.
	if err := p.Validate(ctx, create(session(namespace, "alice"), "bob"), nil); !apierrors.IsForbidden(err) {
		t.Errorf("bob creating alice's session: %v, want 403", err)
	}
	if err := p.Validate(ctx, create(session(namespace, "alice"), "carol"), nil); err != nil {
		t.Errorf("carol (assign) creating alice's session: %v", err)
	}
}

// The connect and heartbeat subresources are creates whose body is a
// request: admission passes them, their handlers apply the owner rule
// (pkg/registry/stream/...); Admit does nothing on a DELETE, which mutating
// admission sees without objects.
func TestPassesSubresourceCreatesAndObjectlessDeletes(t *testing.T) {
	p := newPlugin(t)
	ctx := context.Background()
	for _, r := range []request{
		{op: admission.Create, resource: "sessions", subresource: "connect", name: "desk", obj: &stream.SessionConnectRequest{}, options: &metav1.CreateOptions{}},
		{op: admission.Create, resource: "connections", subresource: "heartbeat", name: "desk-x1", obj: &stream.ConnectionHeartbeat{}, options: &metav1.CreateOptions{}},
		{op: admission.Delete, resource: "sessions", name: "desk", options: &metav1.DeleteOptions{}},
	} {
		a := r.attributes(namespace, "bob")
		if err := p.Admit(ctx, a, nil); err != nil {
			t.Errorf("Admit %s %s/%s: %v", r.op, r.resource, r.subresource, err)
		}
		if err := p.Validate(ctx, a, nil); err != nil {
			t.Errorf("Validate %s %s/%s: %v", r.op, r.resource, r.subresource, err)
		}
	}
}
