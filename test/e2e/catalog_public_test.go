package e2e

import (
	"context"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/internal/gittest"
	"github.com/streamspace/controlplane/pkg/apis/catalog"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// TestCatalogPublicStyle is the check: a public-style catalog that
// no other test has seen (a new seed on every run, from a generator of its
// own) syncs; every valid template appears as a CatalogTemplate with its
// category and app type; each invalid file and each skipped document is
// named in status with its reason; alice installs one and a session starts
// from it. Set STREAMSPACE_CATALOG_SEED to replay a run.
func TestCatalogPublicStyle(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STREAMSPACE_CATALOG_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("STREAMSPACE_CATALOG_SEED: %v", err)
		}
	}
	t.Logf("catalog seed %d (STREAMSPACE_CATALOG_SEED=%d replays it)", seed, seed)
	generated := gittest.GeneratePublicCatalog(seed)

	ss, _ := clients(t, "admin")
	aliceSS, _ := clients(t, "alice")
	ctx := context.Background()
	git := gittest.Start(t)
	head := git.CreateRepo("streamspace-templates", true).Commit("templates", generated.Files)
	const repoName = "e2e-public"
	mustKubectl(t, "admin", "apiVersion: catalog.stream.space/v1alpha1\nkind: TemplateRepository\nmetadata: {name: "+repoName+"}\nspec: {url: "+git.HTTPRepoURL("streamspace-templates")+"}\n", "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, "admin", "", "delete", "templaterepository", repoName, "--ignore-not-found")
	})

	r := waitRepository(t, ss, repoName, func(r *catalogv1alpha1.TemplateRepository) bool { return r.Status.LastSyncedCommit == head })
	t.Logf("%d files: %d templates, %d file errors, %d skipped", len(generated.Files), r.Status.TemplateCount, len(r.Status.FileErrors), len(r.Status.SkippedFiles))
	if r.Status.Phase != catalogv1alpha1.RepositoryPhaseReady || int(r.Status.TemplateCount) != len(generated.Valid) {
		t.Fatalf("phase %s, %d templates; want Ready, %d (%s)", r.Status.Phase, r.Status.TemplateCount, len(generated.Valid), r.Status.ErrorMessage)
	}
	statusReports(t, "fileErrors", r.Status.FileErrors, generated.Invalid)
	statusReports(t, "skippedFiles", r.Status.SkippedFiles, generated.Skipped)

	// Every valid template, as kubectl lists them and as the typed client reads them.
	var want []string
	for name := range generated.Valid {
		want = append(want, catalog.CatalogTemplateName(repoName, name))
	}
	sort.Strings(want)
	if got := catalogTemplateNames(t, "--field-selector", "spec.repository="+repoName); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("kubectl get ctpl: %d catalog templates, want %d", len(got), len(want))
	}
	list, err := ss.CatalogV1alpha1().CatalogTemplates().List(ctx, metav1.ListOptions{FieldSelector: "spec.repository=" + repoName})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]catalogv1alpha1.CatalogTemplate{}
	for _, ct := range list.Items {
		byName[ct.Name] = ct
	}
	var installable string
	names := make([]string, 0, len(generated.Valid))
	for name := range generated.Valid {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		exp := generated.Valid[name]
		ct := byName[catalog.CatalogTemplateName(repoName, name)]
		if ct.Spec.Path != exp.Path || ct.Spec.Category != exp.CategorySlug || ct.Labels[catalog.CategoryLabel] != exp.CategorySlug ||
			string(ct.Spec.Template.AppType) != exp.AppType {
			t.Errorf("%s: path %q category %q/%q appType %q; want %+v", ct.Name, ct.Spec.Path, ct.Spec.Category, ct.Labels[catalog.CategoryLabel], ct.Spec.Template.AppType, exp)
		}
		if installable == "" && exp.AppType == "desktop" && exp.Port == 3000 {
			installable = ct.Name
		}
	}

	// alice installs one with kubectl; it is valid and a session runs from it.
	mustKubectl(t, "alice", "apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: from-public}\nspec:\n  source: {catalogTemplate: "+installable+"}\n", "-n", "alice", "create", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, "alice", "", "-n", "alice", "delete", "session", "from-public", "--ignore-not-found")
		_, _ = kubectl(t, "alice", "", "-n", "alice", "delete", "template", "from-public", "--ignore-not-found")
	})
	eventually(t, time.Minute, "the installed template to be valid", func() (bool, error) {
		tpl, err := aliceSS.StreamV1alpha1().Templates("alice").Get(ctx, "from-public", metav1.GetOptions{})
		return err == nil && tpl.Status.Valid, err
	})
	mustKubectl(t, "alice", "apiVersion: stream.space/v1alpha1\nkind: Session\nmetadata: {name: from-public}\nspec: {template: from-public}\n", "-n", "alice", "create", "-f", "-")
	eventually(t, 2*time.Minute, "the session from "+installable+" to run", func() (bool, error) {
		s, err := aliceSS.StreamV1alpha1().Sessions("alice").Get(ctx, "from-public", metav1.GetOptions{})
		return err == nil && s.Status.Phase == streamv1alpha1.SessionPhaseRunning, err
	})
}

// statusReports checks that status names exactly the expected paths, each
// with a reason containing the expected text.
func statusReports(t *testing.T, what string, got []catalogv1alpha1.FileError, want map[string]string) {
	t.Helper()
	seen := map[string]bool{}
	for _, fe := range got {
		seen[fe.Path] = true
		if reason, ok := want[fe.Path]; !ok || !strings.Contains(fe.Reason, reason) {
			t.Errorf("%s: %s: %q, want a reason containing %q", what, fe.Path, fe.Reason, reason)
		}
	}
	for p, reason := range want {
		if !seen[p] {
			t.Errorf("%s: %s (%s) not reported", what, p, reason)
		}
	}
}
