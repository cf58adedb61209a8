package gitcatalog_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/streamspace/controlplane/internal/gittest"
	"github.com/streamspace/controlplane/pkg/gitcatalog"
)

// TestParsePublicStyleCatalogs parses catalogs laid out like the public
// StreamSpace templates repository, from a generator other than the one the
// rest of the tests use, for many seeds: every valid template is found with
// its category and app type, every invalid file is reported with its
// reason, every non-template document is skipped, nothing else.
func TestParsePublicStyleCatalogs(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		generated := gittest.GeneratePublicCatalog(seed)
		var files []gitcatalog.File
		for p, data := range generated.Files {
			if gitcatalog.IsCatalogFile(p) {
				files = append(files, gitcatalog.File{Path: p, Data: data})
			}
		}
		if n := len(generated.Files); n < 185 || n > 210 {
			t.Errorf("seed %d: %d files, want about 195", seed, n)
		}
		res := gitcatalog.Parse(files)
		found := map[string]bool{}
		for _, tpl := range res.Templates {
			found[tpl.Name] = true
			want, ok := generated.Valid[tpl.Name]
			switch {
			case !ok:
				t.Errorf("seed %d: unexpected template %s from %s", seed, tpl.Name, tpl.Path)
			case tpl.Path != want.Path || tpl.CategorySlug != want.CategorySlug || string(tpl.Spec.AppType) != want.AppType:
				t.Errorf("seed %d: %s is %s/%s/%s, want %+v", seed, tpl.Name, tpl.Path, tpl.CategorySlug, tpl.Spec.AppType, want)
			}
		}
		for name := range generated.Valid {
			if !found[name] {
				t.Errorf("seed %d: valid template %s (%s) missing", seed, name, generated.Valid[name].Path)
			}
		}
		checkReports(t, seed, "file error", res.Errors, generated.Invalid)
		checkReports(t, seed, "skipped", res.Skipped, generated.Skipped)
	}
}

func checkReports(t *testing.T, seed uint64, what string, got []gitcatalog.FileError, want map[string]string) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range got {
		seen[e.Path] = true
		reason, ok := want[e.Path]
		if !ok || !strings.Contains(e.Reason, reason) {
			t.Errorf("seed %d: %s %s: %q, want one containing %q", seed, what, e.Path, e.Reason, reason)
		}
	}
	var missing []string
	for p := range want {
		if !seen[p] {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("seed %d: no %s for %v", seed, what, missing)
	}
}
