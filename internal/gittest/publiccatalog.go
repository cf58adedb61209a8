package gittest

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
)

// PublicCatalog is a catalog laid out like the public StreamSpace templates
// repository (category folders such as "administration,business", one
// Template per file, a root catalog.yaml TemplateCatalog index, README and CI
// files), made from a seed by a generator of its own: names, folders,
// formats and faults differ from seed to seed and from GenerateCatalog.
// It says what a correct sync must make of it.
type PublicCatalog struct {
	Seed  uint64
	Files map[string][]byte
	// Valid maps each metadata.name that must become a CatalogTemplate to what it must say.
	Valid map[string]PublicTemplate
	// Invalid maps each path that must be reported in fileErrors to a substring of its reason.
	Invalid map[string]string
	// Skipped maps each path of documents that are not templates to a substring of its reason.
	Skipped map[string]string
}

// PublicTemplate is what one valid template must become.
type PublicTemplate struct {
	Path         string
	CategorySlug string
	AppType      string // desktop | webapp
	Port         int32  // the VNC port of a desktop with vnc enabled, the web port of a web app, else 0
}

// publicCategory is a category folder, its display name and their slugs,
// written out here (not computed by the code under test). A file without
// spec.category gets its folder as category, hence folderSlug.
type publicCategory struct{ folder, display, slug, folderSlug string }

var publicCategories = []publicCategory{
	{"administration,business", "Administration,Business", "administration-business", "administration-business"},
	{"administration,security", "Administration,Security", "administration-security", "administration-security"},
	{"books,media-management", "Books,Media Management", "books-media-management", "books-media-management"},
	{"cloud,documents", "Cloud,Documents", "cloud-documents", "cloud-documents"},
	{"content-management,business", "Content Management,Business", "content-management-business", "content-management-business"},
	{"audio-video", "Audio & Video", "audio-video", "audio-video"},
	{"design-graphics", "Design & Graphics", "design-graphics", "design-graphics"},
	{"games & emulators", "Games & Emulators", "games-emulators", "games-emulators"},
	{"office & productivity", "Office & Productivity", "office-productivity", "office-productivity"},
	{"science, education", "Science, Education", "science-education", "science-education"},
	{"browsers", "Web Browsers", "web-browsers", "browsers"},
	{"development", "Development", "development", "development"},
	{"file-management", "File Management", "file-management", "file-management"},
	{"communication", "Communication", "communication", "communication"},
	{"desktops", "Desktop Environments", "desktop-environments", "desktops"},
	{"ai-ml", "AI/ML", "ai-ml", "ai-ml"},
	{"backup", "Backup", "backup", "backup"},
	{"automation", "Home Automation", "home-automation", "automation"},
}

var nameSyllables = []string{"ka", "lor", "vex", "mi", "dra", "sol", "quin", "tor", "bel", "nu", "zar", "pho", "rin", "gal", "ost", "wy", "fen", "ul", "cor", "tes"}

type publicFault struct {
	reason string
	file   func(name string) string
}

// publicFaults are the invalid files real catalogs hold; each seed picks some.
var publicFaults = []publicFault{
	{"decode Template", func(n string) string { // the old PascalCase manifests
		return fmt.Sprintf("apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: %s}\nSpec:\n  DisplayName: %s\n  BaseImage: lscr.io/linuxserver/%s:latest\n", n, n, n)
	}},
	{"spec.baseImage: Required value", func(n string) string {
		return fmt.Sprintf("apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: %s}\nspec:\n  displayName: %s\n  kasmvnc: {enabled: true, port: 3000}\n", n, n)
	}},
	{"spec.ports[0].containerPort", func(n string) string {
		return fmt.Sprintf("apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: %s}\nspec:\n  displayName: %s\n  baseImage: x/%s:1\n  ports: [{name: http, containerPort: 80800}]\n", n, n, n)
	}},
	{`apiVersion: Unsupported value: "streamspace.io/v1"`, func(n string) string {
		return fmt.Sprintf("apiVersion: streamspace.io/v1\nkind: Template\nmetadata: {name: %s}\nspec: {displayName: %s, baseImage: x/%s:1, vnc: {enabled: true}}\n", n, n, n)
	}},
	{"not a YAML object", func(n string) string {
		return fmt.Sprintf("apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata:\n  name: %s\nspec:\n  displayName: %s\n\tbaseImage: x/%s:1\n", n, n, n)
	}},
	{"metadata.name: Invalid value", func(n string) string {
		return fmt.Sprintf("apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: %s_ESR}\nspec: {displayName: %s, baseImage: x/%s:1, vnc: {enabled: true}}\n", strings.ToUpper(n), n, n)
	}},
	{"spec.displayName: Required value", func(n string) string {
		return fmt.Sprintf("apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: %s}\nspec: {baseImage: x/%s:1, kasmvnc: {enabled: true, port: 3000}}\n", n, n)
	}},
	{"spec.webapp: Required value", func(n string) string {
		return fmt.Sprintf("apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: %s}\nspec: {displayName: %s, baseImage: x/%s:1, appType: webapp}\n", n, n, n)
	}},
	{"spec.vnc: Required value", func(n string) string { // kasmvnc disabled and nothing else to reach
		return fmt.Sprintf("apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: %s}\nspec: {displayName: %s, baseImage: x/%s:1, kasmvnc: {enabled: false, port: 3000}}\n", n, n, n)
	}},
	{"spec.icon", func(n string) string {
		return fmt.Sprintf("apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: %s}\nspec: {displayName: %s, icon: \"ftp://icons/%s.png\", baseImage: x/%s:1, vnc: {enabled: true}}\n", n, n, n, n)
	}},
	{"kind: Required value", func(n string) string {
		return fmt.Sprintf("apiVersion: stream.space/v1alpha1\nmetadata: {name: %s}\nspec: {displayName: %s, baseImage: x/%s:1}\n", n, n, n)
	}},
}

// GeneratePublicCatalog makes a public-style catalog of about 195 files from seed.
func GeneratePublicCatalog(seed uint64) *PublicCatalog {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	c := &PublicCatalog{Seed: seed, Files: map[string][]byte{}, Valid: map[string]PublicTemplate{}, Invalid: map[string]string{}, Skipped: map[string]string{}}
	used := map[string]bool{}
	newName := func() string {
		for {
			var b strings.Builder
			for i := 0; i < 2+rng.IntN(2); i++ {
				b.WriteString(nameSyllables[rng.IntN(len(nameSyllables))])
			}
			if rng.IntN(5) == 0 {
				b.WriteString(fmt.Sprintf("-%d", rng.IntN(30)))
			}
			if n := b.String(); !used[n] {
				used[n] = true
				return n
			}
		}
	}
	pathFor := func(cat publicCategory, name string) string {
		if rng.IntN(12) == 0 { // a nested folder; the top folder stays the category
			return fmt.Sprintf("%s/extras/%s.yaml", cat.folder, name)
		}
		return fmt.Sprintf("%s/%s.yaml", cat.folder, name)
	}

	type entry struct {
		name string
		cat  publicCategory
		path string
		tpl  PublicTemplate
	}
	var entries []entry
	validFiles := 176 + rng.IntN(6)
	for i := 0; i < validFiles; i++ {
		cat := publicCategories[rng.IntN(len(publicCategories))]
		name := newName()
		path := pathFor(cat, name)
		content, tpl := publicTemplateFile(rng, name, cat)
		tpl.Path = path
		c.Files[path] = []byte(content)
		entries = append(entries, entry{name, cat, path, tpl})
	}
	// The same metadata.name in a second folder: the lexicographically first path wins.
	for i := 0; i < 3+rng.IntN(3); i++ {
		orig := entries[rng.IntN(len(entries))]
		cat := publicCategories[rng.IntN(len(publicCategories))]
		path := fmt.Sprintf("%s/%s-copy.yaml", cat.folder, orig.name)
		if _, taken := c.Files[path]; taken || cat.folder == orig.cat.folder {
			continue
		}
		content, tpl := publicTemplateFile(rng, orig.name, cat)
		tpl.Path = path
		c.Files[path] = []byte(content)
		entries = append(entries, entry{orig.name, cat, path, tpl})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].path < entries[j].path })
	for _, e := range entries {
		if first, dup := c.Valid[e.name]; dup {
			c.Invalid[e.path] = fmt.Sprintf("duplicate template name %q: %s defines it first and is used", e.name, first.Path)
			continue
		}
		c.Valid[e.name] = e.tpl
	}

	// Invalid files: a few faults, different ones for each seed.
	for _, i := range rng.Perm(len(publicFaults))[:5+rng.IntN(3)] {
		cat := publicCategories[rng.IntN(len(publicCategories))]
		name := newName()
		path := fmt.Sprintf("%s/%s.yaml", cat.folder, name)
		c.Files[path] = []byte(publicFaults[i].file(name))
		c.Invalid[path] = publicFaults[i].reason
	}

	// Documents that are not templates, and files that are not catalog files.
	c.Files["catalog.yaml"] = []byte(publicIndex(c))
	c.Skipped["catalog.yaml"] = "kind TemplateCatalog is not a Template"
	c.Files["kustomization.yaml"] = []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [catalog.yaml]\n")
	c.Skipped["kustomization.yaml"] = "kind Kustomization is not a Template"
	c.Files["drafts/to-review.yaml"] = []byte("# templates waiting for review\n---\n# (none yet)\n")
	c.Files["README.md"] = []byte("# StreamSpace Templates\n\nOne Template per file, in category folders.\n")
	c.Files["TEMPLATES.md"] = []byte("| name | category |\n|---|---|\n")
	c.Files["CONTRIBUTING.md"] = []byte("Open a pull request with one YAML file per template.\n")
	c.Files[".github/workflows/validate.yaml"] = []byte("name: validate\non: [pull_request]\njobs: {}\n")
	c.Files[".github/workflows/build-images.yml"] = []byte("name: build\non: [push]\njobs: {}\n")
	return c
}

// publicTemplateFile writes one valid Template in one of the formats of the
// public catalog and says what it must become.
func publicTemplateFile(rng *rand.Rand, name string, cat publicCategory) (string, PublicTemplate) {
	display := strings.ToUpper(name[:1]) + name[1:]
	tpl := PublicTemplate{CategorySlug: cat.slug, AppType: "desktop"}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata:\n  name: %s\n  namespace: workspaces\nspec:\n  displayName: %s\n", name, display)
	fmt.Fprintf(&b, "  description: %s is an application packaged for streaming. It runs in a\n    container and is reached from the browser, with its settings kept in\n    the user's home.\n", display)
	if rng.IntN(10) > 0 {
		fmt.Fprintf(&b, "  category: %s\n", cat.display)
	} else { // no category: the folder is the category
		tpl.CategorySlug = cat.folderSlug
	}
	fmt.Fprintf(&b, "  icon: https://raw.githubusercontent.com/example/templates/master/img/%s-logo.png\n", name)
	fmt.Fprintf(&b, "  baseImage: lscr.io/linuxserver/%s:latest\n", name)
	if rng.IntN(3) == 0 {
		b.WriteString("  defaultResources:\n    requests: {memory: 1Gi, cpu: 500m}\n    limits: {memory: 4Gi, cpu: '2'}\n")
	} else {
		b.WriteString("  defaultResources:\n    memory: 2Gi\n    cpu: 1000m\n")
	}
	switch rng.IntN(5) {
	case 0, 1: // the usual desktop: kasmvnc on 3000
		b.WriteString("  ports:\n  - name: vnc\n    containerPort: 3000\n    protocol: TCP\n  kasmvnc:\n    enabled: true\n    port: 3000\n")
		tpl.Port = 3000
	case 2: // the newer key
		b.WriteString("  vnc:\n    enabled: true\n    port: 5901\n    protocol: rfb\n")
		tpl.Port = 5901
	case 3: // a web service shipped with kasmvnc off and a plain port (a desktop by inference, reached on its port)
		b.WriteString("  ports:\n  - name: http\n    containerPort: 8080\n    protocol: TCP\n  kasmvnc:\n    enabled: false\n    port: 8080\n")
	case 4: // a web app: appType inferred
		b.WriteString("  webapp:\n    enabled: true\n    port: 8443\n    healthCheck: /healthz\n")
		tpl.AppType, tpl.Port = "webapp", 8443
	}
	b.WriteString("  env:\n  - name: PUID\n    value: '1000'\n  - name: PGID\n    value: '1000'\n  - name: TZ\n    value: America/New_York\n")
	b.WriteString("  volumeMounts:\n  - name: user-home\n    mountPath: /config\n  capabilities:\n  - Network\n  - Clipboard\n")
	fmt.Fprintf(&b, "  tags:\n  - %s\n  - %s\n", name, cat.folder)
	return b.String(), tpl
}

// publicIndex is the root catalog.yaml: an index of kind TemplateCatalog.
func publicIndex(c *PublicCatalog) string {
	var b strings.Builder
	b.WriteString("apiVersion: stream.space/v1alpha1\nkind: TemplateCatalog\nmetadata:\n  name: streamspace-templates\n  version: \"1.0.0\"\nspec:\n  categories:\n")
	for _, cat := range publicCategories {
		fmt.Fprintf(&b, "    - name: %q\n      displayName: %q\n", cat.folder, cat.display)
	}
	b.WriteString("  templates:\n")
	var names []string
	for n := range c.Valid {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "    - name: %s\n      path: %q\n", n, c.Valid[n].Path)
	}
	fmt.Fprintf(&b, "  stats:\n    totalTemplates: %d\n", len(names))
	return b.String()
}
