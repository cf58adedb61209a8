// Package sessionquota holds the REST storage of SessionQuotas: the rules for
// their spec and status and their table columns. They are cluster-scoped and
// kept in the generic objects table (no selectable fields).
package sessionquota

import (
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/streamspace/controlplane/pkg/apis/selectable"
	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/apis/stream/validation"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// rules: admins write the spec; admission and the controller the status.
var rules = storebuilder.Rules[*stream.SessionQuota]{
	APIVersion: "stream.space/v1alpha1",
	Namespaced: false,
	InitStatus: func(q *stream.SessionQuota) {
		q.Status = stream.SessionQuotaStatus{}
	},
	CopyStatus: func(dst, src *stream.SessionQuota) { dst.Status = src.Status },
	CopySpec:   func(dst, src *stream.SessionQuota) { dst.Spec = src.Spec },
	SpecEqual: func(a, b *stream.SessionQuota) bool {
		return apiequality.Semantic.DeepEqual(a.Spec, b.Spec)
	},
	Fields:               selectable.Kind[*stream.SessionQuota]{GroupKind: stream.Kind("SessionQuota"), Resource: stream.Resource("sessionquotas")},
	Validate:             validation.ValidateSessionQuota,
	ValidateUpdate:       validation.ValidateSessionQuotaUpdate,
	ValidateStatusUpdate: validation.ValidateSessionQuotaStatusUpdate,
}
