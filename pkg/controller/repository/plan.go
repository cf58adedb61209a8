package repository

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	"github.com/streamspace/controlplane/pkg/gitcatalog"
)

// catalogPlan is what one sync writes so that a repository's
// CatalogTemplates are exactly its parsed templates. It is computed from
// data only (no client), so every decision is unit-testable.
type catalogPlan struct {
	// create are new CatalogTemplates.
	create []*catalogv1alpha1.CatalogTemplate
	// update are existing CatalogTemplates (with their resourceVersion)
	// carrying the desired labels, owner references, annotation and spec.
	update []*catalogv1alpha1.CatalogTemplate
	// remove are CatalogTemplates of the repository whose template is gone.
	remove []*catalogv1alpha1.CatalogTemplate
	// templates counts the repository's CatalogTemplates after the sync.
	templates int
	// fileErrors are invalid files, losing duplicates and names taken by
	// another repository, sorted by path; skipped are non-template documents.
	fileErrors, skipped []catalogv1alpha1.FileError
}

// planCatalogTemplates compares the parsed catalog of repo with every
// CatalogTemplate that exists (of all repositories, to keep names unique).
func planCatalogTemplates(repo *catalogv1alpha1.TemplateRepository, parsed gitcatalog.Result, all []*catalogv1alpha1.CatalogTemplate) catalogPlan {
	var plan catalogPlan
	for _, e := range parsed.Errors {
		plan.fileErrors = append(plan.fileErrors, catalogv1alpha1.FileError{Path: repoPath(repo, e.Path), Reason: e.Reason})
	}
	for _, s := range parsed.Skipped {
		plan.skipped = append(plan.skipped, catalogv1alpha1.FileError{Path: repoPath(repo, s.Path), Reason: s.Reason})
	}
	existing := map[string]*catalogv1alpha1.CatalogTemplate{}
	taken := map[string]string{} // name → repository, for collisions with other repositories
	for _, ct := range all {
		if ct.Spec.Repository == repo.Name {
			existing[ct.Name] = ct
		} else {
			taken[ct.Name] = ct.Spec.Repository
		}
	}
	desired := map[string]string{} // name → path, for collisions within the repository
	for _, t := range parsed.Templates {
		want := desiredCatalogTemplate(repo, t)
		if other, ok := taken[want.Name]; ok {
			plan.fileErrors = append(plan.fileErrors, catalogv1alpha1.FileError{Path: want.Spec.Path,
				Reason: fmt.Sprintf("catalog template name %q is already used by repository %q", want.Name, other)})
			continue
		}
		if first, ok := desired[want.Name]; ok {
			// Two template names of one repository shortened to the same name (a hash collision).
			plan.fileErrors = append(plan.fileErrors, catalogv1alpha1.FileError{Path: want.Spec.Path,
				Reason: fmt.Sprintf("catalog template name %q is already used by %s", want.Name, first)})
			continue
		}
		desired[want.Name] = want.Spec.Path
		plan.templates++
		have, ok := existing[want.Name]
		switch {
		case !ok:
			plan.create = append(plan.create, want)
		case !upToDate(have, want):
			plan.update = append(plan.update, withDesired(have, want))
		}
	}
	for name, ct := range existing {
		if _, ok := desired[name]; !ok {
			plan.remove = append(plan.remove, ct)
		}
	}
	sort.Slice(plan.remove, func(i, j int) bool { return plan.remove[i].Name < plan.remove[j].Name })
	sort.SliceStable(plan.fileErrors, func(i, j int) bool { return plan.fileErrors[i].Path < plan.fileErrors[j].Path })
	return plan
}

// writes is the number of API writes of the plan.
func (p catalogPlan) writes() int { return len(p.create) + len(p.update) + len(p.remove) }

// catalogDrift tells why the stored CatalogTemplates of repo no longer are
// what its last sync wrote (edited or deleted by hand, or written by an
// older version), or "" when they are. It reads only what is stored: each
// object's content hash must match its annotation, and their number must be
// status.templateCount.
func catalogDrift(repo *catalogv1alpha1.TemplateRepository, all []*catalogv1alpha1.CatalogTemplate) string {
	count, changed := 0, []string{}
	for _, ct := range all {
		if ct.Spec.Repository != repo.Name {
			continue
		}
		count++
		if ct.Annotations[catalog.ContentHashAnnotation] != contentHash(ct) {
			changed = append(changed, ct.Name)
		}
	}
	sort.Strings(changed)
	switch {
	case len(changed) > 0:
		return fmt.Sprintf("%d catalog templates changed since the last sync (first: %s)", len(changed), changed[0])
	case count != int(repo.Status.TemplateCount):
		return fmt.Sprintf("%d catalog templates exist, the last sync wrote %d", count, repo.Status.TemplateCount)
	}
	return ""
}

// hashedContent is what the content hash covers: everything the sync writes.
type hashedContent struct {
	Name            string                              `json:"name"`
	Labels          map[string]string                   `json:"labels,omitempty"`
	OwnerReferences []metav1.OwnerReference             `json:"ownerReferences,omitempty"`
	Spec            catalogv1alpha1.CatalogTemplateSpec `json:"spec"`
}

// contentHash is the hex SHA-256 (first 32 digits) of the JSON of what the
// sync writes. JSON is what the API stores, so a stored object hashes like
// the object that was written.
func contentHash(ct *catalogv1alpha1.CatalogTemplate) string {
	data, err := json.Marshal(hashedContent{Name: ct.Name, Labels: ct.Labels, OwnerReferences: ct.OwnerReferences, Spec: ct.Spec})
	if err != nil {
		// Only unsupported Go values fail to marshal; an API type has none.
		panic(fmt.Sprintf("hash catalog template %s: %v", ct.Name, err))
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// upToDate tells whether have holds what want says: the same content, and
// the annotation that says so.
func upToDate(have, want *catalogv1alpha1.CatalogTemplate) bool {
	wantHash := want.Annotations[catalog.ContentHashAnnotation]
	return have.Annotations[catalog.ContentHashAnnotation] == wantHash && contentHash(have) == wantHash
}

// withDesired is have with want's labels, owner references, content hash and spec.
func withDesired(have, want *catalogv1alpha1.CatalogTemplate) *catalogv1alpha1.CatalogTemplate {
	update := have.DeepCopy()
	update.Labels, update.OwnerReferences, update.Spec = want.Labels, want.OwnerReferences, want.Spec
	if update.Annotations == nil {
		update.Annotations = map[string]string{}
	}
	update.Annotations[catalog.ContentHashAnnotation] = want.Annotations[catalog.ContentHashAnnotation]
	return update
}

// repoPath is a file's path from the repository root.
func repoPath(repo *catalogv1alpha1.TemplateRepository, p string) string {
	if repo.Spec.Path == "" {
		return p
	}
	return path.Join(repo.Spec.Path, p)
}

// desiredCatalogTemplate is the CatalogTemplate of one parsed template.
func desiredCatalogTemplate(repo *catalogv1alpha1.TemplateRepository, t gitcatalog.Template) *catalogv1alpha1.CatalogTemplate {
	lbls := map[string]string{}
	if len(validation.IsValidLabelValue(repo.Name)) == 0 {
		lbls[catalog.RepositoryLabel] = repo.Name
	}
	if t.CategorySlug != "" {
		lbls[catalog.CategoryLabel] = t.CategorySlug
	}
	for _, tag := range t.TagSlugs {
		lbls[catalog.TagLabelPrefix+tag] = ""
	}
	ct := &catalogv1alpha1.CatalogTemplate{
		ObjectMeta: metav1.ObjectMeta{
			Name:   catalog.CatalogTemplateName(repo.Name, t.Name),
			Labels: lbls,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: catalogv1alpha1.SchemeGroupVersion.String(),
				Kind:       "TemplateRepository",
				Name:       repo.Name,
				UID:        repo.UID,
				Controller: ptr.To(true),
			}},
		},
		Spec: catalogv1alpha1.CatalogTemplateSpec{
			Repository: repo.Name,
			Path:       repoPath(repo, t.Path),
			Category:   t.CategorySlug,
			Template:   t.Spec,
		},
	}
	ct.Annotations = map[string]string{catalog.ContentHashAnnotation: contentHash(ct)}
	return ct
}
