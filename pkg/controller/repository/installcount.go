package repository

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
)

// syncInstallCount sets status.installCount of a CatalogTemplate to the
// number of Templates, in every namespace, labelled as installed from it.
func (c *Controller) syncInstallCount(ctx context.Context, name string) error {
	ct, err := c.catalogTemplates.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	installed, err := c.templates.List(labels.SelectorFromSet(labels.Set{catalog.SourceLabel: name}))
	if err != nil {
		return err
	}
	count := int64(len(installed))
	if ct.Status.InstallCount == count {
		return nil
	}
	ct = ct.DeepCopy()
	ct.Status.InstallCount = count
	if _, err := c.client.CatalogV1alpha1().CatalogTemplates().UpdateStatus(ctx, ct, metav1.UpdateOptions{FieldManager: ControllerName}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("write install count of catalog template %s: %w", name, err)
	}
	klog.FromContext(ctx).V(2).Info("install count updated", "catalogTemplate", klog.KObj(ct), "installCount", count)
	return nil
}
