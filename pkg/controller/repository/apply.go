package repository

import (
	"context"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	"github.com/streamspace/controlplane/pkg/gitcatalog"
)

// applyCatalogTemplates creates, updates and deletes the repository's
// CatalogTemplates so that they are exactly the parsed templates. Objects
// that already match are not written.
func (c *Controller) applyCatalogTemplates(ctx context.Context, repo *catalogv1alpha1.TemplateRepository, parsed gitcatalog.Result) (catalogPlan, error) {
	all, err := c.catalogTemplates.List(labels.Everything())
	if err != nil {
		return catalogPlan{}, fmt.Errorf("list catalog templates: %w", err)
	}
	plan := planCatalogTemplates(repo, parsed, all)
	ops := make([]func(context.Context) error, 0, plan.writes())
	for _, want := range plan.create {
		ops = append(ops, func(ctx context.Context) error {
			_, err := c.catalogClient.CatalogV1alpha1().CatalogTemplates().Create(ctx, want, metav1.CreateOptions{FieldManager: ControllerName})
			if apierrors.IsAlreadyExists(err) {
				// Written by an earlier sync but not yet in the informer's cache.
				return c.updateFresh(ctx, repo, want)
			}
			return wrap(err, "create catalog template %s", want.Name)
		})
	}
	for _, update := range plan.update {
		ops = append(ops, func(ctx context.Context) error {
			_, err := c.catalogClient.CatalogV1alpha1().CatalogTemplates().Update(ctx, update, metav1.UpdateOptions{FieldManager: ControllerName})
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				return c.updateFresh(ctx, repo, update)
			}
			return wrap(err, "update catalog template %s", update.Name)
		})
	}
	for _, ct := range plan.remove {
		name, uid := ct.Name, ct.UID
		ops = append(ops, func(ctx context.Context) error {
			c.pruning.Store(name, true)
			err := c.catalogClient.CatalogV1alpha1().CatalogTemplates().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if err != nil {
				c.pruning.Delete(name)
			}
			if apierrors.IsNotFound(err) {
				return nil
			}
			return wrap(err, "delete catalog template %s", name)
		})
	}
	if err := runParallel(ctx, c.opts.WriteParallelism, ops); err != nil {
		return catalogPlan{}, err
	}
	return plan, nil
}

// updateFresh writes want over the catalog template read from the server
// rather than the cache, creating it when it is gone.
func (c *Controller) updateFresh(ctx context.Context, repo *catalogv1alpha1.TemplateRepository, want *catalogv1alpha1.CatalogTemplate) error {
	have, err := c.catalogClient.CatalogV1alpha1().CatalogTemplates().Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		// Deleted since the plan was made: create it again.
		fresh := &catalogv1alpha1.CatalogTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: want.Name, Labels: want.Labels, OwnerReferences: want.OwnerReferences,
				Annotations: map[string]string{catalog.ContentHashAnnotation: want.Annotations[catalog.ContentHashAnnotation]}},
			Spec: want.Spec,
		}
		_, err = c.catalogClient.CatalogV1alpha1().CatalogTemplates().Create(ctx, fresh, metav1.CreateOptions{FieldManager: ControllerName})
		return wrap(err, "create catalog template %s", want.Name)
	}
	if err != nil {
		return wrap(err, "read catalog template %s", want.Name)
	}
	if have.Spec.Repository != repo.Name {
		return fmt.Errorf("catalog template %s belongs to repository %q", want.Name, have.Spec.Repository)
	}
	if upToDate(have, want) {
		return nil
	}
	_, err = c.catalogClient.CatalogV1alpha1().CatalogTemplates().Update(ctx, withDesired(have, want), metav1.UpdateOptions{FieldManager: ControllerName})
	return wrap(err, "update catalog template %s", want.Name)
}

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
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
