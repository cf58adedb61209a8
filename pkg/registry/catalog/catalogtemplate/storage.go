package catalogtemplate

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	"github.com/streamspace/controlplane/pkg/registry/resttable"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// NewREST returns the storage of CatalogTemplates and of their status.
func NewREST(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*storebuilder.REST, *storebuilder.StatusREST, error) {
	return storebuilder.New(storebuilder.Options[*catalog.CatalogTemplate]{
		Resource:    catalog.Resource("catalogtemplates"),
		Singular:    catalog.Resource("catalogtemplate"),
		NewFunc:     func() runtime.Object { return &catalog.CatalogTemplate{} },
		NewListFunc: func() runtime.Object { return &catalog.CatalogTemplateList{} },
		Rules:       rules,
		Table:       table,
		ShortNames:  []string{"ctpl"},
		Categories:  []string{"streamspace"},
	}, scheme, optsGetter)
}

var table = resttable.Convertor{
	Columns: []metav1.TableColumnDefinition{
		{Name: "Display-Name", Type: "string", Description: "The name shown to people."},
		{Name: "Repository", Type: "string", Description: "The repository it came from."},
		{Name: "Category", Type: "string", Description: "The normalised category."},
		{Name: "App-Type", Type: "string", Description: "desktop or webapp."},
		{Name: "Installs", Type: "integer", Description: "How many times it was installed."},
	},
	Row: func(obj runtime.Object) ([]interface{}, error) {
		o, ok := obj.(*catalog.CatalogTemplate)
		if !ok {
			return nil, fmt.Errorf("not a CatalogTemplate: %T", obj)
		}
		return []interface{}{o.Spec.Template.DisplayName, o.Spec.Repository, o.Spec.Category, string(o.Spec.Template.AppType), o.Status.InstallCount}, nil
	},
}
