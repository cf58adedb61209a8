// Package platformconfiguration holds the REST storage of the platform's
// configuration: one cluster-scoped object named "cluster", written by
// administrators, whose status records who changed it last and when.
package platformconfiguration

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/apis/stream/validation"
	"github.com/streamspace/controlplane/pkg/registry/resttable"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// rules: administrators write the spec; the server keeps the status, set
// from the request that changed the spec. There is no status subresource.
var rules = storebuilder.Rules[*stream.PlatformConfiguration]{
	APIVersion:     "stream.space/v1alpha1",
	Namespaced:     false,
	InitStatus:     func(c *stream.PlatformConfiguration) { c.Status = stream.PlatformConfigurationStatus{} },
	CopyStatus:     func(dst, src *stream.PlatformConfiguration) { dst.Status = src.Status },
	CopySpec:       func(dst, src *stream.PlatformConfiguration) { dst.Spec = src.Spec },
	SpecEqual:      func(a, b *stream.PlatformConfiguration) bool { return apiequality.Semantic.DeepEqual(a.Spec, b.Spec) },
	Fields:         stream.PlatformConfigurationFields,
	Validate:       validation.ValidatePlatformConfiguration,
	ValidateUpdate: validation.ValidatePlatformConfigurationUpdate,
	ValidateStatusUpdate: func(_, _ *stream.PlatformConfiguration) field.ErrorList {
		return nil
	},
	Prepare: recordChange,
}

// recordChange stamps the status with the caller and the time whenever the
// spec is created or changed.
func recordChange(ctx context.Context, c, old *stream.PlatformConfiguration) {
	if old != nil && apiequality.Semantic.DeepEqual(c.Spec, old.Spec) {
		return
	}
	if u, ok := genericapirequest.UserFrom(ctx); ok {
		c.Status.UpdatedBy = u.GetName()
	}
	now := metav1.Now()
	c.Status.UpdatedAt = &now
}

// NewREST returns the storage of the platform configuration.
func NewREST(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*storebuilder.REST, *storebuilder.StatusREST, error) {
	main, _, err := storebuilder.New(storebuilder.Options[*stream.PlatformConfiguration]{
		Resource:    stream.Resource("platformconfigurations"),
		Singular:    stream.Resource("platformconfiguration"),
		NewFunc:     func() runtime.Object { return &stream.PlatformConfiguration{} },
		NewListFunc: func() runtime.Object { return &stream.PlatformConfigurationList{} },
		Rules:       rules,
		Table:       table,
		ShortNames:  []string{"platformconfig"},
		// Not in the streamspace category: `kubectl get streamspace` would
		// then need list on it, which users do not have.
	}, scheme, optsGetter)
	return main, nil, err
}

var table = resttable.Convertor{
	Columns: []metav1.TableColumnDefinition{
		{Name: "Ingress-Domain", Type: "string", Description: "Domain of the sessions' Ingresses (empty: the controller's flag)."},
		{Name: "Idle-Timeout", Type: "string", Description: "Default idle timeout of sessions (empty: the controller's flag)."},
		{Name: "Auto-Hibernation", Type: "string", Description: "Whether idle sessions hibernate."},
		{Name: "Updated-By", Type: "string", Description: "Who changed the settings last."},
		{Name: "Updated", Type: "string", Description: "When the settings last changed."},
	},
	Row: func(obj runtime.Object) ([]interface{}, error) {
		c, ok := obj.(*stream.PlatformConfiguration)
		if !ok {
			return nil, fmt.Errorf("not a PlatformConfiguration: %T", obj)
		}
		idle := ""
		if d := c.Spec.Sessions.DefaultIdleTimeout; d != nil {
			idle = d.Duration.String()
		}
		auto := "true"
		if a := c.Spec.Sessions.AutoHibernation; a != nil && !*a {
			auto = "false"
		}
		return []interface{}{c.Spec.Ingress.Domain, idle, auto, c.Status.UpdatedBy, resttable.Since(c.Status.UpdatedAt)}, nil
	},
}
