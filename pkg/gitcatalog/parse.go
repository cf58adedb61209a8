// Package gitcatalog reads template catalogs: Git repositories of Template
// manifests as the public StreamSpace catalog lays them out. It parses and
// validates them file by file and fetches repositories with go-git. It knows
// nothing of Kubernetes clients: the repository controller
// (pkg/controller/repository) turns its results into CatalogTemplates.
package gitcatalog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streaminstall "github.com/streamspace/controlplane/pkg/apis/stream/install"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	streamvalidation "github.com/streamspace/controlplane/pkg/apis/stream/validation"
)

const (
	// MaxFileSize is the largest file read; bigger ones are reported, not parsed.
	MaxFileSize = 1 << 20
	// MaxReasonLength bounds the reason of a FileError (status stays small).
	MaxReasonLength = 512

	templateAPIVersion = "stream.space/v1alpha1"
	templateKind       = "Template"
)

// File is one file of a catalog: its path (slash-separated, relative to the
// catalog root) and content.
type File struct {
	Path string
	Data []byte
}

// Template is one valid template found in a catalog.
type Template struct {
	// Name is metadata.name of the manifest.
	Name string
	// Path is the file it came from.
	Path string
	// Category is the display category (spec.category, else the top folder).
	Category string
	// CategorySlug is Category normalised for filtering ("Design & Graphics" → "design-graphics").
	CategorySlug string
	// TagSlugs are the tags normalised for label selectors, sorted, unique.
	TagSlugs []string
	// Spec is the template in its served form: defaulted, kasmvnc moved to
	// vnc, flat resources folded into requests and limits.
	Spec streamv1alpha1.TemplateSpec
}

// FileError is a file (or one document of it) that was not used, and why.
type FileError struct {
	Path   string
	Reason string
}

// Result is what a catalog holds.
type Result struct {
	// Templates are the valid templates, sorted by name.
	Templates []Template
	// Errors are invalid files and losing duplicates, sorted by path.
	Errors []FileError
	// Skipped are documents that are not templates (e.g. a TemplateCatalog index).
	Skipped []FileError
}

var scheme = runtime.NewScheme()

func init() {
	streaminstall.Install(scheme)
}

// IsCatalogFile tells whether a path is read as part of a catalog: YAML
// files outside hidden folders (.github/ holds CI workflows, not templates).
func IsCatalogFile(p string) bool {
	ext := strings.ToLower(path.Ext(p))
	if ext != ".yaml" && ext != ".yml" {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if strings.HasPrefix(part, ".") {
			return false
		}
	}
	return true
}

// Parse reads every file and returns the valid templates, the invalid files
// and the skipped documents. A bad file never stops the others. Of two
// templates with the same metadata.name the one in the lexicographically
// first path wins (the first document within a file); the other is reported.
func Parse(files []File) Result {
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })

	var res Result
	winner := map[string]string{} // name → path
	for _, f := range sorted {
		templates, errs, skipped := ParseFile(f.Path, f.Data)
		res.Errors = append(res.Errors, errs...)
		res.Skipped = append(res.Skipped, skipped...)
		for _, t := range templates {
			if first, dup := winner[t.Name]; dup {
				res.Errors = append(res.Errors, FileError{Path: t.Path, Reason: fmt.Sprintf("duplicate template name %q: %s defines it first and is used", t.Name, first)})
				continue
			}
			winner[t.Name] = t.Path
			res.Templates = append(res.Templates, t)
		}
	}
	sort.Slice(res.Templates, func(i, j int) bool { return res.Templates[i].Name < res.Templates[j].Name })
	sort.SliceStable(res.Errors, func(i, j int) bool { return res.Errors[i].Path < res.Errors[j].Path })
	return res
}

// ParseFile reads the YAML documents of one file.
func ParseFile(filePath string, data []byte) (templates []Template, errs []FileError, skipped []FileError) {
	if len(data) > MaxFileSize {
		return nil, []FileError{{Path: filePath, Reason: fmt.Sprintf("file is %d bytes, more than the %d allowed", len(data), MaxFileSize)}}, nil
	}
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, []FileError{{Path: filePath, Reason: truncate("split YAML documents: " + err.Error())}}, nil
	}
	for i, doc := range docs {
		where := ""
		if len(docs) > 1 {
			where = fmt.Sprintf("document %d: ", i+1)
		}
		t, skip, err := parseDocument(filePath, doc)
		switch {
		case err != nil:
			errs = append(errs, FileError{Path: filePath, Reason: truncate(where + err.Error())})
		case skip != "":
			skipped = append(skipped, FileError{Path: filePath, Reason: truncate(where + skip)})
		default:
			templates = append(templates, *t)
		}
	}
	return templates, errs, skipped
}

// splitDocuments returns the non-empty YAML documents of data.
func splitDocuments(data []byte) ([][]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if !isEmptyDocument(doc) {
			docs = append(docs, doc)
		}
	}
}

// isEmptyDocument is true for documents of only blank lines, comments and markers.
func isEmptyDocument(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") && line != "---" && line != "..." {
			return false
		}
	}
	return true
}

type documentHeader struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// parseDocument returns a template, or the reason the document is skipped,
// or why it is invalid.
func parseDocument(filePath string, doc []byte) (*Template, string, error) {
	var header documentHeader
	if err := yaml.Unmarshal(doc, &header); err != nil {
		return nil, "", fmt.Errorf("not a YAML object: %w", err)
	}
	if header.Kind != templateKind {
		kind := header.Kind
		if kind == "" {
			return nil, "", errors.New("kind: Required value: a template has kind Template")
		}
		return nil, fmt.Sprintf("kind %s is not a Template", kind), nil
	}
	if header.APIVersion != templateAPIVersion {
		return nil, "", fmt.Errorf("apiVersion: Unsupported value: %q: supported values: %q", header.APIVersion, templateAPIVersion)
	}

	external, err := decodeStrict(doc)
	if err != nil {
		return nil, "", err
	}
	scheme.Default(external)
	var internal stream.Template
	if err := scheme.Convert(external, &internal, nil); err != nil {
		return nil, "", fmt.Errorf("convert Template: %w", err)
	}
	allErrs := validateName(internal.Name)
	allErrs = append(allErrs, streamvalidation.ValidateTemplateSpec(&internal.Spec, field.NewPath("spec"))...)
	if internal.Spec.Source != nil {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "source"), "a catalog template cannot itself come from the catalog"))
	}
	if len(allErrs) > 0 {
		return nil, "", allErrs.ToAggregate()
	}
	var served streamv1alpha1.Template
	if err := scheme.Convert(&internal, &served, nil); err != nil {
		return nil, "", fmt.Errorf("convert Template: %w", err)
	}
	category := internal.Spec.Category
	if category == "" {
		// The catalog's folders are its categories.
		category = topFolder(filePath)
		served.Spec.Category = category
	}
	return &Template{
		Name:         internal.Name,
		Path:         filePath,
		Category:     category,
		CategorySlug: Slug(category),
		TagSlugs:     tagSlugs(internal.Spec.Tags),
		Spec:         served.Spec,
	}, "", nil
}

// decodeStrict decodes a Template, refusing unknown and duplicate fields
// (with their paths, e.g. unknown field "spec.colour") and keys in another
// case than the API's (the old PascalCase manifests).
func decodeStrict(doc []byte) (*streamv1alpha1.Template, error) {
	data, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("not a YAML object: %w", err)
	}
	var t streamv1alpha1.Template
	strictErrs, err := kjson.UnmarshalStrict(data, &t)
	if err != nil {
		return nil, fmt.Errorf("decode Template: %w", err)
	}
	if len(strictErrs) > 0 {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("decode Template: %s", strings.Join(msgs, ", "))
	}
	return &t, nil
}

func validateName(name string) field.ErrorList {
	fld := field.NewPath("metadata", "name")
	if name == "" {
		return field.ErrorList{field.Required(fld, "every template needs a name")}
	}
	var allErrs field.ErrorList
	for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(name, false) {
		allErrs = append(allErrs, field.Invalid(fld, name, msg))
	}
	return allErrs
}

// topFolder is the first folder of a path, the catalog's category folder.
func topFolder(p string) string {
	if i := strings.Index(p, "/"); i > 0 {
		return p[:i]
	}
	return ""
}

func tagSlugs(tags []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range tags {
		if s := Slug(t); s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func truncate(s string) string {
	if len(s) <= MaxReasonLength {
		return s
	}
	return strings.ToValidUTF8(s[:MaxReasonLength-3], "") + "..."
}
