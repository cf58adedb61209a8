// Package catalogtemplate holds the REST storage of CatalogTemplates: the rules for their spec
// and status, their table columns and selectable fields.
package catalogtemplate

import (
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	"github.com/streamspace/controlplane/pkg/apis/catalog/validation"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// rules: users write the spec, controllers the status; a new catalog template has no installs.
var rules = storebuilder.Rules[*catalog.CatalogTemplate]{
	APIVersion: "catalog.stream.space/v1alpha1",
	Namespaced: false,
	InitStatus: func(s *catalog.CatalogTemplate) {
		s.Status = catalog.CatalogTemplateStatus{}
	},
	CopyStatus:           func(dst, src *catalog.CatalogTemplate) { dst.Status = src.Status },
	CopySpec:             func(dst, src *catalog.CatalogTemplate) { dst.Spec = src.Spec },
	SpecEqual:            func(a, b *catalog.CatalogTemplate) bool { return apiequality.Semantic.DeepEqual(a.Spec, b.Spec) },
	Fields:               catalog.CatalogTemplateFields,
	Validate:             validation.ValidateCatalogTemplate,
	ValidateUpdate:       validation.ValidateCatalogTemplateUpdate,
	ValidateStatusUpdate: validation.ValidateCatalogTemplateStatusUpdate,
}
