package gitcatalog_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/streamspace/controlplane/internal/gittest"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/gitcatalog"
)

func TestParseFile(t *testing.T) {
	cases := []struct {
		name        string
		yaml        string
		wantNames   []string
		wantError   string // substring of the one file error
		wantSkipped string // substring of the one skip reason
		check       func(t *testing.T, got gitcatalog.Template)
	}{
		{
			name: "old catalog file: kasmvnc and flat resources",
			yaml: `apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: firefox, namespace: workspaces}
spec:
  displayName: Firefox
  category: Web Browsers
  baseImage: lscr.io/linuxserver/firefox:latest
  defaultResources: {memory: 2Gi, cpu: 1000m}
  kasmvnc: {enabled: true, port: 3000}
  tags: [firefox, Web Browsers, web-browsers]
`,
			wantNames: []string{"firefox"},
			check: func(t *testing.T, got gitcatalog.Template) {
				if got.Spec.KasmVNC != nil || got.Spec.VNC == nil || got.Spec.VNC.Port != 3000 || got.Spec.VNC.Protocol != "websocket" {
					t.Errorf("kasmvnc not served as vnc with defaults: vnc=%+v kasmvnc=%+v", got.Spec.VNC, got.Spec.KasmVNC)
				}
				if got.Spec.AppType != streamv1alpha1.AppTypeDesktop {
					t.Errorf("appType = %q, want desktop", got.Spec.AppType)
				}
				want := resource.MustParse("2Gi")
				if q := got.Spec.DefaultResources.Limits[corev1.ResourceMemory]; q.Cmp(want) != 0 || got.Spec.DefaultResources.Memory != nil {
					t.Errorf("flat memory not folded into limits: %+v", got.Spec.DefaultResources)
				}
				if got.CategorySlug != "web-browsers" || got.Category != "Web Browsers" {
					t.Errorf("category = %q (%q)", got.Category, got.CategorySlug)
				}
				if strings.Join(got.TagSlugs, ",") != "firefox,web-browsers" {
					t.Errorf("tag slugs = %v", got.TagSlugs)
				}
			},
		},
		{
			name: "web app: appType inferred, path defaulted",
			yaml: `apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: code}
spec: {displayName: Code, baseImage: "x/code:1", webapp: {enabled: true, port: 8443}}
`,
			wantNames: []string{"code"},
			check: func(t *testing.T, got gitcatalog.Template) {
				if got.Spec.AppType != streamv1alpha1.AppTypeWebApp || got.Spec.WebApp.Path != "/" {
					t.Errorf("appType=%q path=%q", got.Spec.AppType, got.Spec.WebApp.Path)
				}
			},
		},
		{
			name:        "TemplateCatalog index is skipped",
			yaml:        "apiVersion: stream.space/v1alpha1\nkind: TemplateCatalog\nmetadata: {name: index}\n",
			wantSkipped: "kind TemplateCatalog is not a Template",
		},
		{name: "comments only", yaml: "# nothing here\n---\n"},
		{name: "broken YAML", yaml: "kind: Template\nspec: [\n", wantError: "not a YAML object"},
		{name: "no kind", yaml: "apiVersion: v1\nmetadata: {name: x}\n", wantError: "kind: Required value"},
		{
			name:      "wrong apiVersion",
			yaml:      "apiVersion: streamspace.io/v1\nkind: Template\nmetadata: {name: x}\nspec: {displayName: X, baseImage: x, vnc: {enabled: true}}\n",
			wantError: `apiVersion: Unsupported value: "streamspace.io/v1"`,
		},
		{
			name:      "unknown field is named",
			yaml:      "apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: x}\nspec: {displayName: X, baseImage: x, vnc: {enabled: true}, colour: red}\n",
			wantError: `unknown field "spec.colour"`,
		},
		{
			name:      "validation error has the field path",
			yaml:      "apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: x}\nspec: {displayName: X, vnc: {enabled: true}}\n",
			wantError: "spec.baseImage: Required value",
		},
		{
			name:      "name must be DNS-safe",
			yaml:      "apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: My App}\nspec: {displayName: X, baseImage: x, vnc: {enabled: true}}\n",
			wantError: "metadata.name: Invalid value",
		},
		{
			name:      "no name",
			yaml:      "apiVersion: stream.space/v1alpha1\nkind: Template\nspec: {displayName: X, baseImage: x, vnc: {enabled: true}}\n",
			wantError: "metadata.name: Required value",
		},
		{
			name:      "a catalog template cannot have a source",
			yaml:      "apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: x}\nspec: {displayName: X, baseImage: x, vnc: {enabled: true}, source: {catalogTemplate: other}}\n",
			wantError: "spec.source: Forbidden",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			templates, errs, skipped := gitcatalog.ParseFile("dir/file.yaml", []byte(tc.yaml))
			var names []string
			for _, tpl := range templates {
				names = append(names, tpl.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.wantNames, ",") {
				t.Errorf("templates = %v, want %v", names, tc.wantNames)
			}
			checkOne(t, "error", errs, tc.wantError)
			checkOne(t, "skip", skipped, tc.wantSkipped)
			if tc.check != nil && len(templates) == 1 {
				tc.check(t, templates[0])
			}
		})
	}
}

func checkOne(t *testing.T, what string, got []gitcatalog.FileError, want string) {
	t.Helper()
	if want == "" {
		if len(got) != 0 {
			t.Errorf("unexpected %ss: %+v", what, got)
		}
		return
	}
	if len(got) != 1 || !strings.Contains(got[0].Reason, want) || got[0].Path != "dir/file.yaml" {
		t.Errorf("%ss = %+v, want one for dir/file.yaml containing %q", what, got, want)
	}
}

func TestParseGeneratedCatalog(t *testing.T) {
	generated := gittest.GenerateCatalog(200)
	var files []gitcatalog.File
	for p, data := range generated.Files {
		if gitcatalog.IsCatalogFile(p) {
			files = append(files, gitcatalog.File{Path: p, Data: data})
		}
	}
	res := gitcatalog.Parse(files)

	var names []string
	for _, tpl := range res.Templates {
		names = append(names, tpl.Name)
		if want := generated.Categories[tpl.Name]; tpl.CategorySlug != want {
			t.Errorf("%s: category %q, want %q", tpl.Name, tpl.CategorySlug, want)
		}
	}
	if len(names) != 200 || strings.Join(names, ",") != strings.Join(generated.Valid, ",") {
		t.Errorf("got %d templates, want the %d valid ones", len(names), len(generated.Valid))
	}
	var errPaths, skipPaths []string
	for _, e := range res.Errors {
		errPaths = append(errPaths, e.Path)
	}
	for _, s := range res.Skipped {
		skipPaths = append(skipPaths, s.Path)
	}
	sort.Strings(errPaths)
	if strings.Join(errPaths, ",") != strings.Join(generated.Invalid, ",") {
		t.Errorf("file errors at %v, want %v", errPaths, generated.Invalid)
	}
	if strings.Join(skipPaths, ",") != strings.Join(generated.Skipped, ",") {
		t.Errorf("skipped %v, want %v", skipPaths, generated.Skipped)
	}
	for _, e := range res.Errors {
		if e.Path == "development/firefox.yaml" && !strings.Contains(e.Reason, `duplicate template name "firefox": browsers/firefox.yaml defines it first`) {
			t.Errorf("duplicate reported as %q", e.Reason)
		}
	}
}

func TestParseDuplicateWinnerDoesNotDependOnOrder(t *testing.T) {
	doc := func(image string) []byte {
		return []byte("apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: same}\nspec: {displayName: S, baseImage: " + image + ", vnc: {enabled: true}}\n")
	}
	a := gitcatalog.File{Path: "a/same.yaml", Data: doc("image-a")}
	b := gitcatalog.File{Path: "b/same.yaml", Data: doc("image-b")}
	for _, files := range [][]gitcatalog.File{{a, b}, {b, a}} {
		res := gitcatalog.Parse(files)
		if len(res.Templates) != 1 || res.Templates[0].Spec.BaseImage != "image-a" || len(res.Errors) != 1 || res.Errors[0].Path != "b/same.yaml" {
			t.Errorf("order %s,%s: templates %+v errors %+v", files[0].Path, files[1].Path, res.Templates, res.Errors)
		}
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Design & Graphics":     "design-graphics",
		"Audio, Video":          "audio-video",
		"  Web   Browsers  ":    "web-browsers",
		"Éditeurs d'images":     "editeurs-d-images",
		"C++":                   "c",
		"日本語":                   "",
		strings.Repeat("a", 70): strings.Repeat("a", 63),
	} {
		if got := gitcatalog.Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsCatalogFile(t *testing.T) {
	for p, want := range map[string]bool{
		"browsers/firefox.yaml":           true,
		"audio, video/x.YML":              true,
		"README.md":                       false,
		".github/workflows/validate.yaml": false,
		"icons/firefox.png":               false,
	} {
		if got := gitcatalog.IsCatalogFile(p); got != want {
			t.Errorf("IsCatalogFile(%q) = %v", p, got)
		}
	}
}

// FuzzParse proves the parser never panics, whatever a repository holds.
// Seeds: testdata/*.yaml, the generated catalog's files and the public-style
// catalog's invalid and non-template files.
func FuzzParse(f *testing.F) {
	for _, data := range gittest.GenerateCatalog(10).Files {
		f.Add(data)
	}
	public := gittest.GeneratePublicCatalog(1)
	for _, reports := range []map[string]string{public.Invalid, public.Skipped} {
		for p := range reports {
			f.Add(public.Files[p]) // its faults and indexes, not 180 more templates of one shape
		}
	}
	seeds, _ := filepath.Glob("testdata/*.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		templates, errs, skipped := gitcatalog.ParseFile("fuzz/file.yaml", data)
		for _, e := range append(errs, skipped...) {
			if e.Path != "fuzz/file.yaml" || e.Reason == "" || len(e.Reason) > gitcatalog.MaxReasonLength {
				t.Fatalf("bad report %+v", e)
			}
		}
		for _, tpl := range templates {
			if tpl.Name == "" || len(tpl.CategorySlug) > gitcatalog.MaxSlugLength {
				t.Fatalf("bad template %+v", tpl)
			}
		}
	})
}

// BenchmarkParse1000 is the parse-and-validate part of a sync of a
// 1,000-template catalog.
func BenchmarkParse1000(b *testing.B) {
	generated := gittest.GenerateCatalog(1000)
	var files []gitcatalog.File
	for p, data := range generated.Files {
		if gitcatalog.IsCatalogFile(p) {
			files = append(files, gitcatalog.File{Path: p, Data: data})
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := gitcatalog.Parse(files); len(res.Templates) != 1000 {
			b.Fatalf("%d templates", len(res.Templates))
		}
	}
}
