package repositorycredentials

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

	"github.com/streamspace/controlplane/pkg/apis/catalog"
)

// secretReaders allows "get secrets" for user → namespace/name.
func secretReaders(allowed map[string][]string, asked *[]string) authorizer.Authorizer {
	return authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		key := a.GetNamespace() + "/" + a.GetName()
		*asked = append(*asked, a.GetUser().GetName()+" "+a.GetVerb()+" "+a.GetResource()+" "+key)
		if a.GetVerb() == "get" && a.GetResource() == "secrets" && a.GetAPIGroup() == "" {
			for _, k := range allowed[a.GetUser().GetName()] {
				if k == key {
					return authorizer.DecisionAllow, "", nil
				}
			}
		}
		return authorizer.DecisionNoOpinion, "no RBAC policy matched", nil
	})
}

func repository(url, secretNamespace, secret string) *catalog.TemplateRepository {
	r := &catalog.TemplateRepository{ObjectMeta: metav1.ObjectMeta{Name: "community"}, Spec: catalog.TemplateRepositorySpec{URL: url, Branch: "main"}}
	if secret != "" {
		r.Spec.Auth = catalog.RepositoryAuth{Type: catalog.AuthTypeToken, SecretRef: &catalog.SecretReference{Name: secret, Namespace: secretNamespace}}
	} else {
		r.Spec.Auth.Type = catalog.AuthTypeNone
	}
	return r
}

func TestValidate(t *testing.T) {
	const url, otherURL = "https://git.example.org/t.git", "https://attacker.example/t.git"
	cases := []struct {
		name      string
		op        admission.Operation
		user      string
		obj, old  *catalog.TemplateRepository
		sub       string
		wantDeny  bool
		wantAsked bool
	}{
		{name: "create, may get the secret", op: admission.Create, user: "admin", obj: repository(url, "", "token"), wantAsked: true},
		{name: "create, may not get the secret", op: admission.Create, user: "dave", obj: repository(url, "", "token"), wantDeny: true, wantAsked: true},
		{name: "create, secret in another namespace", op: admission.Create, user: "admin", obj: repository(url, "team", "token"), wantDeny: true, wantAsked: true},
		{name: "create without auth", op: admission.Create, user: "dave", obj: repository(url, "", "")},
		{name: "update of the url", op: admission.Update, user: "dave", obj: repository(otherURL, "", "token"), old: repository(url, "", "token"), wantDeny: true, wantAsked: true},
		{name: "update of the secretRef", op: admission.Update, user: "dave", obj: repository(url, "", "other"), old: repository(url, "", "token"), wantDeny: true, wantAsked: true},
		{name: "update adding auth", op: admission.Update, user: "dave", obj: repository(url, "", "token"), old: repository(url, "", ""), wantDeny: true, wantAsked: true},
		{name: "update leaving url and secret alone", op: admission.Update, user: "dave", obj: repository(url, "", "token"), old: repository(url, "", "token")},
		{name: "status update", op: admission.Update, user: "dave", sub: "status", obj: repository(otherURL, "", "token"), old: repository(url, "", "token")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			p := &Plugin{
				Handler:         admission.NewHandler(admission.Create, admission.Update),
				authorizer:      secretReaders(map[string][]string{"admin": {"streamspace-system/token", "streamspace-system/other"}}, &asked),
				secretNamespace: catalog.DefaultCredentialsNamespace,
			}
			var old runtime.Object
			if tc.old != nil {
				old = tc.old
			}
			attrs := admission.NewAttributesRecord(tc.obj, old, catalog.Kind("TemplateRepository").WithVersion("v1alpha1"), "", tc.obj.Name,
				catalog.Resource("templaterepositories").WithVersion("v1alpha1"), tc.sub, tc.op, nil, false, &user.DefaultInfo{Name: tc.user})
			err := p.Validate(context.Background(), attrs, nil)
			if tc.wantDeny {
				if !apierrors.IsForbidden(err) {
					t.Fatalf("error %v, want 403", err)
				}
				ns := tc.obj.Spec.Auth.SecretRef.Namespace
				if ns == "" {
					ns = "streamspace-system"
				}
				if want := ns + "/" + tc.obj.Spec.Auth.SecretRef.Name; !strings.Contains(err.Error(), want) {
					t.Errorf("message %q does not name the secret %s", err, want)
				}
			} else if err != nil {
				t.Fatalf("error %v, want none", err)
			}
			if (len(asked) > 0) != tc.wantAsked {
				t.Errorf("authorizer asked %q, want asked=%v", asked, tc.wantAsked)
			}
			for _, q := range asked {
				if !strings.HasPrefix(q, tc.user+" get secrets ") {
					t.Errorf("asked %q, want a get on secrets for %s", q, tc.user)
				}
			}
		})
	}
}
