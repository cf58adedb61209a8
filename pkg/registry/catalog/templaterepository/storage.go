package templaterepository

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	"github.com/streamspace/controlplane/pkg/gitcatalog/giturl"
	"github.com/streamspace/controlplane/pkg/registry/resttable"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// NewREST returns the storage of TemplateRepositorys and of their status.
func NewREST(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*storebuilder.REST, *storebuilder.StatusREST, error) {
	return storebuilder.New(storebuilder.Options[*catalog.TemplateRepository]{
		Resource:    catalog.Resource("templaterepositories"),
		Singular:    catalog.Resource("templaterepository"),
		NewFunc:     func() runtime.Object { return &catalog.TemplateRepository{} },
		NewListFunc: func() runtime.Object { return &catalog.TemplateRepositoryList{} },
		Rules:       rules,
		Table:       table,
		ShortNames:  []string{"repo"},
		Categories:  []string{"streamspace"},
	}, scheme, optsGetter)
}

var table = resttable.Convertor{
	Columns: []metav1.TableColumnDefinition{
		{Name: "URL", Type: "string", Description: "The Git repository."},
		{Name: "Branch", Type: "string", Description: "The branch synced."},
		{Name: "Phase", Type: "string", Description: "Pending, Syncing, Ready or Failed."},
		{Name: "Templates", Type: "integer", Description: "Templates found by the last sync."},
		{Name: "Last-Sync", Type: "string", Description: "Time since the last sync."},
		{Name: "Commit", Type: "string", Priority: 1, Description: "The commit synced."},
	},
	Row: func(obj runtime.Object) ([]interface{}, error) {
		o, ok := obj.(*catalog.TemplateRepository)
		if !ok {
			return nil, fmt.Errorf("not a TemplateRepository: %T", obj)
		}
		return []interface{}{giturl.Redact(o.Spec.URL), o.Spec.Branch, string(o.Status.Phase), int64(o.Status.TemplateCount), resttable.Since(o.Status.LastSyncTime), o.Status.LastSyncedCommit}, nil
	},
}
