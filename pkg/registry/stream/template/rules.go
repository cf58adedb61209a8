// Package template holds the REST storage of Templates: the rules for their spec
// and status, their table columns and selectable fields.
package template

import (
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/apis/stream/validation"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// rules: users write the spec, controllers the status; a new template is not yet validated.
var rules = storebuilder.Rules[*stream.Template]{
	APIVersion: "stream.space/v1alpha1",
	Namespaced: true,
	InitStatus: func(s *stream.Template) {
		s.Status = stream.TemplateStatus{}
	},
	CopyStatus:           func(dst, src *stream.Template) { dst.Status = src.Status },
	CopySpec:             func(dst, src *stream.Template) { dst.Spec = src.Spec },
	SpecEqual:            func(a, b *stream.Template) bool { return apiequality.Semantic.DeepEqual(a.Spec, b.Spec) },
	Fields:               stream.TemplateFields,
	Validate:             validation.ValidateTemplate,
	ValidateUpdate:       validation.ValidateTemplateUpdate,
	ValidateStatusUpdate: validation.ValidateTemplateStatusUpdate,
}
