// Package session holds the REST storage of Sessions: the rules for their spec
// and status, their table columns and selectable fields.
package session

import (
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/apis/stream/validation"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// rules: users write the spec, controllers the status; a new session is Pending until the controller sees its pod ready.
var rules = storebuilder.Rules[*stream.Session]{
	APIVersion: "stream.space/v1alpha1",
	Namespaced: true,
	InitStatus: func(s *stream.Session) {
		s.Status = stream.SessionStatus{Phase: stream.SessionPhasePending}
	},
	CopyStatus:           func(dst, src *stream.Session) { dst.Status = src.Status },
	CopySpec:             func(dst, src *stream.Session) { dst.Spec = src.Spec },
	SpecEqual:            func(a, b *stream.Session) bool { return apiequality.Semantic.DeepEqual(a.Spec, b.Spec) },
	Fields:               stream.SessionFields,
	Validate:             validation.ValidateSession,
	ValidateUpdate:       validation.ValidateSessionUpdate,
	ValidateStatusUpdate: validation.ValidateSessionStatusUpdate,
}
