package template

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/registry/resttable"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// NewREST returns the storage of Templates and of their status.
func NewREST(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*storebuilder.REST, *storebuilder.StatusREST, error) {
	return storebuilder.New(storebuilder.Options[*stream.Template]{
		Resource:    stream.Resource("templates"),
		Singular:    stream.Resource("template"),
		NewFunc:     func() runtime.Object { return &stream.Template{} },
		NewListFunc: func() runtime.Object { return &stream.TemplateList{} },
		Rules:       rules,
		Table:       table,
		ShortNames:  []string{"tpl"},
		Categories:  []string{"streamspace"},
	}, scheme, optsGetter)
}

var table = resttable.Convertor{
	Columns: []metav1.TableColumnDefinition{
		{Name: "Display-Name", Type: "string", Description: "The name shown to people."},
		{Name: "Category", Type: "string", Description: "The category for display."},
		{Name: "App-Type", Type: "string", Description: "desktop or webapp."},
		{Name: "Valid", Type: "boolean", Description: "Whether the template validator accepted it."},
		{Name: "Image", Type: "string", Priority: 1, Description: "The container image."},
	},
	Row: func(obj runtime.Object) ([]interface{}, error) {
		o, ok := obj.(*stream.Template)
		if !ok {
			return nil, fmt.Errorf("not a Template: %T", obj)
		}
		return []interface{}{o.Spec.DisplayName, o.Spec.Category, string(o.Spec.AppType), o.Status.Valid, o.Spec.BaseImage}, nil
	},
}
