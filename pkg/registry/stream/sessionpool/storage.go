// Package sessionpool holds the REST storage of SessionPools: the rules
// for their spec and status and their table columns. They are namespaced
// and kept in the generic objects table (no selectable fields: the
// controller reads them from its informer).
package sessionpool

import (
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/streamspace/controlplane/pkg/apis/selectable"
	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/apis/stream/validation"
	"github.com/streamspace/controlplane/pkg/registry/resttable"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// NewREST returns the storage of SessionPools and of their status.
func NewREST(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*storebuilder.REST, *storebuilder.StatusREST, error) {
	return storebuilder.New(storebuilder.Options[*stream.SessionPool]{
		Resource:    stream.Resource("sessionpools"),
		Singular:    stream.Resource("sessionpool"),
		NewFunc:     func() runtime.Object { return &stream.SessionPool{} },
		NewListFunc: func() runtime.Object { return &stream.SessionPoolList{} },
		Rules:       rules,
		Table:       table,
		ShortNames:  []string{"spool"},
		Categories:  []string{"streamspace"},
	}, scheme, optsGetter)
}

// rules: admins write the spec; the controller the status.
var rules = storebuilder.Rules[*stream.SessionPool]{
	APIVersion: "stream.space/v1alpha1",
	Namespaced: true,
	InitStatus: func(p *stream.SessionPool) { p.Status = stream.SessionPoolStatus{} },
	CopyStatus: func(dst, src *stream.SessionPool) { dst.Status = src.Status },
	CopySpec:   func(dst, src *stream.SessionPool) { dst.Spec = src.Spec },
	SpecEqual: func(a, b *stream.SessionPool) bool {
		return apiequality.Semantic.DeepEqual(a.Spec, b.Spec)
	},
	Fields:               selectable.Kind[*stream.SessionPool]{GroupKind: stream.Kind("SessionPool"), Resource: stream.Resource("sessionpools")},
	Validate:             validation.ValidateSessionPool,
	ValidateUpdate:       validation.ValidateSessionPoolUpdate,
	ValidateStatusUpdate: validation.ValidateSessionPoolStatusUpdate,
}

var table = resttable.Convertor{
	Columns: []metav1.TableColumnDefinition{
		{Name: "Template", Type: "string", Description: "The template whose workloads the pool keeps ready."},
		{Name: "Desired", Type: "integer", Description: "Ready workloads the pool keeps."},
		{Name: "Ready", Type: "integer", Description: "Unclaimed workloads ready to be claimed."},
		{Name: "Claimed", Type: "integer", Description: "Workloads sessions have claimed from the pool."},
		{Name: "User", Type: "string", Priority: 1, Description: "The person whose home the workloads mount; empty: no persistent home."},
		{Name: "Max-Age", Type: "string", Priority: 1, Description: "How long an unclaimed workload waits before it is replaced."},
	},
	Row: func(obj runtime.Object) ([]interface{}, error) {
		p, ok := obj.(*stream.SessionPool)
		if !ok {
			return nil, fmt.Errorf("not a SessionPool: %T", obj)
		}
		maxAge := "-"
		if p.Spec.MaxAge != nil {
			maxAge = p.Spec.MaxAge.Duration.String()
		}
		return []interface{}{p.Spec.Template, int64(p.Spec.Replicas), int64(p.Status.ReadyReplicas), p.Status.Claimed, p.Spec.User, maxAge}, nil
	},
}
