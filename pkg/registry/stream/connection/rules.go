// Package connection holds the REST storage of Connections: the rules for their spec
// and status, their table columns and selectable fields.
package connection

import (
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/apis/stream/validation"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// rules: users write the spec, controllers the status; a new connection is active and has just been seen.
var rules = storebuilder.Rules[*stream.Connection]{
	APIVersion: "stream.space/v1alpha1",
	Namespaced: true,
	InitStatus: func(s *stream.Connection) {
		now := metav1.Now()
		s.Status = stream.ConnectionStatus{State: stream.ConnectionStateActive, ConnectedAt: &now, LastHeartbeat: &now}
	},
	CopyStatus:           func(dst, src *stream.Connection) { dst.Status = src.Status },
	CopySpec:             func(dst, src *stream.Connection) { dst.Spec = src.Spec },
	SpecEqual:            func(a, b *stream.Connection) bool { return apiequality.Semantic.DeepEqual(a.Spec, b.Spec) },
	Fields:               stream.ConnectionFields,
	Validate:             validation.ValidateConnection,
	ValidateUpdate:       validation.ValidateConnectionUpdate,
	ValidateStatusUpdate: validation.ValidateConnectionStatusUpdate,
}
