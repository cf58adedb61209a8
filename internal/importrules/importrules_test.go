// Package importrules checks the import graph of the module against the rules
// its structure relies on, with `go list -deps` as a reviewer would run it:
//
//   - no controller imports another controller (what two share sits in a
//     helper package named for what it does);
//   - storage knows nothing of the API: no package under pkg/storage depends
//     on pkg/apis or names an API field;
//   - the registry does not depend on admission plugins;
//   - no admission plugin imports another (the initializer interfaces
//     plugins share are in pkg/admission/initializer);
//   - the end-to-end tests do not depend on a controller's internals.
//
// A controller is a package under pkg/controller that declares
// `func Registration()`, the hook streamspace-controller starts it by.
package importrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/streamspace/controlplane"

type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Deps       []string
	// TestImports and XTestImports: what the package's tests import.
	TestImports  []string
	XTestImports []string
}

func listPackages(t *testing.T) map[string]*pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = filepath.Join("..", "..")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := &pkg{}
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages of %s; expected the whole module", len(pkgs), module)
	}
	return pkgs
}

// controllers returns the import paths of the controller packages.
func controllers(t *testing.T, pkgs map[string]*pkg) map[string]bool {
	t.Helper()
	found := map[string]bool{}
	for path, p := range pkgs {
		if !strings.HasPrefix(path, module+"/pkg/controller/") {
			continue
		}
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, decl := range file.Decls {
				if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == "Registration" {
					found[path] = true
				}
			}
		}
	}
	if len(found) < 3 {
		t.Fatalf("found %d controller packages (%v); the rule would check nothing", len(found), found)
	}
	return found
}

func inModule(deps []string, prefix string) []string {
	var hits []string
	for _, d := range deps {
		if d == prefix || strings.HasPrefix(d, prefix+"/") {
			hits = append(hits, d)
		}
	}
	sort.Strings(hits)
	return hits
}

func TestNoControllerImportsAnother(t *testing.T) {
	pkgs := listPackages(t)
	ctrls := controllers(t, pkgs)
	for path := range ctrls {
		for _, dep := range pkgs[path].Deps {
			if ctrls[dep] && dep != path {
				t.Errorf("controller %s depends on controller %s; move what they share to a helper package", rel(path), rel(dep))
			}
		}
	}
}

func TestStorageKnowsNoAPI(t *testing.T) {
	pkgs := listPackages(t)
	checked := 0
	for path, p := range pkgs {
		if !strings.HasPrefix(path, module+"/pkg/storage/") {
			continue
		}
		checked++
		if hits := inModule(p.Deps, module+"/pkg/apis"); len(hits) > 0 {
			t.Errorf("%s depends on %s; storage receives its tables from the server assembly", rel(path), strings.Join(hits, ", "))
		}
	}
	if checked == 0 {
		t.Fatal("no storage package found")
	}
}

// TestStorageNamesNoAPIField: the storage's SQL columns come from the
// declarations in pkg/apis, passed in by the server; its own code names no
// field of an API object.
func TestStorageNamesNoAPIField(t *testing.T) {
	pkgs := listPackages(t)
	for path, p := range pkgs {
		if !strings.HasPrefix(path, module+"/pkg/storage/") {
			continue
		}
		for _, f := range p.GoFiles {
			name := filepath.Join(p.Dir, f)
			file, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if ok && lit.Kind == token.STRING && (strings.HasPrefix(lit.Value, `"spec.`) || strings.HasPrefix(lit.Value, `"status.`)) {
					t.Errorf("%s/%s names the API field %s", rel(path), f, lit.Value)
				}
				return true
			})
		}
	}
}

func TestRegistryImportsNoAdmissionPlugin(t *testing.T) {
	pkgs := listPackages(t)
	for path, p := range pkgs {
		if !strings.HasPrefix(path, module+"/pkg/registry/") {
			continue
		}
		if hits := inModule(p.Deps, module+"/pkg/admission"); len(hits) > 0 {
			t.Errorf("%s depends on %s; shared names belong in pkg/apis", rel(path), strings.Join(hits, ", "))
		}
	}
}

// pluginOf returns the admission plugin a package belongs to (the
// directory under pkg/admission/plugin), or "".
func pluginOf(path string) string {
	rest, ok := strings.CutPrefix(path, module+"/pkg/admission/plugin/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return module + "/pkg/admission/plugin/" + name
}

func TestNoAdmissionPluginImportsAnother(t *testing.T) {
	pkgs := listPackages(t)
	plugins := map[string]bool{}
	for path := range pkgs {
		if plugin := pluginOf(path); plugin != "" {
			plugins[plugin] = true
		}
	}
	if len(plugins) < 3 {
		t.Fatalf("found %d admission plugins (%v); the rule would check nothing", len(plugins), plugins)
	}
	for path, p := range pkgs {
		plugin := pluginOf(path)
		if plugin == "" {
			continue
		}
		for _, dep := range p.Deps {
			if other := pluginOf(dep); other != "" && other != plugin {
				t.Errorf("admission plugin %s depends on admission plugin %s; what they share belongs in a package of its own (initializer interfaces in pkg/admission/initializer)", rel(path), rel(dep))
			}
		}
	}
}

func TestEndToEndTestsUseNoControllerInternals(t *testing.T) {
	pkgs := listPackages(t)
	ctrls := controllers(t, pkgs)
	e2e, ok := pkgs[module+"/test/e2e"]
	if !ok {
		t.Fatal("test/e2e not found")
	}
	for _, imp := range append(append([]string{}, e2e.TestImports...), e2e.XTestImports...) {
		if ctrls[imp] {
			t.Errorf("test/e2e imports controller %s; what a user sees (names, labels) belongs in pkg/apis", rel(imp))
		}
	}
}

func rel(path string) string { return strings.TrimPrefix(path, module+"/") }
