package repository

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"sort"
	"sync"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	"github.com/streamspace/controlplane/pkg/catalog"
)

type applyOutcome struct {
	syncOutcome
	templates int
}

// CatalogTemplateName is the name of a repository's template: unique
// across repositories and DNS-safe, "<repository>-<template>", shortened
// with a hash of the full name when longer than 253 characters.
func CatalogTemplateName(repository, template string) string {
	name := repository + "-" + template
	if len(name) <= validation.DNS1123SubdomainMaxLength {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "-" + hex.EncodeToString(sum[:])[:10]
	return name[:validation.DNS1123SubdomainMaxLength-len(suffix)] + suffix
}

// applyCatalogTemplates creates, updates and deletes the repository's
// CatalogTemplates so that they are exactly the parsed templates. Objects
// that already match are not written.
func (c *Controller) applyCatalogTemplates(ctx context.Context, repo *catalogv1alpha1.TemplateRepository, parsed catalog.Result) (*applyOutcome, error) {
	out := &applyOutcome{}
	for _, e := range parsed.Errors {
		out.fileErrors = append(out.fileErrors, catalogv1alpha1.FileError{Path: repoPath(repo, e.Path), Reason: e.Reason})
	}
	for _, s := range parsed.Skipped {
		out.skipped = append(out.skipped, catalogv1alpha1.FileError{Path: repoPath(repo, s.Path), Reason: s.Reason})
	}

	all, err := c.catalogTemplates.List(labels.Everything())
	if err != nil {
		return nil, err
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

	var ops []func(context.Context) error
	desired := map[string]bool{}
	for _, t := range parsed.Templates {
		want := desiredCatalogTemplate(repo, t)
		if other, ok := taken[want.Name]; ok {
			out.fileErrors = append(out.fileErrors, catalogv1alpha1.FileError{Path: want.Spec.Path,
				Reason: fmt.Sprintf("catalog template name %q is already used by repository %q", want.Name, other)})
			continue
		}
		desired[want.Name] = true
		out.templates++
		have, ok := existing[want.Name]
		switch {
		case !ok:
			out.created++
			ops = append(ops, func(ctx context.Context) error {
				_, err := c.client.CatalogV1alpha1().CatalogTemplates().Create(ctx, want, metav1.CreateOptions{FieldManager: ControllerName})
				if apierrors.IsAlreadyExists(err) {
					// Written by an earlier sync but not yet in the informer's cache.
					return c.updateFresh(ctx, repo, want)
				}
				return wrap(err, "create catalog template %s", want.Name)
			})
		case !upToDate(have, want):
			out.updated++
			ops = append(ops, func(ctx context.Context) error {
				_, err := c.client.CatalogV1alpha1().CatalogTemplates().Update(ctx, withDesired(have, want), metav1.UpdateOptions{FieldManager: ControllerName})
				if apierrors.IsConflict(err) {
					return c.updateFresh(ctx, repo, want)
				}
				return wrap(err, "update catalog template %s", want.Name)
			})
		}
	}
	for name, ct := range existing {
		if desired[name] {
			continue
		}
		out.deleted++
		uid := ct.UID
		ops = append(ops, func(ctx context.Context) error {
			err := c.client.CatalogV1alpha1().CatalogTemplates().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return wrap(err, "delete catalog template %s", name)
		})
	}
	sort.SliceStable(out.fileErrors, func(i, j int) bool { return out.fileErrors[i].Path < out.fileErrors[j].Path })
	if err := runParallel(ctx, c.opts.WriteParallelism, ops); err != nil {
		return nil, err
	}
	return out, nil
}

// updateFresh updates a catalog template read from the server rather than the cache.
func (c *Controller) updateFresh(ctx context.Context, repo *catalogv1alpha1.TemplateRepository, want *catalogv1alpha1.CatalogTemplate) error {
	have, err := c.client.CatalogV1alpha1().CatalogTemplates().Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return wrap(err, "read catalog template %s", want.Name)
	}
	if have.Spec.Repository != repo.Name {
		return fmt.Errorf("catalog template %s belongs to repository %q", want.Name, have.Spec.Repository)
	}
	if upToDate(have, want) {
		return nil
	}
	_, err = c.client.CatalogV1alpha1().CatalogTemplates().Update(ctx, withDesired(have, want), metav1.UpdateOptions{FieldManager: ControllerName})
	return wrap(err, "update catalog template %s", want.Name)
}

func withDesired(have, want *catalogv1alpha1.CatalogTemplate) *catalogv1alpha1.CatalogTemplate {
	update := have.DeepCopy()
	update.Labels, update.OwnerReferences, update.Spec = want.Labels, want.OwnerReferences, want.Spec
	return update
}

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// repoPath is a file's path from the repository root.
func repoPath(repo *catalogv1alpha1.TemplateRepository, p string) string {
	if repo.Spec.Path == "" {
		return p
	}
	return path.Join(repo.Spec.Path, p)
}

func desiredCatalogTemplate(repo *catalogv1alpha1.TemplateRepository, t catalog.Template) *catalogv1alpha1.CatalogTemplate {
	lbls := map[string]string{}
	if len(validation.IsValidLabelValue(repo.Name)) == 0 {
		lbls[RepositoryLabel] = repo.Name
	}
	if t.CategorySlug != "" {
		lbls[CategoryLabel] = t.CategorySlug
	}
	for _, tag := range t.TagSlugs {
		lbls[TagLabelPrefix+tag] = ""
	}
	return &catalogv1alpha1.CatalogTemplate{
		ObjectMeta: metav1.ObjectMeta{
			Name:   CatalogTemplateName(repo.Name, t.Name),
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
}

func upToDate(have, want *catalogv1alpha1.CatalogTemplate) bool {
	return apiequality.Semantic.DeepEqual(have.Spec, want.Spec) &&
		apiequality.Semantic.DeepEqual(nonNil(have.Labels), nonNil(want.Labels)) &&
		apiequality.Semantic.DeepEqual(have.OwnerReferences, want.OwnerReferences)
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// runParallel runs ops with at most n in flight and returns their errors joined.
func runParallel(ctx context.Context, n int, ops []func(context.Context) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	work := make(chan func(context.Context) error)
	for i := 0; i < n && i < len(ops); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for op := range work {
				if err := op(ctx); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, op := range ops {
		work <- op
	}
	close(work)
	wg.Wait()
	if len(errs) > 5 {
		errs = append(errs[:5], fmt.Errorf("and %d more errors", len(errs)-5))
	}
	return errors.Join(errs...)
}
