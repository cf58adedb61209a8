package gittest

import (
	"fmt"
	"sort"
)

// Catalog is a generated template catalog laid out like the public one,
// with every mess that real catalogs have (docs/reference.md).
type Catalog struct {
	// Files maps a path to its content.
	Files map[string][]byte
	// Valid are the metadata.names that must become catalog templates.
	Valid []string
	// Invalid are the paths that must be reported as file errors (bad
	// files and the losing duplicate).
	Invalid []string
	// Skipped are the paths of documents that are not templates.
	Skipped []string
	// Categories maps a valid name to its normalised category.
	Categories map[string]string
}

var categoryFolders = []struct{ folder, display, slug string }{
	{"browsers", "Web Browsers", "web-browsers"},
	{"development", "Development", "development"},
	{"design-graphics", "Design & Graphics", "design-graphics"},
	{"audio, video", "Audio, Video", "audio-video"},
	{"office", "Office", "office"},
}

// GenerateCatalog returns a catalog of n valid templates (n ≥ 10) plus the
// messes: flat and nested resources, kasmvnc and vnc, web apps whose
// appType is inferred, a folder whose name has a comma, a template without
// category (its folder is used), a multi-document file, the same
// metadata.name in two folders, a root catalog.yaml of kind TemplateCatalog,
// invalid files (broken YAML, missing baseImage, unknown field, wrong
// apiVersion, bad port), a README and a CI workflow that are not catalog files.
func GenerateCatalog(n int) *Catalog {
	c := &Catalog{Files: map[string][]byte{}, Categories: map[string]string{}}
	add := func(path, name, slug, content string) {
		c.Files[path] = []byte(content)
		if name != "" {
			c.Valid = append(c.Valid, name)
			c.Categories[name] = slug
		}
	}
	// Four templates are made by hand below, as special cases.
	for i := 0; i < n-4; i++ {
		cat := categoryFolders[i%len(categoryFolders)]
		name := fmt.Sprintf("app-%04d", i)
		path := fmt.Sprintf("%s/%s.yaml", cat.folder, name)
		switch i % 4 {
		case 0: // the typical old file: kasmvnc and flat resources
			add(path, name, cat.slug, desktopKasmFlat(name, cat.display))
		case 1: // vnc and nested requests/limits
			add(path, name, cat.slug, desktopVNCNested(name, cat.display))
		case 2: // a web app, appType inferred
			add(path, name, cat.slug, webApp(name, cat.display))
		case 3: // explicit appType and both resource forms
			add(path, name, cat.slug, desktopExplicit(name, cat.display))
		}
	}
	// No category: the folder is the category.
	add("audio, video/no-category.yaml", "no-category", "audio-video", `apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: no-category}
spec:
  displayName: No Category
  baseImage: lscr.io/linuxserver/audacity:latest
  kasmvnc: {enabled: true, port: 3000}
`)
	// Two templates in one file.
	c.Files["office/suite.yaml"] = []byte(`# two documents in one file
apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: office-writer}
spec: {displayName: Writer, category: Office, baseImage: "lscr.io/linuxserver/libreoffice:latest", vnc: {enabled: true}}
---
apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: office-calc}
spec: {displayName: Calc, category: Office, baseImage: "lscr.io/linuxserver/libreoffice:latest", vnc: {enabled: true}}
`)
	c.Valid = append(c.Valid, "office-writer", "office-calc")
	c.Categories["office-writer"], c.Categories["office-calc"] = "office", "office"

	// The same name in two folders: the lexicographically first path wins.
	add("browsers/firefox.yaml", "firefox", "web-browsers", desktopKasmFlat("firefox", "Web Browsers"))
	c.Files["development/firefox.yaml"] = []byte(desktopVNCNested("firefox", "Development"))
	c.Invalid = append(c.Invalid, "development/firefox.yaml")

	// The index of the catalog is not a template.
	c.Files["catalog.yaml"] = []byte(`apiVersion: stream.space/v1alpha1
kind: TemplateCatalog
metadata: {name: streamspace-templates}
spec:
  categories: [Web Browsers, Development, "Design & Graphics", "Audio, Video", Office]
`)
	c.Skipped = append(c.Skipped, "catalog.yaml")

	invalid := map[string]string{
		"broken/not-yaml.yaml": "apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: broken\nspec: [\n",
		"broken/no-image.yaml": `apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: no-image}
spec: {displayName: No Image, vnc: {enabled: true}}
`,
		"broken/unknown-field.yaml": `apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: unknown-field}
spec: {displayName: Typo, baseImage: "nginx:1", vnc: {enabled: true}, defaultResourses: {cpu: 1}}
`,
		"broken/old-api.yaml": `apiVersion: streamspace.io/v1
kind: Template
metadata: {name: old-api}
spec: {displayName: Old, baseImage: "nginx:1", vnc: {enabled: true}}
`,
		"broken/bad-port.yaml": `apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: bad-port}
spec: {displayName: Bad Port, baseImage: "nginx:1", webapp: {enabled: true, port: 70000}}
`,
	}
	for p, content := range invalid {
		c.Files[p] = []byte(content)
		c.Invalid = append(c.Invalid, p)
	}
	c.Files["README.md"] = []byte("# Templates\n\nNot a template.\n")
	c.Files[".github/workflows/validate.yaml"] = []byte("name: validate\non: [push]\n")
	sort.Strings(c.Valid)
	sort.Strings(c.Invalid)
	return c
}

func desktopKasmFlat(name, category string) string {
	return fmt.Sprintf(`apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: %[1]s, namespace: workspaces}
spec:
  displayName: %[1]s
  description: Generated desktop %[1]s
  category: %[2]q
  icon: https://example.org/%[1]s-logo.png
  baseImage: lscr.io/linuxserver/%[1]s:latest
  defaultResources: {memory: 2Gi, cpu: 1000m}
  ports: [{name: vnc, containerPort: 3000, protocol: TCP}]
  env: [{name: PUID, value: "1000"}, {name: PGID, value: "1000"}, {name: TZ, value: Etc/UTC}]
  volumeMounts: [{name: user-home, mountPath: /config}]
  kasmvnc: {enabled: true, port: 3000}
  capabilities: [Network, Clipboard]
  tags: [%[1]s, %[2]q]
`, name, category)
}

func desktopVNCNested(name, category string) string {
	return fmt.Sprintf(`apiVersion: stream.space/v1alpha1
kind: Template
metadata:
  name: %[1]s
spec:
  displayName: %[1]s
  category: %[2]q
  baseImage: ghcr.io/example/%[1]s:1.0
  defaultResources:
    requests: {memory: 1Gi, cpu: 500m}
    limits: {memory: 2Gi, cpu: "1"}
  vnc: {enabled: true, port: 5901, protocol: rfb}
  tags: [Developer Tools]
`, name, category)
}

func webApp(name, category string) string {
	return fmt.Sprintf(`apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: %[1]s}
spec:
  displayName: %[1]s
  category: %[2]q
  baseImage: docker.io/example/%[1]s:2
  webapp: {enabled: true, port: 8080, healthCheck: /healthz}
  tags: [Web App]
`, name, category)
}

func desktopExplicit(name, category string) string {
	return fmt.Sprintf(`apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: %[1]s}
spec:
  displayName: %[1]s
  category: %[2]q
  appType: desktop
  baseImage: example.org/%[1]s
  defaultResources: {cpu: 250m, limits: {cpu: 500m}}
  ports: [{containerPort: 6080}]
`, name, category)
}
