package validation

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
)

func TestValidateRepositoryURLAndAuth(t *testing.T) {
	ref := &catalog.SecretReference{Name: "catalog-token"}
	cases := []struct {
		name      string
		url       string
		auth      catalog.RepositoryAuth
		wantField string // "" = valid
		mustHide  string // never in the error
	}{
		{name: "https", url: "https://github.com/org/t.git", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeToken, SecretRef: ref}},
		{name: "public http", url: "http://git.internal/org/t.git", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeNone}},
		{name: "ssh user", url: "ssh://git@github.com/org/t.git", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeSSH, SecretRef: ref}},
		{name: "scp-like", url: "git@github.com:org/t.git", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeSSH, SecretRef: ref}},
		{name: "token as user name", url: "https://ghp_abcdefgh1234@github.com/org/t", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeNone},
			wantField: "spec.url", mustHide: "ghp_abcdefgh1234"},
		{name: "user and password", url: "https://bob:hunter2-pw@github.com/org/t", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeNone},
			wantField: "spec.url", mustHide: "hunter2-pw"},
		{name: "user name over https", url: "https://bob@github.com/org/t", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeNone}, wantField: "spec.url"},
		{name: "ssh password", url: "ssh://git:hunter2-pw@github.com/org/t", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeSSH, SecretRef: ref},
			wantField: "spec.url", mustHide: "hunter2-pw"},
		{name: "token in a bad URL", url: "https://ghp_abcdefgh1234@github.com/%zz", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeNone},
			wantField: "spec.url", mustHide: "ghp_abcdefgh1234"},
		{name: "token in the query of a URL with a space", url: "https://github.com/org/t?access_token=ghp_abcdefgh1234 x", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeNone},
			wantField: "spec.url", mustHide: "ghp_abcdefgh1234"},
		{name: "token in the query", url: "https://github.com/org/t.git?private_token=glpat-abcdefgh", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeNone},
			wantField: "spec.url", mustHide: "glpat-abcdefgh"},
		{name: "fragment", url: "https://github.com/org/t.git#glpat-abcdefgh", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeNone},
			wantField: "spec.url", mustHide: "glpat-abcdefgh"},
		{name: "token over http", url: "http://git.internal/org/t.git", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeToken, SecretRef: ref}, wantField: "spec.url"},
		{name: "basic over http", url: "http://git.internal/org/t.git", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeBasic, SecretRef: ref}, wantField: "spec.url"},
		{name: "token over ssh", url: "ssh://git@github.com/org/t.git", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeToken, SecretRef: ref}, wantField: "spec.auth.type"},
		{name: "ssh key over https", url: "https://github.com/org/t.git", auth: catalog.RepositoryAuth{Type: catalog.AuthTypeSSH, SecretRef: ref}, wantField: "spec.auth.type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := &catalog.TemplateRepositorySpec{URL: tc.url, Branch: "main", Auth: tc.auth}
			errs := validateRepositorySpec(spec, field.NewPath("spec"))
			if tc.wantField == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if len(errs) == 0 {
				t.Fatalf("no error, want one on %s", tc.wantField)
			}
			found := false
			for _, e := range errs {
				if e.Field == tc.wantField {
					found = true
				}
			}
			if !found {
				t.Errorf("errors %v, want one on %s", errs, tc.wantField)
			}
			if tc.mustHide != "" && strings.Contains(errs.ToAggregate().Error(), tc.mustHide) {
				t.Errorf("error echoes the secret: %v", errs)
			}
		})
	}
}
