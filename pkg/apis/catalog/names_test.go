package catalog

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestCatalogTemplateName(t *testing.T) {
	long := func(prefix string, n int) string { return prefix + strings.Repeat("x", n-len(prefix)) }
	cases := []struct {
		name                 string
		repository, template string
		want                 string // "" = only check the rules below
		wantShortened        bool
	}{
		{name: "short", repository: "community", template: "firefox", want: "community-firefox"},
		{name: "dots in the template name", repository: "community", template: "org.gimp.gimp", want: "community-org.gimp.gimp"},
		{name: "exactly 63 characters", repository: "r", template: long("t", 61), want: "r-" + long("t", 61)},
		{name: "64 characters are shortened", repository: "r", template: long("t", 62), wantShortened: true},
		{name: "long repository", repository: long("a", 253), template: "firefox", wantShortened: true},
		{name: "cut lands on a dot", repository: "repo", template: strings.Repeat("a", 47) + "." + strings.Repeat("b", 40), wantShortened: true},
		{name: "cut lands on a dash", repository: "repo", template: strings.Repeat("a", 47) + "-" + strings.Repeat("b", 40), wantShortened: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := CatalogTemplateName(tc.repository, tc.template)
			if tc.want != "" && got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if msgs := validation.IsDNS1123Subdomain(got); len(msgs) > 0 {
				t.Errorf("%q is not a DNS subdomain: %v", got, msgs)
			}
			if msgs := validation.IsValidLabelValue(got); len(msgs) > 0 {
				t.Errorf("%q is not a label value (the install label): %v", got, msgs)
			}
			if shortened := got != tc.repository+"-"+tc.template; shortened != tc.wantShortened {
				t.Errorf("%q shortened = %v, want %v", got, shortened, tc.wantShortened)
			}
			if tc.wantShortened && !strings.HasPrefix(tc.repository+"-"+tc.template, strings.TrimRight(got[:len(got)-nameHashLength-1], "-.")) {
				t.Errorf("%q does not start with the full name", got)
			}
			if again := CatalogTemplateName(tc.repository, tc.template); again != got {
				t.Errorf("not deterministic: %q then %q", got, again)
			}
		})
	}
}

// Long names that share their first 60 characters, across one or several
// repositories, stay distinct.
func TestCatalogTemplateNameUniqueness(t *testing.T) {
	prefix := strings.Repeat("p", 60)
	seen := map[string]string{}
	for _, pair := range [][2]string{
		{"repo", prefix + "-one"}, {"repo", prefix + "-two"}, {"repo", prefix + "-three"},
		{"repo-" + prefix, "one"}, {"other", prefix + "-one"},
		{"a-b", "c"}, // "a-b-c", the same as repository "a" template "b-c": planCatalogTemplates reports it
	} {
		name := CatalogTemplateName(pair[0], pair[1])
		full := pair[0] + "-" + pair[1]
		if first, dup := seen[name]; dup && first != full {
			t.Errorf("%s and %s both named %q", first, full, name)
		}
		seen[name] = full
	}
	if CatalogTemplateName("a", "b-c") != CatalogTemplateName("a-b", "c") {
		t.Errorf("short names are the plain join; the collision across repositories is planCatalogTemplates' to report")
	}
}
