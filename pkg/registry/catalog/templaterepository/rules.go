// Package templaterepository holds the REST storage of TemplateRepositorys: the rules for their spec
// and status, their table columns and selectable fields.
package templaterepository

import (
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	"github.com/streamspace/controlplane/pkg/apis/catalog/validation"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// rules: users write the spec, controllers the status; a new repository is Pending until its first sync.
var rules = storebuilder.Rules[*catalog.TemplateRepository]{
	APIVersion: "catalog.stream.space/v1alpha1",
	Namespaced: false,
	InitStatus: func(s *catalog.TemplateRepository) {
		s.Status = catalog.TemplateRepositoryStatus{Phase: catalog.RepositoryPhasePending}
	},
	CopyStatus:           func(dst, src *catalog.TemplateRepository) { dst.Status = src.Status },
	CopySpec:             func(dst, src *catalog.TemplateRepository) { dst.Spec = src.Spec },
	SpecEqual:            func(a, b *catalog.TemplateRepository) bool { return apiequality.Semantic.DeepEqual(a.Spec, b.Spec) },
	Fields:               catalog.TemplateRepositoryFields,
	Validate:             validation.ValidateTemplateRepository,
	ValidateUpdate:       validation.ValidateTemplateRepositoryUpdate,
	ValidateStatusUpdate: validation.ValidateTemplateRepositoryStatusUpdate,
}
