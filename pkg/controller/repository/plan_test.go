package repository

import (
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/gitcatalog"
)

func testRepository(name, path string) *catalogv1alpha1.TemplateRepository {
	return &catalogv1alpha1.TemplateRepository{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name + "-uid"), Generation: 1},
		Spec:       catalogv1alpha1.TemplateRepositorySpec{URL: "https://git.example.org/" + name + ".git", Branch: "main", Path: path},
	}
}

func parsedTemplate(name, image string) gitcatalog.Template {
	return gitcatalog.Template{
		Name: name, Path: "apps/" + name + ".yaml", Category: "Web Browsers", CategorySlug: "web-browsers", TagSlugs: []string{"web"},
		Spec: streamv1alpha1.TemplateSpec{DisplayName: name, BaseImage: image, AppType: streamv1alpha1.AppTypeDesktop,
			VNC: &streamv1alpha1.VNCConfig{Enabled: true, Port: 3000, Protocol: "websocket"}},
	}
}

// stored is what the sync wrote for t, as read back (with a resourceVersion).
func stored(repo *catalogv1alpha1.TemplateRepository, t gitcatalog.Template) *catalogv1alpha1.CatalogTemplate {
	ct := desiredCatalogTemplate(repo, t)
	ct.ResourceVersion, ct.UID = "41", types.UID("uid-"+ct.Name)
	return ct
}

func names(cts []*catalogv1alpha1.CatalogTemplate) string {
	var out []string
	for _, ct := range cts {
		out = append(out, ct.Name)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func TestPlanCatalogTemplates(t *testing.T) {
	repo := testRepository("community", "")
	other := testRepository("a", "")
	firefox, chrome, gimp := parsedTemplate("firefox", "firefox:1"), parsedTemplate("chrome", "chrome:1"), parsedTemplate("gimp", "gimp:1")

	editedByHand := stored(repo, firefox)
	editedByHand.Spec.Template.BaseImage = "evil:1"
	olderVersion := stored(repo, firefox) // written before the content hash existed
	olderVersion.Annotations = nil
	labelEdited := stored(repo, firefox)
	labelEdited.Labels = map[string]string{catalog.CategoryLabel: "games"}

	cases := []struct {
		name          string
		repo          *catalogv1alpha1.TemplateRepository
		parsed        gitcatalog.Result
		existing      []*catalogv1alpha1.CatalogTemplate
		wantCreate    string
		wantUpdate    string
		wantRemove    string
		wantTemplates int
		wantErrors    []string // "path: reason substring"
		wantSkipped   []string
	}{
		{
			name:          "first sync creates everything",
			repo:          repo,
			parsed:        gitcatalog.Result{Templates: []gitcatalog.Template{chrome, firefox, gimp}},
			wantCreate:    "community-chrome,community-firefox,community-gimp",
			wantTemplates: 3,
		},
		{
			name:          "nothing differs: nothing written",
			repo:          repo,
			parsed:        gitcatalog.Result{Templates: []gitcatalog.Template{chrome, firefox}},
			existing:      []*catalogv1alpha1.CatalogTemplate{stored(repo, chrome), stored(repo, firefox)},
			wantTemplates: 2,
		},
		{
			name:          "a changed template is updated, the others are not",
			repo:          repo,
			parsed:        gitcatalog.Result{Templates: []gitcatalog.Template{chrome, parsedTemplate("firefox", "firefox:2")}},
			existing:      []*catalogv1alpha1.CatalogTemplate{stored(repo, chrome), stored(repo, firefox)},
			wantUpdate:    "community-firefox",
			wantTemplates: 2,
		},
		{
			name:          "edited by hand (spec, labels) or written without the hash: updated",
			repo:          repo,
			parsed:        gitcatalog.Result{Templates: []gitcatalog.Template{firefox}},
			existing:      []*catalogv1alpha1.CatalogTemplate{editedByHand},
			wantUpdate:    "community-firefox",
			wantTemplates: 1,
		},
		{
			name:          "written by an older version",
			repo:          repo,
			parsed:        gitcatalog.Result{Templates: []gitcatalog.Template{firefox}},
			existing:      []*catalogv1alpha1.CatalogTemplate{olderVersion},
			wantUpdate:    "community-firefox",
			wantTemplates: 1,
		},
		{
			name:          "labels edited by hand",
			repo:          repo,
			parsed:        gitcatalog.Result{Templates: []gitcatalog.Template{firefox}},
			existing:      []*catalogv1alpha1.CatalogTemplate{labelEdited},
			wantUpdate:    "community-firefox",
			wantTemplates: 1,
		},
		{
			name:          "a template gone from the repository is pruned; other repositories' are not",
			repo:          repo,
			parsed:        gitcatalog.Result{Templates: []gitcatalog.Template{firefox}},
			existing:      []*catalogv1alpha1.CatalogTemplate{stored(repo, firefox), stored(repo, gimp), stored(other, gimp)},
			wantRemove:    "community-gimp",
			wantTemplates: 1,
		},
		{
			name:          "an empty catalog prunes everything of the repository",
			repo:          repo,
			existing:      []*catalogv1alpha1.CatalogTemplate{stored(repo, firefox), stored(repo, gimp)},
			wantRemove:    "community-firefox,community-gimp",
			wantTemplates: 0,
		},
		{
			name:          `a name another repository owns ("a"+"b-c" vs "a-b"+"c") is reported, not taken`,
			repo:          testRepository("a-b", ""),
			parsed:        gitcatalog.Result{Templates: []gitcatalog.Template{parsedTemplate("c", "c:1"), firefox}},
			existing:      []*catalogv1alpha1.CatalogTemplate{stored(other, parsedTemplate("b-c", "bc:1"))},
			wantCreate:    "a-b-firefox",
			wantTemplates: 1,
			wantErrors:    []string{`apps/c.yaml: catalog template name "a-b-c" is already used by repository "a"`},
		},
		{
			name: "file errors and skipped documents keep their reasons, with spec.path in front",
			repo: testRepository("community", "templates"),
			parsed: gitcatalog.Result{
				Templates: []gitcatalog.Template{firefox},
				Errors:    []gitcatalog.FileError{{Path: "z/bad.yaml", Reason: "spec.baseImage: Required value"}, {Path: "b/dup.yaml", Reason: "duplicate template name"}},
				Skipped:   []gitcatalog.FileError{{Path: "catalog.yaml", Reason: "kind TemplateCatalog is not a Template"}},
			},
			wantCreate:    "community-firefox",
			wantTemplates: 1,
			wantErrors:    []string{"templates/b/dup.yaml: duplicate template name", "templates/z/bad.yaml: spec.baseImage: Required value"},
			wantSkipped:   []string{"templates/catalog.yaml: kind TemplateCatalog is not a Template"},
		},
		{
			name: "long names sharing a prefix stay apart",
			repo: repo,
			parsed: gitcatalog.Result{Templates: []gitcatalog.Template{
				parsedTemplate(strings.Repeat("x", 60)+"-one", "one:1"), parsedTemplate(strings.Repeat("x", 60)+"-two", "two:1"),
			}},
			wantCreate: sortedNames(catalog.CatalogTemplateName("community", strings.Repeat("x", 60)+"-one"),
				catalog.CatalogTemplateName("community", strings.Repeat("x", 60)+"-two")),
			wantTemplates: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := planCatalogTemplates(tc.repo, tc.parsed, tc.existing)
			if got := names(plan.create); got != tc.wantCreate {
				t.Errorf("create %q, want %q", got, tc.wantCreate)
			}
			if got := names(plan.update); got != tc.wantUpdate {
				t.Errorf("update %q, want %q", got, tc.wantUpdate)
			}
			if got := names(plan.remove); got != tc.wantRemove {
				t.Errorf("remove %q, want %q", got, tc.wantRemove)
			}
			if plan.templates != tc.wantTemplates {
				t.Errorf("templates %d, want %d", plan.templates, tc.wantTemplates)
			}
			checkFiles(t, "fileErrors", plan.fileErrors, tc.wantErrors)
			checkFiles(t, "skipped", plan.skipped, tc.wantSkipped)
			for _, u := range plan.update {
				if u.ResourceVersion != "41" || !upToDate(u, desiredCatalogTemplate(tc.repo, templateOf(tc.parsed, u.Name, tc.repo))) {
					t.Errorf("update of %s: resourceVersion %q, or not the desired content", u.Name, u.ResourceVersion)
				}
			}
			for _, c := range plan.create {
				if c.Annotations[catalog.ContentHashAnnotation] != contentHash(c) || c.Spec.Repository != tc.repo.Name ||
					len(c.OwnerReferences) != 1 || c.OwnerReferences[0].UID != tc.repo.UID {
					t.Errorf("create of %s: annotations %v, repository %q, owners %+v", c.Name, c.Annotations, c.Spec.Repository, c.OwnerReferences)
				}
			}
		})
	}
}

func sortedNames(n ...string) string {
	sort.Strings(n)
	return strings.Join(n, ",")
}

func templateOf(parsed gitcatalog.Result, name string, repo *catalogv1alpha1.TemplateRepository) gitcatalog.Template {
	for _, t := range parsed.Templates {
		if catalog.CatalogTemplateName(repo.Name, t.Name) == name {
			return t
		}
	}
	return gitcatalog.Template{}
}

func checkFiles(t *testing.T, what string, got []catalogv1alpha1.FileError, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s %+v, want %v", what, got, want)
		return
	}
	for i, w := range want {
		if !strings.HasPrefix(w, got[i].Path+": ") || !strings.Contains(got[i].Reason, strings.TrimPrefix(w, got[i].Path+": ")) {
			t.Errorf("%s[%d] = %+v, want %q", what, i, got[i], w)
		}
	}
}

func TestDesiredCatalogTemplateLabels(t *testing.T) {
	ct := desiredCatalogTemplate(testRepository("community", ""), parsedTemplate("firefox", "firefox:1"))
	want := map[string]string{catalog.RepositoryLabel: "community", catalog.CategoryLabel: "web-browsers", catalog.TagLabelPrefix + "web": ""}
	if len(ct.Labels) != len(want) {
		t.Fatalf("labels %v, want %v", ct.Labels, want)
	}
	for k, v := range want {
		if got, ok := ct.Labels[k]; !ok || got != v {
			t.Errorf("label %s = %q (%v), want %q", k, got, ok, v)
		}
	}
	longRepo := strings.Repeat("r", 70)
	if _, ok := desiredCatalogTemplate(testRepository(longRepo, ""), parsedTemplate("x", "x:1")).Labels[catalog.RepositoryLabel]; ok {
		t.Errorf("a repository name longer than a label value was put in a label")
	}
}
